"""CSV/TSV reader: golden samples, sniffing, quoting (multi-line cells, doubled
quotes), header rows (repeated, new, missing), the canonical mappings,
``--columns``, invariants and a scan over a SIEM-like export with an outage.

Shapes follow RFC 4180 (https://www.rfc-editor.org/rfc/rfc4180) and the
exports of Splunk (https://docs.splunk.com/Documentation/Splunk/latest/Search/Exportsearchresults),
Kibana (https://www.elastic.co/guide/en/kibana/current/reporting-getting-started.html)
and Microsoft Sentinel / Log Analytics
(https://learn.microsoft.com/en-us/azure/azure-monitor/logs/log-analytics-tutorial).
"""

from __future__ import annotations

import csv
import io
import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forensics.cli.options import build_scan_settings, parse_columns, reproduce_args
from forensics.errors import UsageError
from forensics.ingest import ingest
from forensics.ingest.formats import csv as csv_format
from forensics.ingest.options import IngestOptions
from forensics.scan import run_timeline
from golden_util import FOREIGN_LINES, check_parse_invariants, golden_sample, run_golden
from shared_data import dataset

GOLDEN = Path(__file__).parent / "golden"
REAL = dataset("loghub_2k", "BGL_2k.log_structured.csv")


def _rows(texts: list[str], **opts) -> list[dict]:
    res = check_parse_invariants(csv_format, texts, IngestOptions(**opts))
    rows = res.events.sort("line").to_dicts()
    for row in rows:
        row["attrs"] = json.loads(row["attrs"]) if row["attrs"] else {}
    return rows


def _one(header: str, row: str, **opts) -> dict:
    rows = _rows([header, row], **opts)
    assert len(rows) == 1
    return rows[0]


@pytest.mark.parametrize(("folder", "counts"), [
    ("csv", (11, 7, 1, 4)), ("csv_tsv", (17, 1, 1, 2)), ("csv_columns", (17, 2, 1, 1)),
])
def test_golden_line_accounting_balances(folder, counts):
    rep = run_golden("csv", GOLDEN / folder).accounting.files[0]
    assert rep.lines == rep.events + rep.continuation_lines + rep.blank_lines + rep.malformed
    assert (rep.events, rep.continuation_lines, rep.blank_lines, rep.malformed) == counts


@pytest.mark.parametrize("other", sorted(FOREIGN_LINES))
def test_sniff_does_not_claim_other_formats(other):
    assert csv_format.sniff(FOREIGN_LINES[other]) < 0.5


@pytest.mark.parametrize("other", sorted(p.name for p in GOLDEN.iterdir()
                                         if (p / "input.log").exists() and not p.name.startswith("csv")))
def test_sniff_does_not_claim_other_golden_samples(other):
    assert csv_format.sniff(golden_sample(GOLDEN / other)) < 0.5


@pytest.mark.parametrize(("sep", "name"), [(",", "comma"), ("\t", "tab"), (";", "semicolon"), ("|", "pipe")])
def test_separator_is_sniffed_from_header_and_rows(sep, name):
    lines = [sep.join(["time", "level", "msg"]), sep.join(["2026-03-14T11:02:17Z", "error", f"boom {name}"])]
    assert csv_format.choose(lines) == (sep, 1.0)
    assert _rows(lines)[0]["message"] == f"boom {name}"


def test_quoted_cells_keep_separators_doubled_quotes_and_newlines_as_continuation_lines():
    res = check_parse_invariants(csv_format, [
        "time,user,message",
        '2026-03-14T11:02:17Z,u1,"a, ""quoted"" b"',
        '2026-03-14T11:02:18Z,u2,"first line',
        "",
        'third line, with ""quotes"""',
        "2026-03-14T11:02:19Z,u3,plain",
    ])
    msgs = res.events.sort("line").select("line", "message").rows()
    assert msgs == [(2, 'a, "quoted" b'), (3, 'first line\n\nthird line, with "quotes"'), (6, "plain")]
    assert (res.continuation_lines, res.blank_lines) == (3, 0)  # the header and two lines of the cell


