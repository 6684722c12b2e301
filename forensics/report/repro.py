"""The requests behind a suspect's example sessions (``forensics repro``).

Library part of the repro: which HTTP request each step of the suspect's
occurrences was, read back from the logs, as plain dataclasses.  Two writers
turn them into files: :mod:`forensics.report.har` (HAR 1.2) and
:mod:`forensics.report.repro_pytest` (an httpx test skeleton).

For every step (a row of ``ScanResult.mining.steps``) the events reached
through its request id (the step's own event when it has none) are searched
for the request, in this order (the first that gives one wins):

1. an access-log line (a format with ``ACCESS_LOG``: nginx, ALB, HAProxy,
   Envoy, W3C) whose message is the request line ``METHOD target [PROTOCOL]``:
   the real path with its ids and the query string as logged;
2. any other line whose message is such a request line;
3. ``attrs`` with a method and a URL field (``method`` and ``path``, ``url``,
   ``uri``, ...), when the scan kept them;
4. an action that is a route (``GET /course/{id}``): ids masked, no query.

A step none of these gives is kept with ``method`` ``None`` (the writers say
so; it cannot be replayed).  Every log-derived string is cleaned
(:func:`clean_text`), and the target is percent-encoded to plain ASCII
(:func:`safe_target`): log content is untrusted.

>>> from forensics.scan import run_scan
>>> r = repro_sessions(run_scan(["sample_logs/"]), 1)
>>> s = r.sessions[0].steps[0]
>>> s.method, s.target, s.status, s.origin
('POST', '/courses/840/quizzes/8/attempts', 200, 'access')
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from ..errors import UsageError
from ..ingest.formats import access_formats
from ..sanitize import terminal_safe

#: ``METHOD target [PROTOCOL]``, as the access formats split a request line (whole text).
REQUEST_LINE = re.compile(r"([A-Z][A-Z_-]*) (\S+)(?: ([A-Za-z]+/[\d.]+))?")
#: An action that is a route: ``METHOD /route`` (whole text).
ROUTE_ACTION = re.compile(r"([A-Z][A-Z_-]*) (/\S*)")
#: ``attrs`` keys that may hold the method, and the URL, of a request (first found wins).
METHOD_KEYS = ("method", "http_method", "http.method", "http.request.method", "request_method", "verb")
TARGET_KEYS = ("path", "url", "uri", "target", "request_uri", "http.target", "http.url", "url.original")
#: What logs cannot give, said in every output.
NOT_IN_LOGS = "Logs do not record request or response bodies, headers, cookies or authentication."
#: Longest cleaned text (ids, actions, file names) carried into an output.
MAX_TEXT = 200

_ORIGIN = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")
# what RFC 3986 allows in a path and query (unreserved, sub-delims, ":@/?"); '%' is checked apart
_URL_OK = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?@!$&'()*+,;=")
_HEX = frozenset("0123456789abcdefABCDEF")
# bidi marks terminal_safe leaves (ALM, LRM, RLM); the other controls it removes itself
_MARKS = re.compile("[\u061c\u200e\u200f]")


@dataclass(frozen=True)
class ReproStep:
    """One step of an occurrence, as the request it was.

    Attributes
    ----------
    step, action
        1-based step of the suspect's sequence and its action name.
    ts, offset_s
        Time of the step (as the timeline saw it) and seconds since the
        session's first step.
    request_id
        The step's request id, or ``None``.
    method, target, protocol
        The request: ``target`` is the path and query, percent-encoded
        (:func:`safe_target`); ``method`` ``None`` when no log gave it.
    status, latency_ms, response_bytes
        What the logs saw of the response (each may be ``None``).
    origin
        Where the request came from: ``access``, ``message``, ``attrs``,
        ``route`` (ids masked) or ``None`` (see the module docstring).
    source, line
        The log line the request was read from (the step's own event when
        none was), or ``None``.
    """

    step: int
    action: str
    ts: datetime
    offset_s: float
    request_id: str | None
    method: str | None
    target: str | None
    protocol: str | None
    status: int | None
    latency_ms: float | None
    response_bytes: int | None
    origin: str | None
    source: str | None
    line: int | None


@dataclass(frozen=True)
class ReproSession:
    """One example session: its key, user and steps in time order."""

    session_key: str
    user: str | None
    steps: tuple[ReproStep, ...]


@dataclass(frozen=True)
class Repro:
    """A suspect's example sessions as requests.

    Attributes
    ----------
    rank, sequence
        The suspect (``sequence`` cleaned).
    inputs
        The scan's input paths as given (cleaned).
    sessions
        The sessions with at least one step, in the order chosen.
    skipped
        Chosen sessions with no recorded occurrence (nothing to replay).
    """

    rank: int
    sequence: tuple[str, ...]
    inputs: tuple[str, ...]
    sessions: tuple[ReproSession, ...]
    skipped: tuple[str, ...]


def clean_text(value: object, *, max_len: int | None = MAX_TEXT) -> str:
    """Log text made safe for any viewer: escape sequences and control
    characters removed (:func:`forensics.sanitize.terminal_safe`), bidi marks
    dropped, and ``<`` ``>`` replaced by ``‹`` ``›`` so no HTML can be rendered.

    Examples
    --------
    >>> clean_text("a\\x1b[31m<script>\\nb")
    'a‹script›⏎b'
    """
    text = _MARKS.sub("", terminal_safe(value, max_len=max_len))
    return text.replace("<", "\u2039").replace(">", "\u203a")


def safe_target(raw: str) -> str:
    """A logged request target as a path and query of plain, printable ASCII.

    The ``scheme://host`` of an absolute target is dropped, a ``/`` put in
    front when missing, and every character RFC 3986 does not allow in a
    path or query percent-encoded as UTF-8 (control characters, spaces,
    quotes, ``<``, ``>``, ``#``, brackets, braces, non-ASCII); a ``%`` not
    followed by two hex digits becomes ``%25``.

    Examples
    --------
    >>> safe_target("https://h:443/a b/<x>?q=\\x1b&r=%41")
    '/a%20b/%3Cx%3E?q=%1B&r=%41'
    """
    path = _ORIGIN.sub("", raw)
    if not path.startswith("/"):
        path = "/" + path
    out = []
    for i, ch in enumerate(path):
        if ch in _URL_OK:
            out.append(ch)
        elif ch == "%" and len(path) >= i + 3 and path[i + 1] in _HEX and path[i + 2] in _HEX:
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))
    return "".join(out)


def _suspect(result, rank: int):
    """Suspect ``rank`` of the scan, or a :class:`UsageError` saying why not."""
    match = [s for s in result.mining.suspects if s.rank == rank]
    missing = [m for m in (result.labeled.missing if result.labeled is not None else ()) if m.rank == rank]
    if missing:
        raise UsageError(f"suspect #{rank} is a step the failing sessions never reached "
                         f"({terminal_safe(missing[0].step, max_len=80)}): no requests to replay")
    if not match:
        n = len(result.mining.suspects)
        have = f"suspects are numbered 1..{n}" if n else "this scan has no significant suspect"
        raise UsageError(f"no suspect #{rank}: {have}")
    return match[0]


def _choose_sessions(suspect, steps: pl.DataFrame, count: int | None) -> list[str]:
    """The suspect's example sessions first, then the other sessions with an
    occurrence (latest completion first); ``count`` of them (default: as
    many as the example sessions)."""
    order = list(dict.fromkeys(suspect.example_sessions))
    later = (steps.group_by("session_key").agg(pl.col("ts").max()).sort(["ts", "session_key"], descending=[True, False])
             .get_column("session_key").to_list())
    order += [k for k in later if k not in order]
    n = len(suspect.example_sessions) if count is None else count
    return order[: max(n, 0)]


def _candidates(result, steps: pl.DataFrame) -> pl.DataFrame:
    """Every event of every step (through the request id, else the step's own
    action event), with a preference: 0 access request line, 1 other request
    line, 2 anything else; best first within a step."""
    ev = result.timeline.events.select("ts", "source", "line", "format", "request_id", "action", "status",
                                       "latency_ms", "message", "attrs", "session_key", "is_action")
    ev = ev.rename({"ts": "ev_ts", "action": "ev_action"})
    keys = steps.select("_k", "session_key", "ts", "action", "request_id")
    by_rid = keys.filter(pl.col("request_id").is_not_null()).join(
        ev.filter(pl.col("request_id").is_not_null()).drop("session_key"), on="request_id", how="inner")
    by_row = keys.filter(pl.col("request_id").is_null()).join(
        ev.filter(pl.col("is_action")).drop("request_id"), left_on=["session_key", "ts", "action"],
        right_on=["session_key", "ev_ts", "ev_action"], how="inner",
    ).with_columns(pl.col("ts").alias("ev_ts"), pl.col("action").alias("ev_action"))
    cols = ["_k", "ev_ts", "source", "line", "format", "ev_action", "status", "latency_ms", "message", "attrs"]
    both = pl.concat([by_rid.select(cols), by_row.select(cols)], how="vertical_relaxed")
    is_line = pl.col("message").str.contains(f"^{REQUEST_LINE.pattern}$").fill_null(False)
    pref = (pl.when(is_line & pl.col("format").is_in(list(access_formats()))).then(0)
            .when(is_line).then(1).otherwise(2))
    return both.with_columns(pref.alias("_pref")).sort(["_k", "_pref", "ev_ts", "source", "line"])


def _from_attrs(text: str | None) -> tuple[str, str] | None:
    """(method, target) from an ``attrs`` JSON object, or None."""
    if not text:
        return None
    try:
        attrs = json.loads(text)
    except ValueError:
        return None
    if not isinstance(attrs, dict):
        return None
    method = next((attrs[k] for k in METHOD_KEYS if isinstance(attrs.get(k), str)), None)
    target = next((attrs[k] for k in TARGET_KEYS if isinstance(attrs.get(k), str) and attrs[k]), None)
    if method and target and re.fullmatch(r"[A-Za-z][A-Za-z_-]*", method):
        return method.upper(), target
    return None


def _bytes_of(text: str | None) -> int | None:
    """The response size (``bytes``) of an ``attrs`` JSON object, or None."""
    try:
        value = json.loads(text).get("bytes") if text else None
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _request(rows: list[dict], action: str) -> dict:
    """The request of one step from its candidate events (best first)."""
    found: dict = {"method": None, "target": None, "protocol": None, "origin": None, "row": None}
    for row in rows:
        m = REQUEST_LINE.fullmatch(row["message"] or "") if row["_pref"] < 2 else None
        if m:
            found.update(method=m[1], target=m[2], protocol=m[3], row=row,
                         origin="access" if row["_pref"] == 0 else "message")
            break
    else:
        pair = next(((r, p) for r in rows if (p := _from_attrs(r["attrs"]))), None)
        if pair:
            found.update(method=pair[1][0], target=pair[1][1], origin="attrs", row=pair[0])
        else:
            own = next((r for r in rows if r["ev_action"] == action), rows[0] if rows else None)
            for cand, row in [(action, own), *((r["ev_action"], r) for r in rows)]:
                m = ROUTE_ACTION.fullmatch(cand or "")
                if m:
                    found.update(method=m[1], target=m[2], origin="route", row=row)
                    break
    row = found["row"]
    statuses = [r["status"] for r in rows if r["status"] is not None]
    found["status"] = row["status"] if row and row["status"] is not None else (statuses[0] if statuses else None)
    found["latency_ms"] = row["latency_ms"] if row else None
    found["response_bytes"] = _bytes_of(row["attrs"]) if row else None
    found["where"] = row or (rows[0] if rows else None)
    return found


def _step(s: dict, first: datetime, rows: list[dict]) -> ReproStep:
    """A step row of ``mining.steps`` and its candidate events as a :class:`ReproStep`."""
    req = _request(rows, s["action"])
    where = req["where"]
    proto = req["protocol"]
    return ReproStep(
        step=int(s["step"]), action=clean_text(s["action"]), ts=s["ts"],
        offset_s=round((s["ts"] - first).total_seconds(), 6),
        request_id=None if s["request_id"] is None else clean_text(s["request_id"]),
        method=req["method"], target=None if req["target"] is None else safe_target(req["target"]),
        protocol=proto if proto and re.fullmatch(r"HTTP/\d(\.\d)?", proto) else None,
        status=req["status"], latency_ms=req["latency_ms"], response_bytes=req["response_bytes"],
        origin=req["origin"], source=clean_text(where["source"]) if where and where["source"] else None,
        line=where["line"] if where else None,
    )


def repro_sessions(result, rank: int, *, sessions: int | None = None) -> Repro:
    """The requests of suspect ``rank``'s occurrences in its example sessions.

    Parameters
    ----------
    result
        A :class:`forensics.scan.ScanResult`.
    rank
        The suspect, as ranked by ``forensics scan``.
    sessions
        How many sessions: the suspect's example sessions first, then the
        other sessions with an occurrence, latest completion first; default
        as many as the suspect has example sessions.

    Returns
    -------
    Repro
        The sessions in that order, each with its steps in time order (a
        step shared by two occurrences once).

    Raises
    ------
    UsageError
        No suspect of that rank, or ``sessions`` below 1.
    """
    if sessions is not None and sessions < 1:
        raise UsageError(f"--sessions must be at least 1, not {sessions}")
    suspect = _suspect(result, rank)
    steps = result.mining.steps
    if steps is None:
        steps = pl.DataFrame(schema={"rank": pl.Int32, "occurrence": pl.Int32, "session_key": pl.String,
                                     "user": pl.String, "step": pl.Int32, "ts": pl.Datetime("us", "UTC"),
                                     "action": pl.String, "request_id": pl.String})
    steps = steps.filter(pl.col("rank") == rank)
    chosen = _choose_sessions(suspect, steps, sessions)
    mine = (steps.filter(pl.col("session_key").is_in(chosen))
            .sort(["session_key", "ts", "occurrence", "step"])
            .unique(["session_key", "ts", "action", "request_id"], keep="first", maintain_order=True)
            .with_row_index("_k"))
    by_step: dict[int, list[dict]] = {}
    for row in _candidates(result, mine).iter_rows(named=True):
        by_step.setdefault(row["_k"], []).append(row)
    out, skipped = [], []
    for key in chosen:
        rows = mine.filter(pl.col("session_key") == key).sort(["ts", "_k"]).to_dicts()
        if not rows:
            skipped.append(clean_text(key))
            continue
        first = rows[0]["ts"]
        user = rows[0]["user"]
        out.append(ReproSession(session_key=clean_text(key), user=None if user is None else clean_text(user),
                                steps=tuple(_step(s, first, by_step.get(s["_k"], [])) for s in rows)))
    return Repro(rank=rank, sequence=tuple(clean_text(a) for a in suspect.sequence),
                 inputs=tuple(clean_text(p, max_len=None) for p in result.inputs),
                 sessions=tuple(out), skipped=tuple(skipped))
