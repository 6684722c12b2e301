"""Golden-file helpers shared by the golden tests and ``tests/regen_goldens.py``.

Three kinds of golden files, each compared by a test and rewritten only by
``python tests/regen_goldens.py [--only formats|terminal|timeline]`` (never by
the test run: ``tests/conftest.py`` refuses to run when FORENSICS_REGEN or
FORENSICS_UPDATE_GOLDEN is set):

- format goldens, ``tests/golden/<folder>/`` (:func:`assert_golden`,
  :func:`write_golden`, :data:`FORMAT_GOLDENS`);
- terminal report goldens, ``tests/golden/report/*.txt``
  (:data:`TERMINAL_GOLDENS`, :func:`terminal_golden_text`);
- timeline stage fixtures, ``tests/fixtures/timeline/bursts.txt``
  (:func:`stage_fixture_bursts`, :func:`stage_fixture_text`).

A golden folder holds ``input.log`` (the raw sample), ``expected.jsonl`` (one
canonical event per line, without ``source``; ``ts`` as ISO-8601 UTC,
``attrs`` as a JSON object), ``expected_rejects.jsonl`` (``line``,
``format``, ``reason``, ``text``) and optionally ``options.json`` (keyword
arguments for :class:`IngestOptions`, e.g. ``{"default_year": 2023}``).

Regenerate with ``python tests/regen_goldens.py --only formats`` and read the
diff by eye (``git diff tests/golden``): the expected files are the spec.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import polars as pl

from forensics.ingest import IngestOptions, ingest
from forensics.schema import EVENT_SCHEMA, REJECT_SCHEMA, TS_TYPE

EVENTS_FILE = "expected.jsonl"
REJECTS_FILE = "expected_rejects.jsonl"
OPTIONS_FILE = "options.json"
INPUT_FILE = "input.log"

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
GOLDEN = TESTS / "golden"
#: Format golden folder under ``tests/golden/`` -> the format it is parsed as.
#: A folder is named after its format, or ``<format>_<variant>`` (``plain_python``,
#: ``jsonl_gelf``): several samples of one format.
FORMAT_GOLDENS: dict[str, str] = {
    p.name: p.name.split("_")[0] for p in sorted(GOLDEN.iterdir()) if (p / "input.log").exists()
}
TERMINAL_GOLDEN_DIR = GOLDEN / "report"
#: Terminal report golden file -> the CLI arguments and environment that print it (run from the repo root).
TERMINAL_GOLDENS: dict[str, tuple[tuple[str, ...], dict]] = {
    # COLUMNS unset: `show` is as wide as COLUMNS says (pytest-xdist's workers set it to 80)
    "scan_sample_logs.txt": (("scan", "sample_logs/"), {"NO_COLOR": None, "FORCE_COLOR": None, "COLUMNS": None}),
    "show_suspect_1.txt": (("show", "sample_logs/", "--suspect", "1", "-q"), {"COLUMNS": None}),
}
STAGE_FIXTURE = TESTS / "fixtures" / "timeline" / "bursts.txt"
REGENERATE_HINT = "regenerate with `python tests/regen_goldens.py` and read the diff"

_EVENT_COLS = {k: v for k, v in EVENT_SCHEMA.items() if k != "source"}
_REJECT_COLS = {k: v for k, v in REJECT_SCHEMA.items() if k != "source"}


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.isoformat().replace("+00:00", "Z")


def events_to_records(df: pl.DataFrame) -> list[dict]:
    """Events -> JSON-ready dicts in line order: no ``source``, ``ts`` as
    ISO-8601 UTC text, ``attrs`` parsed into a dict (so key order does not
    matter when comparing)."""
    cols = [c for c in _EVENT_COLS if c in df.columns]
    out = []
    for row in df.select(cols).sort("line", maintain_order=True).iter_rows(named=True):
        row["ts"] = _iso(row["ts"])
        row["attrs"] = None if row.get("attrs") is None else json.loads(row["attrs"])
        out.append(row)
    return out


def rejects_to_records(df: pl.DataFrame) -> list[dict]:
    """Rejects -> dicts in line order, without ``source``."""
    cols = [c for c in _REJECT_COLS if c in df.columns]
    return list(df.select(cols).sort("line").iter_rows(named=True))


def _read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(s) for s in path.read_text(encoding="utf-8").splitlines() if s.strip()]


def load_expected(folder: str | os.PathLike) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Read ``expected.jsonl`` and ``expected_rejects.jsonl`` into frames with
    the canonical types (events without ``source``, ``attrs`` as JSON text)."""
    folder = Path(folder)
    ev = _read_jsonl(folder / EVENTS_FILE)
    for row in ev:
        row["attrs"] = None if row.get("attrs") is None else json.dumps(row["attrs"], ensure_ascii=False)
        row["ts"] = None if row.get("ts") is None else datetime.fromisoformat(row["ts"].replace("Z", "+00:00"))
    events = pl.DataFrame(ev, schema=_EVENT_COLS) if ev else pl.DataFrame(schema=_EVENT_COLS)
    rj = _read_jsonl(folder / REJECTS_FILE)
    rejects = pl.DataFrame(rj, schema=_REJECT_COLS) if rj else pl.DataFrame(schema=_REJECT_COLS)
    return events, rejects