def test_quote_inside_an_unquoted_cell_is_an_ordinary_character():
    row = _one("time,size,note", '2026-03-14T11:02:17Z,5" screen,ok')
    assert row["attrs"] == {"size": '5" screen', "note": "ok"}


def test_wrong_cell_count_rejects_every_line_of_the_row_naming_the_header_count():
    res = check_parse_invariants(csv_format, [
        "time,user,status", '2026-03-14T11:02:17Z,u1,"200', '",extra', "2026-03-14T11:02:18Z,u2",
    ])
    assert res.rejects.select("line", "reason").rows() == [
        (2, "expected 3 cells (header), found 4"),
        (3, "part of the malformed CSV row at line 2"),
        (4, "expected 3 cells (header), found 2"),
    ]
    assert res.events.height == 0


def test_unclosed_quote_rejects_the_rest_of_the_input():
    res = check_parse_invariants(csv_format, ["time,msg", "2026-03-14T11:02:17Z,ok", '2026-03-14T11:02:18Z,"cut', "x"])
    assert res.rejects["reason"].to_list() == [
        "quoted cell never closed (from line 3 to the end of the input)", "part of the malformed CSV row at line 3"]


def test_repeated_header_row_is_not_an_event_and_is_counted_as_continuation():
    res = check_parse_invariants(csv_format, [
        "time,user", "2026-03-14T11:02:17Z,u1", "time,user", "2026-03-14T11:02:18Z,u2"])
    assert res.events["user"].to_list() == ["u1", "u2"] and res.continuation_lines == 2
    assert res.rejects.height == 0


def test_a_new_header_mid_input_names_the_rows_after_it():
    rows = _rows(["time,user,status", "2026-03-14T11:02:17Z,u1,200",
                  "status,timestamp,user,region", "503,2026-03-14T11:02:18Z,u2,eu"])
    assert [(r["user"], r["status"], r["attrs"]) for r in rows] == [("u1", 200, {}), ("u2", 503, {"region": "eu"})]


def test_small_csv_files_with_different_headers_read_together_each_with_its_own(tmp_path):
    (tmp_path / "a.csv").write_text("time,user,status\n2026-03-14T11:02:17Z,u1,200\n")
    (tmp_path / "b.csv").write_text("status,user,time\n503,u2,2026-03-14T11:02:18Z\n")
    res = ingest([tmp_path], options=IngestOptions())
    assert sorted(res.events.select("user", "status").rows()) == [("u1", 200), ("u2", 503)]
    assert [(f.events, f.continuation_lines, f.malformed) for f in res.accounting.files] == [(1, 1, 0), (1, 1, 0)]


def test_first_row_with_a_date_is_not_a_header_and_its_rows_are_malformed():
    res = check_parse_invariants(csv_format, ["2026-03-14T11:02:17Z,u1,200", "2026-03-14T11:02:18Z,u2,503"])
    assert set(res.rejects["reason"]) == {"CSV row with no header row above it (its first row holds a date)"}
    assert res.rejects.height == 2


@pytest.mark.parametrize(("severity", "level"), [
    ("ERROR", "error"), ("warning", "warn"), ("Critical", "fatal"), ("informational", "info"),
    ("High", "error"), ("medium", "warn"), ("Moderate", "warn"), ("low", "info"),
])
def test_severity_words_map_to_levels(severity, level):
    assert _one("time,severity", f"2026-03-14T11:02:17Z,{severity}")["level"] == level


def test_unreadable_level_and_textual_status_stay_in_attrs():
    row = _one("time,severity,status", "2026-03-14T11:02:17Z,unknown,failed")
    assert (row["level"], row["status"], row["attrs"]) == (None, None, {"severity": "unknown", "status": "failed"})


