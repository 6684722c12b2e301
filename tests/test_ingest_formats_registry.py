"""Every format module has the same shape, checked when the registry loads."""

from __future__ import annotations

import json
import types
from pathlib import Path

import pytest
from click.testing import CliRunner

from forensics.cli import cli
from forensics.errors import ExitCode
from forensics.ingest import formats
from forensics.ingest.formats.base import REQUIRED, check_shape
from forensics.ingest.options import IngestOptions


def test_every_registered_format_declares_the_whole_shape():
    assert formats.names() == [n for n in formats.PRIORITY if n in formats.FORMATS]
    assert set(formats.names()) >= {"jsonl", "logfmt", "access", "postgres", "redis", "syslog", "plain"}
    for name in formats.names():
        mod = formats.get(name)
        check_shape(mod)  # raises when something is missing
        assert mod.NAME == name and mod.DESCRIPTION.strip()


def test_continuation_lines_are_declared_by_the_format_modules():
    continued = {n for n in formats.names() if formats.continued(n)}
    assert continued >= {"plain", "postgres", "redis"}
    assert not continued & {"jsonl", "logfmt", "access", "syslog"}


def test_an_unknown_format_is_taken_to_have_continuation_lines():
    assert formats.continued("no-such-format") is True


def test_a_module_missing_a_required_name_is_refused_with_its_name():
    mod = types.ModuleType("fake_format")
    mod.NAME, mod.DESCRIPTION, mod.EXAMPLE, mod.sniff, mod.parse = "fake", "fake logs", "a fake line", len, len
    with pytest.raises(TypeError, match="CONTINUATION_LINES"):
        check_shape(mod)
    mod.CONTINUATION_LINES = "yes"  # not a bool
    with pytest.raises(TypeError, match="CONTINUATION_LINES"):
        check_shape(mod)
    mod.CONTINUATION_LINES = False
    check_shape(mod)
    del mod.EXAMPLE
    with pytest.raises(TypeError, match="EXAMPLE"):
        check_shape(mod)
    assert set(REQUIRED) == {"NAME", "DESCRIPTION", "EXAMPLE", "CONTINUATION_LINES", "sniff", "parse"}


# ------------------------------------------------------------ sniffing you can trust

LOGFMT = [f"ts=2026-03-14T11:02:{i:02d}Z level=info svc=api msg=hello{i}" for i in range(20)]


def test_a_sniffed_format_that_reads_little_of_the_sample_gives_way_to_the_one_that_reads_most(monkeypatch):
    monkeypatch.setattr(formats, "sniff", lambda sample: "access")  # a wrong, unsure sniff
    assert formats.read_share("access", LOGFMT, options=IngestOptions()) == 0.0
    assert formats.choose(LOGFMT, options=IngestOptions()) == "logfmt"


def test_a_sure_sniff_is_not_second_guessed(monkeypatch):
    calls = []
    monkeypatch.setattr(formats, "read_share", lambda *a, **k: calls.append(a) or 0.0)
    assert formats.choose(LOGFMT, options=IngestOptions()) == "logfmt"
    assert calls == []


def test_read_share_counts_timed_events_and_folded_lines_only():
    text = ["2026-03-14 11:02:17,123 ERROR app: boom", "  at x.y(Z.java:1)", "  at a.b(C.java:2)", "junk"]
    assert formats.read_share("plain", text, options=IngestOptions()) == 1.0  # junk folds into the event
    assert formats.read_share("plain", ["junk", *text[:1]], options=IngestOptions()) == 0.5  # an orphan first line
    assert formats.read_share("jsonl", text, options=IngestOptions()) == 0.0


def _folder(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "app.log").write_text("".join(f"ts=2026-03-14T11:02:{i:02d}Z level=error svc=api msg=x{i}\n" for i in range(30)))
    (logs / "mystery.log").write_text("".join(f"@@ {i} ~~ no format reads this ~~\n" for i in range(12)))
    (logs / "half.log").write_text("".join(f"ts=2026-03-14T11:03:{i:02d}Z level=info msg=y\n@@ junk {i}\n" for i in range(10))
                                   + "ts=2026-03-14T11:04:00Z level=info msg=z\n")
    return logs


def test_a_file_with_no_event_makes_ingest_exit_partial_and_mostly_malformed_files_are_named(tmp_path):
    res = CliRunner().invoke(cli, ["ingest", str(_folder(tmp_path)), "--json", "-q"])
    assert res.exit_code == ExitCode.PARTIAL, res.output
    doc = json.loads(res.stdout)
    warned = {Path(w["path"]).name: w["warning"] for w in doc["warnings"]}
    assert set(warned) == {"mystery.log"}  # half.log: 10 of 21 lines malformed, not more than half
    assert warned["mystery.log"].startswith("all 12 lines malformed as ")


def test_scan_exits_partial_and_warns_on_stderr_when_a_file_gives_no_event(tmp_path):
    res = CliRunner().invoke(cli, ["scan", str(_folder(tmp_path)), "--json", "--no-cache"])
    assert res.exit_code == ExitCode.PARTIAL
    assert "mystery.log: all 12 lines malformed" in res.stderr
    json.loads(res.stdout)  # stdout is still the document


def test_a_mostly_but_not_wholly_malformed_file_warns_without_changing_the_exit_code(tmp_path):
    logs = _folder(tmp_path)
    (logs / "mystery.log").unlink()
    (logs / "half.log").write_text((logs / "half.log").read_text() + "@@ more junk\n@@ and more\n")
    res = CliRunner().invoke(cli, ["ingest", str(logs), "--json", "-q"])
    assert res.exit_code == 0
    assert [Path(w["path"]).name for w in json.loads(res.stdout)["warnings"]] == ["half.log"]
