"""Reports built from a :class:`forensics.scan.ScanResult`.

* :mod:`.text` -- plain-text pieces shared by the terminal and HTML reports;
* :mod:`.export` -- the Parquet files of ``scan --export DIR``;
* :mod:`.drilldown` -- the session timelines behind a suspect (``forensics show``);
* :mod:`.html` -- the self-contained HTML report (``scan --html FILE``).

The terminal rendering itself lives in :mod:`forensics.cli.render_scan`: the
core never imports rich.
"""