@pytest.mark.parametrize(("status", "level"), [(200, "info"), (302, "info"), (404, "warn"), (503, "error")])
def test_level_follows_status_without_a_level_column(status, level):
    row = _one("time,status", f"2026-03-14T11:02:17Z,{status}")
    assert (row["status"], row["level"], row["attrs"]) == (status, level, {})


def test_method_and_url_columns_give_a_masked_route_action_and_stay_in_attrs():
    row = _one("time,method,url", "2026-03-14T11:02:17Z,get,https://shop.example.com/api/orders/ORD-4058324?x=1")
    assert row["action"] == "GET /api/orders/{id}"
    assert row["attrs"] == {"method": "get", "url": "https://shop.example.com/api/orders/ORD-4058324?x=1"}


def test_an_action_column_wins_over_method_and_path():
    assert _one("time,method,path,action", "2026-03-14T11:02:17Z,GET,/a/1,login")["action"] == "login"


@pytest.mark.parametrize(("header", "value", "iso"), [
    ("@timestamp", "Mar 14, 2026 @ 11:02:17.123", "2026-03-14T11:02:17.123000+00:00"),
    ("TimeGenerated [UTC]", "3/14/2026, 1:02:17.500 PM", "2026-03-14T13:02:17.500000+00:00"),
    ("Start Time", "Mar 14, 2026, 11:02:17 AM", "2026-03-14T11:02:17+00:00"),
    ("_time", "2026-03-14T12:02:17.000+01:00", "2026-03-14T11:02:17+00:00"),
    ("Timestamp", "1773486137", "2026-03-14T11:02:17+00:00"),
])
def test_time_columns_and_spellings_are_read(header, value, iso):
    row = _one(f"{header},user", f'"{value}",u1')
    assert row["ts"].isoformat() == iso and row["attrs"] == {}


def test_date_and_time_columns_are_read_together_in_the_given_zone():
    row = _one("Date,Time,Level", "2026-03-14,12:02:17.978,INFO", tz="Europe/Berlin")
    assert row["ts"].isoformat() == "2026-03-14T11:02:17.978000+00:00" and row["attrs"] == {}


def test_columns_option_maps_unusual_headers_to_canonical_columns():
    row = _one("Wann;Schwere;Wer;Dauer;Text", "2026-03-14 11:02:17;FEHLER;u9;12;zu langsam", columns=(
        ("ts", "Wann"), ("level", "Schwere"), ("user", "Wer"), ("latency_ms", "Dauer"), ("message", "Text")))
    assert (row["user"], row["latency_ms"], row["message"], row["level"]) == ("u9", 12.0, "zu langsam", None)
    assert row["attrs"] == {"Schwere": "FEHLER"}


def test_columns_option_round_trips_through_the_command_line():
    assert parse_columns("ts=TimeGenerated [UTC], level=Severity") == (("ts", "TimeGenerated [UTC]"),
                                                                      ("level", "Severity"))
    settings = build_scan_settings({"columns": "ts=When,user=Account Name"})
    assert settings.ingest.columns == (("ts", "When"), ("user", "Account Name"))
    assert reproduce_args(settings)[reproduce_args(settings).index("--columns") + 1] == "ts=When,user=Account Name"
    assert IngestOptions(columns=[["user", "Who"]], user_field="uid").overrides() == {"user": "uid"}


@pytest.mark.parametrize("text", ["ts", "when=x", "ts=", "ts=a,ts=b"])
def test_columns_option_refuses_bad_mappings(text):
    with pytest.raises(UsageError, match="--columns"):
        parse_columns(text)


@pytest.mark.skipif(not REAL.exists(), reason="shared dataset not present")
def test_real_loghub_structured_csv_reads_every_row_with_epoch_time_and_level():
    res = ingest([REAL], options=IngestOptions())
    rep = res.accounting.files[0]
    assert (rep.format, rep.events, rep.continuation_lines, rep.malformed) == ("csv", 2000, 1, 0)
    first = res.events.sort("line").row(0, named=True)
    assert first["ts"] == datetime(2005, 6, 3, 22, 42, 50, tzinfo=timezone.utc)  # the epoch column, UTC
    assert (first["level"], first["component"]) == ("info", "KERNEL")
    assert res.events.filter(res.events["level"] == "fatal").height == 347


