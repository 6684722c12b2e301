"""``python -m forensics`` runs the command line."""

from .cli import main

main()
