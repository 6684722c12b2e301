"""The one option group of every analysing command and the one way from
parsed options to :class:`~forensics.scan.ScanSettings` (and back).

``scan``, ``show`` and ``bursts`` attach :func:`analysis_options` (``bursts``
only the input and timeline parts) and call :func:`build_scan_settings`.
Every default shown in ``--help`` is read from the settings dataclasses
(:class:`~forensics.ingest.IngestOptions`,
:class:`~forensics.timeline.model.TimelineOptions`,
:class:`~forensics.mining.model.MiningOptions`,
:class:`~forensics.scan.FailingSettings`); none is written here.
:func:`reproduce_args` turns settings back into the options that give them
(the non-default ones), for the drill-down command ``scan`` prints.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from ..durations import parse_duration
from ..errors import UsageError
from ..ingest import IngestOptions
from ..ingest.cache import default_cache_dir
from ..ingest.formats import names as format_names
from ..mining.model import MiningOptions
from ..scan import FailingSettings, ScanSettings
from ..timeline.model import TimelineOptions

_I, _T, _M = IngestOptions(), TimelineOptions(), MiningOptions()
_F = {f.name: f.default for f in dataclasses.fields(FailingSettings)}

#: Canonical columns ``--columns`` can point at a field.
COLUMN_NAMES = ("ts", "level", "status", "user", "session", "request_id", "action", "key", "latency_ms", "message",
                "component")


def fmt_duration(seconds: float) -> str:
    """Seconds as the shortest duration :func:`~forensics.durations.parse_duration`
    reads back exactly (``600.0`` -> ``10m``).

    Examples
    --------
    >>> fmt_duration(1800.0), fmt_duration(90.0), fmt_duration(7200.0), fmt_duration(0.5)
    ('30m', '90s', '2h', '0.5s')
    """
    for unit, size in (("h", 3600.0), ("m", 60.0)):
        if seconds >= size and (seconds / size).is_integer():
            return f"{int(seconds / size)}{unit}"
    text = f"{seconds:.6f}".rstrip("0").rstrip(".")
    return f"{text}s"


def _attach(f: Callable, opts: list) -> Callable:
    for opt in reversed(opts):
        f = opt(f)
    return f


def input_options(f: Callable) -> Callable:
    """Attach the input options every reading command shares."""
    return _attach(f, [
        click.argument("paths", nargs=-1, required=True, type=click.Path()),
        click.option("--format", "fmt", type=click.Choice(format_names()), default=_I.format,
                     help="Read every file as this format instead of sniffing each one."),
        click.option("--tz", default=_I.tz, show_default=True,
                     help="Time zone (IANA name) for timestamps that carry none."),
        click.option("--time-field", default=None, help="Field holding the event time (named-field formats)."),
        click.option("--user-field", default=None, help="Field holding the user id."),
        click.option("--session-field", default=None, help="Field holding the session id."),
        click.option("--action-field", default=None, help="Field holding the action name."),
        click.option("--request-field", default=None, help="Field holding the request or trace id."),
        click.option("--columns", default=None, metavar="NAME=FIELD,...",
                     help="Fields (CSV headers, JSON keys) holding canonical columns, e.g. "
                          "ts=EventTime,level=Severity,user=Account; names: " + ", ".join(COLUMN_NAMES) + "."),
        click.option("--max-bytes", type=click.IntRange(min=1), default=_I.max_bytes, show_default=True,
                     help="Stop reading a file after this many (decompressed) bytes; "
                          "guards against gzip/bzip2/zstd bombs."),
        click.option("--strict", is_flag=True, help="Fail on the first unreadable or damaged file."),
        click.option("--keep-duplicates", is_flag=True,
                     help="Keep events repeated verbatim across files (overlapping rotations)."),
        click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
                     help="Warm cache of parsed files (default: $XDG_CACHE_HOME/forensics or ~/.cache/forensics)."),
        click.option("--no-cache", is_flag=True, help="Parse every file again; neither read nor write the cache."),
        click.option("-q", "--quiet", is_flag=True, help="No progress or summary on stderr."),
    ])


def timeline_options(f: Callable) -> Callable:
    """Attach the timeline options (sessions, bins, incident window, free text)."""
    return _attach(f, [
        click.option("--session-gap", default=fmt_duration(_T.session_gap_s), show_default=True,
                     help="Inactivity that splits a user's events into sessions when logs carry no session id "
                          "(90s, 30m, 1h)."),
        click.option("--bin", "bin_", default=None,
                     help="Error-rate bin width (10s, 1m, ...); default: chosen from the data's time span."),
        click.option("--incident", default=None, metavar="START..END",
                     help="Use this window as the (single) burst: HH:MM..HH:MM (date from the data, "
                          "one-day logs only) or ISO date-times."),
        click.option("--client-errors", is_flag=True, help="Count HTTP 4xx responses as errors too."),
        click.option("--session-pattern", default=_T.session_pattern, metavar="REGEX",
                     help="Take the session id from the message of rows without one (first match, or its first "
                          r"capture group), e.g. 'blk_-?\d+' for HDFS blocks."),
        click.option("--no-templates", is_flag=True,
                     help="Do not use message templates as actions for logs without an action field."),
    ])


def mining_options(f: Callable) -> Callable:
    """Attach the mining options."""
    return _attach(f, [
        click.option("--lookback", default=fmt_duration(_M.lookback_s), show_default=True,
                     help="How far before each burst onset to look for precursor sequences (90s, 10m)."),
        click.option("--max-len", type=click.IntRange(2, 12), default=_M.max_len, show_default=True,
                     help="Longest action sequence considered."),
        click.option("--max-gap", type=click.IntRange(0, 10), default=_M.max_gap, show_default=True,
                     help="Other actions allowed between two steps of a sequence."),
        click.option("--max-span", default=fmt_duration(_M.max_span_s), show_default=True,
                     help="Longest time from the first to the last step of one occurrence."),
        click.option("--max-support", type=click.FloatRange(0, 1, min_open=True), default=_M.max_support,
                     show_default=True, help="A suspect is done by fewer than this share of all sessions."),
        click.option("--alpha", type=click.FloatRange(0, 1, min_open=True), default=_M.alpha, show_default=True,
                     help="False discovery rate for the Benjamini-Hochberg q-values."),
        click.option("--top", type=click.IntRange(1, 1000), default=_M.top, show_default=True,
                     help="Most suspects and affected paths reported."),
    ])


def failing_options(f: Callable) -> Callable:
    """Attach ``--failing`` and its options (labeled failing sessions)."""
    return _attach(f, [
        click.option("--failing", "failing_path", type=click.Path(dir_okay=False), default=None, metavar="FILE",
                     help="CSV of session ids with a label column (e.g. HDFS anomaly_label.csv): mine what the "
                          "failing sessions did, and the steps they never reached, against all other sessions."),
        click.option("--failing-id-column", default=_F["id_column"], metavar="NAME",
                     help="Column of --failing with the session id (default: the first)."),
        click.option("--failing-label-column", default=_F["label_column"], metavar="NAME",
                     help="Column of --failing with the label (default: the first named like label/status/outcome)."),
        click.option("--failing-values", default=None, metavar="V1,V2",
                     help="Label values that mean failing, comma-separated, case-insensitive "
                          "(default: anomaly, failed, fail, failure, error, 1, true, ...)."),
        click.option("--failing-scope", type=click.Choice(["before-error", "whole"]),
                     default=_F["scope"].replace("_", "-"), show_default=True,
                     help="Count a failing session's actions before its first error, or all of them."),
    ])


def analysis_options(f: Callable) -> Callable:
    """Every option that shapes a scan's result: input, timeline, mining and
    ``--failing`` (``scan`` and ``show`` take exactly these)."""
    return input_options(timeline_options(mining_options(failing_options(f))))


# ----------------------------------------------------------------- options -> settings


def check_tz(tz: str) -> str:
    """``tz`` if it names a time zone, else a :class:`UsageError`."""
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise UsageError(f"--tz: unknown time zone {tz!r} (give an IANA name such as UTC or Europe/Berlin)") from None
    return tz


def parse_columns(text: str | None) -> tuple[tuple[str, str], ...]:
    """``--columns`` text -> ``IngestOptions.columns`` pairs (a field name may
    hold spaces and ``=``, not commas); a :class:`UsageError` names what is wrong.

    Examples
    --------
    >>> parse_columns("ts=TimeGenerated [UTC], level=Severity")
    (('ts', 'TimeGenerated [UTC]'), ('level', 'Severity'))
    """
    pairs: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, eq, field = part.partition("=")
        name, field = name.strip(), field.strip()
        if not eq or not field or name not in COLUMN_NAMES:
            raise UsageError(f"--columns: {part.strip()!r} is not NAME=FIELD with NAME one of "
                             f"{', '.join(COLUMN_NAMES)}")
        if name in pairs:
            raise UsageError(f"--columns: {name} is given twice")
        pairs[name] = field
    return tuple(pairs.items())


def build_ingest_options(kw: dict[str, Any]) -> IngestOptions:
    """The frozen :class:`IngestOptions` from parsed CLI keywords."""
    return IngestOptions(
        format=kw.get("fmt"),
        tz=check_tz(kw.get("tz") or _I.tz),
        time_field=kw.get("time_field"),
        user_field=kw.get("user_field"),
        session_field=kw.get("session_field"),
        action_field=kw.get("action_field"),
        request_field=kw.get("request_field"),
        max_bytes=kw.get("max_bytes") or _I.max_bytes,
        strict=bool(kw.get("strict")),
        dedupe=not kw.get("keep_duplicates"),
        cache_dir=None if kw.get("no_cache") else str(kw.get("cache_dir") or default_cache_dir()),
        columns=parse_columns(kw.get("columns")),
    )


def build_timeline_options(kw: dict[str, Any]) -> TimelineOptions:
    """:class:`TimelineOptions` from parsed CLI keywords (the incident window
    is resolved against the data later, from ``ScanSettings.incident_spec``)."""
    gap = kw.get("session_gap")
    bin_ = kw.get("bin_")
    return TimelineOptions(
        session_gap_s=parse_duration(gap, option="--session-gap") if gap is not None else _T.session_gap_s,
        bin_s=parse_duration(bin_, option="--bin") if bin_ is not None else None,
        client_errors=bool(kw.get("client_errors")),
        session_pattern=kw.get("session_pattern") or None,
        template_actions=not kw.get("no_templates"),
    )


def build_mining_options(kw: dict[str, Any]) -> MiningOptions:
    """:class:`MiningOptions` from parsed CLI keywords (absent ones: the defaults)."""
    lookback, span = kw.get("lookback"), kw.get("max_span")
    return MiningOptions(
        lookback_s=parse_duration(lookback, option="--lookback") if lookback is not None else _M.lookback_s,
        max_len=kw.get("max_len", _M.max_len),
        max_gap=kw.get("max_gap", _M.max_gap),
        max_span_s=parse_duration(span, option="--max-span") if span is not None else _M.max_span_s,
        max_support=kw.get("max_support", _M.max_support),
        alpha=kw.get("alpha", _M.alpha),
        top=kw.get("top", _M.top),
    )


def build_failing_settings(kw: dict[str, Any]) -> FailingSettings | None:
    """:class:`FailingSettings` from parsed CLI keywords (``None`` without ``--failing``)."""
    if not kw.get("failing_path"):
        return None
    values = kw.get("failing_values")
    scope = kw.get("failing_scope")
    return FailingSettings(
        path=kw["failing_path"],
        id_column=kw.get("failing_id_column"),
        label_column=kw.get("failing_label_column"),
        values=tuple(v.strip() for v in values.split(",") if v.strip()) if values else None,
        scope=scope.replace("-", "_") if scope else _F["scope"],
    )


def build_scan_settings(kw: dict[str, Any], *, full_events: bool = False) -> ScanSettings:
    """The one :class:`ScanSettings` of ``scan``, ``show`` and ``bursts`` from
    parsed CLI keywords (options a command lacks take their defaults)."""
    return ScanSettings(
        ingest=build_ingest_options(kw),
        timeline=build_timeline_options(kw),
        mining=build_mining_options(kw),
        incident_spec=kw.get("incident"),
        failing=build_failing_settings(kw),
        full_events=full_events,
    )


# ----------------------------------------------------------------- settings -> options

#: (option, section, field, kind) for :func:`reproduce_args`; kind ``value``
#: prints the value, ``duration`` :func:`fmt_duration`, ``flag`` the option
#: alone when the field is true, ``not`` the option alone when it is false.
_REVERSE = (
    ("--format", "ingest", "format", "value"), ("--tz", "ingest", "tz", "value"),
    ("--time-field", "ingest", "time_field", "value"), ("--user-field", "ingest", "user_field", "value"),
    ("--session-field", "ingest", "session_field", "value"),
    ("--action-field", "ingest", "action_field", "value"),
    ("--request-field", "ingest", "request_field", "value"), ("--max-bytes", "ingest", "max_bytes", "value"),
    ("--strict", "ingest", "strict", "flag"), ("--keep-duplicates", "ingest", "dedupe", "not"),
    ("--session-gap", "timeline", "session_gap_s", "duration"), ("--bin", "timeline", "bin_s", "duration"),
    ("--client-errors", "timeline", "client_errors", "flag"),
    ("--session-pattern", "timeline", "session_pattern", "value"),
    ("--no-templates", "timeline", "template_actions", "not"),
    ("--lookback", "mining", "lookback_s", "duration"), ("--max-len", "mining", "max_len", "value"),
    ("--max-gap", "mining", "max_gap", "value"), ("--max-span", "mining", "max_span_s", "duration"),
    ("--max-support", "mining", "max_support", "value"), ("--alpha", "mining", "alpha", "value"),
    ("--top", "mining", "top", "value"),
)
_DEFAULTS = {"ingest": _I, "timeline": _T, "mining": _M}


def reproduce_args(settings: ScanSettings) -> list[str]:
    """The options (not the paths) that give ``settings``: the non-default ones.

    ``build_scan_settings`` of the parsed result gives ``settings`` back
    (for every setting the command line can express).
    """
    args: list[str] = []
    for opt, section, name, kind in _REVERSE:
        value = getattr(getattr(settings, section), name)
        if value == getattr(_DEFAULTS[section], name):
            continue
        if kind == "flag" or kind == "not":
            args.append(opt)
        else:
            args += [opt, fmt_duration(value) if kind == "duration" else str(value)]
    if settings.ingest.columns:
        args += ["--columns", ",".join(f"{k}={v}" for k, v in settings.ingest.columns)]
    cache = settings.ingest.cache_dir
    if cache is None:
        args.append("--no-cache")
    elif cache != str(default_cache_dir()):
        args += ["--cache-dir", cache]
    if settings.incident_spec:
        args += ["--incident", settings.incident_spec]
    fs = settings.failing
    if fs is not None:
        args += ["--failing", fs.path]
        if fs.id_column:
            args += ["--failing-id-column", fs.id_column]
        if fs.label_column:
            args += ["--failing-label-column", fs.label_column]
        if fs.values:
            args += ["--failing-values", ",".join(fs.values)]
        if fs.scope != _F["scope"]:
            args += ["--failing-scope", fs.scope.replace("_", "-")]
    return args