_CELL = st.text(st.sampled_from(list('ab ,;|\t"\n') + ["é", "x"]), max_size=8)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(csv_format.DELIMITERS), st.lists(st.lists(_CELL, min_size=3, max_size=3), max_size=8))
def test_cells_written_by_the_csv_module_read_back_unchanged(sep, table):
    out = io.StringIO()
    writer = csv.writer(out, delimiter=sep, lineterminator="\n")
    writer.writerow(["time", "a", "b", "c"])
    for i, row in enumerate(table):
        writer.writerow([f"2026-03-14T11:02:{i:02d}Z", *row])
    lines = out.getvalue().split("\n")[:-1]
    res = check_parse_invariants(csv_format, lines, IngestOptions(format="csv"))
    # rows made only of blank cells are blank lines; every other row is an event
    want = [{k: v for k, v in zip("abc", row) if v != ""} for row in table]
    got = [json.loads(a) if a else {} for a in res.events.sort("line")["attrs"].to_list()]
    assert got == want and res.rejects.height == 0


_FRAGMENTS = st.sampled_from(['"', '""', ",", "\t", ";", "|", "time", "2026-03-14T11:02:17Z", "a b", "\n", "é", "\\"])
_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"), max_size=60)
_LINE = st.one_of(_TEXT, st.lists(_FRAGMENTS, max_size=10).map("".join).map(lambda s: s.replace("\n", "")))


@settings(max_examples=200, deadline=None)
@given(st.lists(_LINE, max_size=25), st.booleans())
def test_arbitrary_lines_never_raise_and_accounting_holds(texts, with_header):
    check_parse_invariants(csv_format, (["time,user,msg"] if with_header else []) + texts)


def _siem_export(path: Path, start: datetime, outage: tuple[datetime, datetime]) -> None:
    """About 2,400 rows over two hours: steady traffic, 5xx during the outage."""
    rnd = random.Random(16)
    routes = ["/api/courses/{}", "/api/cart/items", "/api/search", "/api/orders/ORD-{}", "/health"]
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["_time", "host", "user", "src_ip", "http_method", "uri_path", "status", "duration_ms",
                "request_id", "message"])
    for i in range(2400):
        t = start + timedelta(seconds=3 * i + rnd.random())
        down = outage[0] <= t < outage[1] and rnd.random() < 0.7
        status = rnd.choice([502, 503, 504]) if down else rnd.choice([200, 200, 200, 201, 304, 404])
        msg = "upstream timed out,\nretrying" if down else "ok"
        w.writerow([t.isoformat(timespec="milliseconds"), f"web-{i % 3}", f"u{rnd.randrange(120)}",
                    f"10.0.0.{i % 200}", rnd.choice(["GET", "POST"]), rnd.choice(routes).format(rnd.randrange(999)),
                    status, f"{rnd.uniform(2, 80):.1f}", f"req-{i:05d}", msg])
    path.write_text(out.getvalue())


def test_scan_finds_the_5xx_outage_of_a_siem_export_and_nothing_else(tmp_path):
    start = datetime(2026, 3, 14, 10, 0, tzinfo=timezone.utc)
    outage = (start + timedelta(minutes=60), start + timedelta(minutes=70))
    folder = tmp_path / "siem"
    folder.mkdir()
    _siem_export(folder / "export.csv", start, outage)
    run = run_timeline([str(folder)])
    rep = run.ingest.accounting.files[0]
    assert (rep.format, rep.events, rep.malformed) == ("csv", 2400, 0)
    bursts = run.timeline.bursts
    assert bursts, "no burst found"
    assert all(b.start < outage[1] and b.end > outage[0] for b in bursts)
    assert any(b.start <= outage[0] + timedelta(minutes=2) for b in bursts)