def golden_options(folder: str | os.PathLike, fmt: str | None) -> IngestOptions:
    """``IngestOptions(format=fmt, **options.json)``."""
    path = Path(folder) / OPTIONS_FILE
    extra = json.loads(path.read_text()) if path.exists() else {}
    return IngestOptions(format=fmt, **extra)


def run_golden(fmt: str | None, folder: str | os.PathLike):
    """Ingest ``folder/input.log`` (``fmt=None`` sniffs); return the result."""
    folder = Path(folder)
    return ingest([folder / INPUT_FILE], options=golden_options(folder, fmt))


def _write_jsonl(path: Path, records: list[dict]) -> None:
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    path.write_text(text, encoding="utf-8")


def write_golden(fmt: str, folder: str | os.PathLike) -> None:
    """Parse ``folder/input.log`` as ``fmt`` and rewrite its expected files
    (used by ``tests/regen_goldens.py`` only)."""
    folder = Path(folder)
    result = run_golden(fmt, folder)
    _write_jsonl(folder / EVENTS_FILE, events_to_records(result.events))
    _write_jsonl(folder / REJECTS_FILE, rejects_to_records(result.rejects))


def assert_golden(fmt: str, folder: str | os.PathLike) -> None:
    """Parse ``folder/input.log`` as ``fmt`` and assert events and rejects
    equal the expected files (always compares; see :func:`write_golden`)."""
    folder = Path(folder)
    assert (folder / EVENTS_FILE).exists(), f"{folder / EVENTS_FILE} missing: {REGENERATE_HINT}"
    result = run_golden(fmt, folder)
    got_events = events_to_records(result.events)
    got_rejects = rejects_to_records(result.rejects)
    exp_events, exp_rejects = load_expected(folder)
    want_events = events_to_records(exp_events)
    want_rejects = rejects_to_records(exp_rejects)
    assert want_events, f"{folder / EVENTS_FILE} has no events: a golden must show the parser at work"
    assert [e["line"] for e in got_events] == [e["line"] for e in want_events], "event lines differ"
    for got, want in zip(got_events, want_events):
        assert got == want, f"line {want['line']}: {got} != {want}"
    assert got_rejects == want_rejects


def terminal_golden_text(name: str) -> str:
    """Stdout of the CLI run behind ``TERMINAL_GOLDENS[name]``, from the
    repository root (inputs as typed, so the report names ``sample_logs/``)."""
    from click.testing import CliRunner

    from forensics.cli import cli

    args, env = TERMINAL_GOLDENS[name]
    old = os.getcwd()
    os.chdir(REPO)
    try:
        res = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    finally:
        os.chdir(old)
    assert res.exit_code == 0, res.output
    return res.stdout


def stage_fixture_bursts(case: dict) -> list:
    """The ``bursts`` of ``forensics bursts --json`` for one stage-fixture case."""
    from forensics.timeline import TimelineOptions, build_timeline
    from forensics.timeline.export import bursts_to_json

    timeline = build_timeline(case["events"], options=TimelineOptions(**case["options"]))
    return bursts_to_json(timeline)["bursts"]


