"""Kubernetes CRI container logs (containerd, CRI-O; ``/var/log/pods``).

``2026-03-14T11:02:17.123456789Z stdout F {"level":"info","msg":"ready"}``:
an RFC 3339 time (nanoseconds; ``Z`` or an offset), the stream, a tag
(``F`` full line, ``P`` partial: the runtime cut a long line, the rest
follows on the same stream up to an ``F``) and the line the container wrote
(https://github.com/kubernetes/design-proposals-archive/blob/main/node/kubelet-cri-logging.md;
the tags as the kubelet reads them in ``pkg/kubelet/kuberuntime/logs/logs.go``).

Partial lines are joined, and the payload is parsed like a file's lines by
:func:`forensics.ingest.formats.envelope.unwrap` (JSON, logfmt, access,
klog, text with level, ...; stack traces folded).  The component comes from
the file's path (``/var/log/pods/<ns>_<pod>_<uid>/<container>/0.log``,
``/var/log/containers/<pod>_<ns>_<container>-<id>.log``; see
:mod:`forensics.ingest.container_paths`) unless the payload names its own.

Malformed: a line without the ``<time> <stream> <tag> `` envelope, or whose
time cannot be read.
"""

from __future__ import annotations

import polars as pl

from ..normalize import parse_times
from ..options import IngestOptions
from .base import ParseResult, reject, split_blank
from .envelope import unwrap

NAME = "cri"
DESCRIPTION = "Kubernetes CRI container logs (<time> stdout|stderr F|P <line>); partial lines joined, payload parsed"
CONTINUATION_LINES = True
EXAMPLE = '2026-03-14T11:02:17.123456789Z stdout F {"level":"info","msg":"listening","port":8080}'

_TIME = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})"
#: The envelope: time, stream, tag (``P``/``F``, maybe more tags after ``:``), one space, the line.
LINE = rf"^(?P<time>{_TIME}) (?P<stream>stdout|stderr) (?P<tag>[A-Z](?::[^ ]*)?)(?: (?P<msg>.*))?$"
_HEAD = rf"^{_TIME} (?:stdout|stderr) [A-Z](?::\S*)?(?: |$)"
_SHAPE = "expected `<RFC 3339 time> stdout|stderr F|P <line>`"


#: A sample this much CRI is a CRI file with some damage: it scores 1 (the
#: ISO-time syslog sniffer also reads CRI lines, host ``stdout``, and would
#: otherwise win on the damaged lines).
CLAIM_SHARE = 0.8


def sniff(sample: list[str]) -> float:
    """Share of lines with the CRI envelope (1 from :data:`CLAIM_SHARE` up).

    Examples
    --------
    >>> sniff(["2026-03-14T11:02:17.123456789Z stdout F hello", "2026-03-14 11:02:17 INFO hello"])
    0.5
    """
    if not sample:
        return 0.0
    share = float(pl.Series(sample, dtype=pl.String).str.contains(_HEAD).sum()) / len(sample)
    return 1.0 if share >= CLAIM_SHARE else share


def parse(lines: pl.DataFrame, *, options: IngestOptions) -> ParseResult:
    """Parse CRI lines and their payloads into canonical events.

    Examples
    --------
    >>> from forensics.ingest.options import IngestOptions
    >>> lines = pl.DataFrame({"line": [1, 2, 3], "text": [
    ...     '2026-03-14T11:02:17.1Z stdout P {"level":"warn",',
    ...     '2026-03-14T11:02:17.2Z stdout F "user":"u1"}', "oops"]})
    >>> r = parse(lines, options=IngestOptions())
    >>> r.events.select("line", "level", "user").row(0), r.continuation_lines, r.rejects["line"].to_list()
    ((1, 'warn', 'u1'), 1, [3])
    """
    body, blank = split_blank(lines)
    parts = body.select("line", "text", pl.col("text").str.extract_groups(LINE).alias("_m")).unnest("_m")
    env_ts = parse_times(parts.get_column("time"), tz="UTC")
    parts = parts.with_columns(pl.lit(env_ts).alias("env_ts"))
    why = (
        pl.when(pl.col("stream").is_null()).then(pl.lit(f"not a CRI log line: {_SHAPE}"))
        .when(pl.col("env_ts").is_null()).then(pl.lit("not a CRI log line: unreadable time"))
    )
    parts = parts.with_columns(why.alias("_why"))
    rejects = reject(parts.filter(pl.col("_why").is_not_null()), pl.col("_why"))
    records = parts.filter(pl.col("_why").is_null()).select(
        "line", "env_ts", "stream",
        pl.col("msg").fill_null("").alias("payload"),
        (pl.col("tag").str.slice(0, 1) != "P").alias("final"),
    )
    return unwrap(records, options=options, rejects=rejects, blank_lines=blank)
