"""A suspect's example sessions as a HAR 1.2 document (``forensics repro``).

HAR (HTTP Archive) 1.2 is the request list that browsers, k6, Postman, JMeter
and most load tools import.  The document holds one page per session
(``pages[].id`` ``session_1``, ``session_2``, ...) and one entry per step
whose request the logs give (:mod:`forensics.report.repro`), ordered by
session, then time; each entry's ``pageref`` names its session.

What the logs give: method, URL (the real path and the query as logged,
under the base URL), the status seen, the time (``startedDateTime``; the
offset from the session's first step is in the entry's comment), the logged
latency as ``timings.wait`` and the response size when logged.  What they
cannot give: request and response bodies, headers and cookies: the lists are
empty and the sizes ``-1`` (HAR's "unknown"), and the log-level ``comment``
says so.  A step without a logged request is no entry (a tool would replay a
made-up request); the page's comment lists it.

Each entry and page also carries ``_forensics`` (custom fields, allowed by
HAR 1.2 when prefixed ``_``): the session, step, action, request id and the
log line it was read from.

>>> from forensics.scan import run_scan
>>> from forensics.report.repro import repro_sessions
>>> doc = har_document(repro_sessions(run_scan(["sample_logs/"]), 1))
>>> e = doc["log"]["entries"][0]
>>> e["request"]["method"], e["request"]["url"], e["response"]["status"]
('POST', 'http://localhost/courses/840/quizzes/8/attempts', 200)
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from http import HTTPStatus

from .. import __version__
from ..errors import UsageError
from .repro import NOT_IN_LOGS, Repro, ReproSession, ReproStep

#: The base URL requests are put under unless another is given.
DEFAULT_BASE_URL = "http://localhost"
_BASE_URL = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+(/[A-Za-z0-9\-._~/%]*)?$")


def check_base_url(base_url: str) -> str:
    """``base_url`` without a trailing ``/``, or a :class:`UsageError`:
    ``http(s)://host[:port][/prefix]``, no query, fragment or user info.

    Examples
    --------
    >>> check_base_url("https://staging.example.com:8443/app/")
    'https://staging.example.com:8443/app'
    """
    if not _BASE_URL.match(base_url or ""):
        raise UsageError(f"--base-url: {base_url!r} is not http(s)://host[:port][/path] "
                         "(no query, fragment or user name)")
    return base_url.rstrip("/")


def iso_time(ts: datetime) -> str:
    """ISO 8601 with milliseconds, UTC as ``Z`` (HAR's ``startedDateTime``)."""
    return ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def query_pairs(target: str) -> list[dict[str, str]]:
    """HAR ``queryString``: the ``name=value`` pairs of the target's query,
    as they are in the (percent-encoded) URL."""
    _, sep, query = target.partition("?")
    pairs = []
    for part in query.split("&") if sep else ():
        if part:
            name, _, value = part.partition("=")
            pairs.append({"name": name, "value": value})
    return pairs


def _status_text(status: int | None) -> str:
    """The reason phrase of ``status`` (``""`` when unknown)."""
    try:
        return HTTPStatus(status).phrase if status else ""
    except ValueError:
        return ""


def _step_comment(st: ReproStep, total: int) -> str:
    """An entry's comment: step, offset, request id, route-only note, log line."""
    parts = [f"step {st.step}/{total} {st.action}", f"t+{st.offset_s:.3f}s from the session's first step"]
    if st.request_id:
        parts.append(f"request id {st.request_id}")
    if st.origin == "route":
        parts.append("route only: the log masked its ids ({id}) and dropped the query; fill them in")
    if st.source:
        parts.append(f"from {st.source}:{st.line}")
    return "; ".join(parts)


def _marks(session: ReproSession, st: ReproStep, page: str) -> dict:
    """The ``_forensics`` custom fields of a step."""
    return {"session": session.session_key, "page": page, "step": st.step, "action": st.action,
            "request_id": st.request_id, "offset_s": st.offset_s, "origin": st.origin, "source": st.source,
            "line": st.line}


def har_entry(session: ReproSession, st: ReproStep, *, page: str, total: int, base_url: str) -> dict:
    """One HAR 1.2 entry for a step with a request (``st.method`` set)."""
    version = st.protocol or "HTTP/1.1"
    wait = float(st.latency_ms) if st.latency_ms is not None and st.latency_ms >= 0 else 0.0
    size = st.response_bytes
    return {
        "pageref": page,
        "startedDateTime": iso_time(st.ts),
        "time": wait,
        "request": {
            "method": st.method, "url": base_url + st.target, "httpVersion": version,
            "cookies": [], "headers": [], "queryString": query_pairs(st.target),
            "headersSize": -1, "bodySize": -1,
            "comment": "body and headers not in the logs" if st.method not in ("GET", "HEAD") else
                       "headers not in the logs",
        },
        "response": {
            "status": st.status or 0, "statusText": _status_text(st.status), "httpVersion": version,
            "cookies": [], "headers": [],
            "content": {"size": size if size is not None else 0, "mimeType": "x-unknown",
                        "comment": "response body not in the logs" + ("" if size is not None else "; size unknown")},
            "redirectURL": "", "headersSize": -1, "bodySize": size if size is not None else -1,
            "comment": "status as logged" if st.status else "no status in the logs (0)",
        },
        "cache": {},
        "timings": {"blocked": -1, "dns": -1, "connect": -1, "send": 0, "wait": wait, "receive": 0, "ssl": -1,
                    "comment": "wait: the latency the log gave" if st.latency_ms is not None
                               else "no latency in the logs"},
        "comment": _step_comment(st, total),
        "_forensics": _marks(session, st, page),
    }


def _page(session: ReproSession, page: str, total: int) -> dict:
    """One page per session, listing its steps without a logged request."""
    missing = [st for st in session.steps if st.method is None]
    note = f"session {session.session_key}" + (f", user {session.user}" if session.user else "")
    comment = f"{note}; {len(session.steps) - len(missing)} of {len(session.steps)} steps have a logged request"
    if missing:
        comment += "; not replayable (no method and URL in the logs): " + ", ".join(
            f"step {st.step}/{total} {st.action} at t+{st.offset_s:.3f}s"
            + (f" (request id {st.request_id})" if st.request_id else "") for st in missing)
    return {"startedDateTime": iso_time(session.steps[0].ts), "id": page, "title": note,
            "pageTimings": {"onContentLoad": -1, "onLoad": -1}, "comment": comment,
            "_forensics": {"session": session.session_key, "user": session.user,
                           "not_replayable": [_marks(session, st, page) for st in missing]}}


def _log_comment(repro: Repro, entries: int) -> str:
    """``log.comment``: what the file holds, where it came from, what logs cannot give."""
    text = (f"forensics repro: the example sessions of suspect #{repro.rank} ({' → '.join(repro.sequence)}), "
            f"{len(repro.sessions)} session(s), {entries} request(s), read from the logs in "
            f"{', '.join(repro.inputs)}. From the logs: method, URL (real ids and the query as logged), status "
            "seen, time (startedDateTime; offsets from each session's first step in the comments) and latency "
            f"(timings.wait). {NOT_IN_LOGS} They are empty here (sizes -1: unknown); add them before replaying "
            "requests that need them.")
    if repro.skipped:
        text += f" Sessions without a recorded occurrence (left out): {', '.join(repro.skipped)}."
    return text


def har_document(repro: Repro, *, base_url: str = DEFAULT_BASE_URL) -> dict:
    """The HAR 1.2 document (a dict ready for :func:`json.dumps`).

    Raises
    ------
    UsageError
        ``base_url`` is not ``http(s)://host[:port][/path]``.
    """
    base = check_base_url(base_url)
    total = len(repro.sequence)
    pages, entries = [], []
    for i, session in enumerate(repro.sessions, start=1):
        page = f"session_{i}"
        pages.append(_page(session, page, total))
        entries += [har_entry(session, st, page=page, total=total, base_url=base)
                    for st in session.steps if st.method is not None]
    return {"log": {
        "version": "1.2",
        "creator": {"name": "forensics", "version": __version__},
        "pages": pages,
        "entries": entries,
        "comment": _log_comment(repro, len(entries)),
    }}


def har_text(repro: Repro, *, base_url: str = DEFAULT_BASE_URL) -> str:
    """:func:`har_document` as indented JSON text (ending with a newline).

    Every string in it is cleaned log text or a percent-encoded URL, so the
    text holds no control characters, escape sequences or ``<``/``>``.
    """
    return json.dumps(har_document(repro, base_url=base_url), indent=2, ensure_ascii=False) + "\n"