def stage_fixture_text(path: str | os.PathLike = STAGE_FIXTURE) -> str:
    """The stage fixture file with every case's expected JSON recomputed
    (each case's title, options and event lines kept as written)."""
    from timeline_fixtures import load_cases

    path = Path(path)
    blocks = path.read_text(encoding="utf-8").split("\n===\n")
    cases = load_cases(path)
    assert len(blocks) == len(cases)
    out = [block.partition("\n--\n")[0] + "\n--\n" + json.dumps({"bursts": stage_fixture_bursts(case)}, indent=1)
           for block, case in zip(blocks, cases)]
    return "\n===\n".join(b.rstrip("\n") for b in out) + "\n"


#: Lines of other formats that no other sniffer should claim.
FOREIGN_LINES: dict[str, list[str]] = {
    "jsonl": ['{"ts": "2026-03-14T11:02:33Z", "level": "info", "msg": "hi", "user_id": "u1"}'] * 3,
    "java": ["2026-03-14 11:03:23,575 ERROR [main] com.x.Y - boom user=u1"] * 3,
    "redis": ["12:M 14 Mar 2026 11:02:33.158 * Ready to accept connections tcp"] * 3,
    "access": ['1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /a HTTP/1.1" 200 1 "-" "ua" rt=0.1 rid=abc uid=u7'] * 3,
    "logfmt": ['ts=2026-03-14T11:02:33Z level=info svc=api user_id=u1 msg="hello world" duration_ms=12'] * 3,
    "syslog": ["<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed", "Nov  2 16:14:58 host app[123]: msg"],
}


def golden_sample(folder: str | os.PathLike, n: int = 64) -> list[str]:
    """The first ``n`` non-blank lines of ``folder/input.log`` (what sniffing sees)."""
    text = (Path(folder) / INPUT_FILE).read_text(encoding="utf-8")
    return [s for s in text.split("\n") if s.strip()][:n]


def check_parse_invariants(module, texts: list[str], options: IngestOptions | None = None):
    """Run ``module.parse`` on ``texts`` and assert the accounting invariant,
    that every line ends up in exactly one place, and the column contract.
    Returns the :class:`ParseResult`."""
    lines = pl.DataFrame(
        {"line": pl.Series(range(1, len(texts) + 1), dtype=pl.Int64), "text": pl.Series(texts, dtype=pl.String)}
    )
    res = module.parse(lines, options=options or IngestOptions())
    ev_lines = set(res.events["line"].to_list())  # a line may hold several events (OTLP)
    rej_lines = set(res.rejects["line"].to_list())
    assert lines.height == len(ev_lines) + res.continuation_lines + res.blank_lines + res.rejects.height
    assert not ev_lines & rej_lines
    assert len(rej_lines) == res.rejects.height
    if not getattr(module, "MANY_EVENTS_PER_LINE", False):  # only a format that says so (otlp)
        assert len(ev_lines) == res.events.height
    assert res.events.columns == [c for c in EVENT_SCHEMA if c not in ("source", "format")]
    assert res.rejects.columns == ["line", "reason", "text"]
    assert res.events.schema["ts"] == TS_TYPE
    return res


def mutate(draw, line: str, fragments, *, edits: int = 3) -> str:
    """``line`` (space-separated fields) with up to ``edits`` fields dropped,
    repeated or replaced by one of ``fragments`` (a hypothesis strategy), and
    maybe cut short: the damaged lines a format's property tests feed its
    parser.  ``draw`` is a ``st.composite`` function's draw."""
    from hypothesis import strategies as st

    words = line.split(" ")
    for _ in range(draw(st.integers(0, edits))):
        i = draw(st.integers(0, len(words) - 1))
        op = draw(st.sampled_from(["drop", "dup", "swap"]))
        if op == "drop" and len(words) > 1:
            del words[i]
        elif op == "dup":
            words.insert(i, words[i])
        else:
            words[i] = draw(fragments)
    text = " ".join(words)
    return text[: draw(st.integers(0, len(text)))] if draw(st.booleans()) else text
