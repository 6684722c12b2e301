"""``forensics formats``."""

from __future__ import annotations

import click

from ..ingest import formats
from .common import echo_json


@click.command("formats")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON on stdout.")
def command(as_json: bool) -> None:
    """List the log formats that can be read (and sniffed automatically)."""
    rows = [{"name": name, "description": mod.DESCRIPTION, "example": mod.EXAMPLE}
            for name, mod in formats.FORMATS.items()]
    rows.append({"name": "(compression)", "description": "gzip, bzip2 and zstd, detected by content; rotated names like app.log.2.gz",
                 "example": None})
    if as_json:
        echo_json(rows)
        return
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        click.echo(f"{r['name']:<{width}}  {r['description']}")
        if r["example"]:
            click.echo(f"{'':<{width}}    e.g. {r['example']}")
