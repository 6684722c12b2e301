"""forensics: find the rare user-action sequences that set off an outage.

The package is a library first; :mod:`forensics.cli` is a thin click layer on
top of it.  The pipeline is ``ingest -> timeline -> mining -> report``.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
