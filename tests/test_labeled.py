"""Known failures (--failing): label files, labeled enrichment, the scan JSON."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner

from forensics.cli import cli
from forensics.errors import InputError, UsageError
from forensics.mining.closed import is_subsequence
from forensics.mining.labeled import (classify_sessions, labeled_explanation, mine_labeled, productive,
                                      read_failing, risk_ratio_low)
from forensics.mining.model import MiningOptions
from forensics.mining.occurrences import occurrences
from forensics.schema import conform
from forensics.timeline import build_timeline
from forensics.timeline.templates import free_text_events

T0 = datetime(2008, 11, 9, 20, 0, tzinfo=timezone.utc)
PATTERN = r"blk_-?\d+"

NORMAL = ("BLOCK* NameSystem.allocateBlock: /user/root/part-{b}. blk_{b}",
          "Receiving block blk_{b} src: /10.0.0.{i}:4{i} dest: /10.0.0.9:50010",
          "Received block blk_{b} of size 6710{i} from /10.0.0.{i}",
          "PacketResponder {i} for block blk_{b} terminating",
          "BLOCK* NameSystem.addStoredBlock: blockMap updated: 10.0.0.{i}:50010 is added to blk_{b} size 6710{i}")
POISON = "Unexpected error trying to delete block blk_{b}. BlockInfo not found in volumeMap."


def block_rows(n_blocks: int = 80, *, failing: set[int] = frozenset(range(8)), poison: set[int] | None = None,
               incomplete: set[int] = frozenset(), seed: int = 3) -> list[tuple[datetime, str]]:
    """HDFS-like (ts, message) rows: every block runs the NORMAL steps; blocks
    in ``poison`` (default: the failing ones) add the POISON line after the
    first two steps; blocks in ``incomplete`` stop before the last two steps.
    A few normal blocks add a harmless "Verification succeeded" line."""
    rng = np.random.default_rng(seed)
    poison = failing if poison is None else poison
    rows = []
    for b in range(n_blocks):  # a small fixture
        t = T0 + timedelta(seconds=30 * b)
        steps = list(NORMAL[:3] if b in incomplete else NORMAL)
        if b in poison:
            steps.insert(2, POISON)
        if rng.random() < 0.2:
            steps.append("Verification succeeded for blk_{b}")
        for j, s in enumerate(steps):
            rows.append((t + timedelta(seconds=j), s.format(b=1000 + b, i=b % 7 + 1)))
    return rows


def timeline_of(rows: list[tuple[datetime, str]], *, pattern: str = PATTERN, errors_at: str | None = None):
    """Timeline of (ts, message) rows as one plain-text source."""
    ts, msg = zip(*rows)
    level = ["error" if errors_at and errors_at in m else "info" for m in msg]
    ev = conform(pl.DataFrame({"ts": list(ts), "source": "hdfs.log", "line": range(1, len(ts) + 1),
                               "format": "plain", "message": list(msg), "level": level}))
    return build_timeline(free_text_events(ev, session_pattern=pattern))


def keys(blocks) -> set[str]:
    return {f"blk_{1000 + b}" for b in blocks}


# ------------------------------------------------------------------ label files

def test_hdfs_label_file_is_read_as_it_is(write):
    f = write("anomaly_label.csv", "BlockId,Label\nblk_1,Normal\nblk_-2,Anomaly\nblk_3,ANOMALY\nblk_4,Normal\n")
    labels = read_failing(f)
    assert labels.failing == {"blk_-2", "blk_3"}
    assert (labels.id_column, labels.label_column, labels.listed) == ("BlockId", "Label", 4)


@pytest.mark.parametrize("value", ["failed", "FAIL", "error", "1", "true", " True "])
def test_common_failing_values_mean_failing(write, value):
    f = write("l.csv", f"session,status\ns1,{value}\ns2,ok\ns3,0\n")
    assert read_failing(f).failing == {"s1"}


def test_label_column_is_found_by_name_not_position(write):
    f = write("l.csv", "id,user,outcome\ns1,u1,failed\ns2,u2,succeeded\n")
    labels = read_failing(f)
    assert labels.label_column == "outcome" and labels.failing == {"s1"}


def test_columns_and_values_can_be_named(write):
    f = write("l.csv", "user,sess,verdict\nu1,a,red\nu2,b,green\nu3,c,RED\n")
    labels = read_failing(f, id_column="sess", label_column="verdict", failing_values=["red"])
    assert labels.failing == {"a", "c"}


def test_one_column_file_lists_failing_ids(write):
    f = write("l.csv", "session\ns9\ns7\n")
    assert read_failing(f).failing == {"s9", "s7"}


def test_unknown_column_is_a_usage_error(write):
    f = write("l.csv", "BlockId,Label\nblk_1,Anomaly\n")
    with pytest.raises(UsageError, match="no column 'lbl'"):
        read_failing(f, label_column="lbl")


def test_file_without_a_label_column_is_a_usage_error(write):
    f = write("l.csv", "id,user\ns1,u1\n")
    with pytest.raises(UsageError, match="no label column"):
        read_failing(f)


def test_missing_label_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError):
        read_failing(tmp_path / "nope.csv")


# ------------------------------------------------------------------ mining

def test_template_only_failing_sessions_have_ranks_first():
    tl = timeline_of(block_rows())
    res = mine_labeled(tl, keys(range(8)))
    top = res.mining.suspects[0]
    assert top.sequence == ("Unexpected error trying to delete block blk_<n>. BlockInfo not found in volumeMap.",)
    assert (top.failing_with, top.control_with) == (8, 0)
    assert top.significant and top.q_value <= 0.05
    assert res.n_failing == 8 and res.n_control == 72 and res.unmatched == 0


def test_shuffled_labels_find_nothing():
    tl = timeline_of(block_rows())
    # label 8 blocks that have nothing special (the poison is in blocks 0-7)
    res = mine_labeled(tl, keys(range(40, 48)))
    assert res.mining.suspects == () and res.missing == ()


def test_unknown_failing_ids_are_counted_not_used():
    tl = timeline_of(block_rows())
    res = mine_labeled(tl, keys(range(8)) | {"blk_999999"})
    assert res.unmatched == 1 and res.n_failing == 8


def test_before_error_scope_ignores_the_error_itself():
    # the poison line is an error row: before_error stops just before it
    tl = timeline_of(block_rows(), errors_at="Unexpected error")
    before = mine_labeled(tl, keys(range(8)), scope="before_error")
    whole = mine_labeled(tl, keys(range(8)), scope="whole")
    assert before.mining.suspects == ()  # the steps before the poison are the same in every block
    assert before.window == "session before its first error" and whole.window == "whole session"
    assert whole.mining.suspects[0].sequence[-1].startswith("Unexpected error")


def test_longer_patterns_with_no_extra_evidence_are_listed_under_the_shorter_one():
    tl = timeline_of(block_rows())
    res = mine_labeled(tl, keys(range(8)))
    assert len(res.mining.suspects) == 1
    top = res.mining.suspects[0]
    assert len(top.sequence) == 1 and top.collapsed  # the longer patterns with the same blocks
    assert all(len(c) > 1 and is_subsequence(top.sequence, c) for c in top.collapsed)


def test_productive_drops_a_sequence_ranked_below_its_sub_sequence():
    ranked = pl.DataFrame({"codes": [[1, 3], [1, 2, 3], [4], [4, 5]], "members": [[], [], [[9, 4]], []]},
                          schema={"codes": pl.List(pl.Int64), "members": pl.List(pl.List(pl.Int64))})
    out = productive(ranked, top=10)
    assert out["codes"].to_list() == [[1, 3], [4]]
    assert out["members"].to_list() == [[[1, 2, 3]], [[9, 4], [4, 5]]]
    assert productive(ranked, top=1)["codes"].to_list() == [[1, 3]]


def test_sequences_no_failing_session_did_are_never_suspects():
    # the poison is in 8 normal blocks; the labeled blocks never did it
    tl = timeline_of(block_rows(failing=set(range(8)), poison=set(range(10, 18))))
    res = mine_labeled(tl, keys(range(8)))
    shown = res.mining.suspects + res.mining.runners_up
    assert shown  # the harmless "Verification succeeded" line at least is tested
    assert all(s.failing_with >= 1 for s in shown)
    assert not any("Unexpected error" in s.sequence[0] for s in shown)


def test_explanation_claims_no_risk_ratio_when_no_failing_session_did_it():
    text = labeled_explanation(0, 9, 0, 3400, 340.0)
    assert "risk ratio" not in text and "none of the 9 failing sessions" in text
    assert labeled_explanation(8, 9, 0, 3400, 340.0).endswith("risk ratio 340.0")


def test_lookback_does_not_apply_and_the_options_are_kept_as_given():
    tl = timeline_of(block_rows())
    opts = MiningOptions(lookback_s=1.0)  # far shorter than a block
    res = mine_labeled(tl, keys(range(8)), options=opts)
    assert res.mining.options is opts
    assert res.mining.suspects == mine_labeled(tl, keys(range(8))).mining.suspects
    assert res.mining.suspects[0].failing_with == 8


def test_suspect_steps_point_at_the_occurrences():
    tl = timeline_of(block_rows())
    res = mine_labeled(tl, keys(range(8)))
    steps = res.mining.steps.filter(pl.col("rank") == 1)
    assert set(steps["session_key"].to_list()) == keys(range(8))
    assert steps["action"].str.starts_with("Unexpected error").all()


def test_occurrences_keep_the_latest_start_within_the_gap():
    from types import SimpleNamespace as NS
    p = NS(code=np.array([0, 0, 2, 1, 0, 3, 3, 3, 1]), sess=np.zeros(9, int), ts=np.arange(9) * 1_000_000)
    # (0, 1): row 3 via start 1 (latest); row 8 is 4 rows after row 4: gap 3 > 2
    assert occurrences(p, (0, 1), max_gap=2, max_span_s=60).tolist() == [[1, 3]]


def test_risk_ratio_bound_prefers_exclusive_patterns():
    low = risk_ratio_low(np.array([30, 60]), np.array([0, 20]), 100, 1000)
    assert low[0] > low[1]


def test_classify_flags_blocks_with_a_top_suspect():
    tl = timeline_of(block_rows())
    res = mine_labeled(tl, keys(range(8)))
    later = timeline_of(block_rows(40, failing={5, 6}, seed=9))
    flags = classify_sessions(later, res, top_k=1)
    assert set(flags.filter("flagged")["session_key"].to_list()) == keys({5, 6})
    assert flags.filter("flagged")["suspect_rank"].to_list() == [1, 1]
    assert classify_sessions(later, res, top_k=0).filter("flagged").height == 0


# ------------------------------------------------------------------ scan

def _hdfs_text(rows) -> str:
    return "".join(f"{t:%y%m%d %H%M%S} 143 INFO dfs.DataNode: {m}\n" for t, m in rows)


def test_scan_with_failing_labels_reports_both_kinds(write):
    log = write("logs/hdfs.log", _hdfs_text(block_rows(incomplete={0, 1, 2, 3})))
    labels = write("labels.csv", "BlockId,Label\n" + "".join(
        f"blk_{1000 + b},{'Anomaly' if b < 8 else 'Normal'}\n" for b in range(80)))
    res = CliRunner().invoke(cli, ["scan", str(log), "--session-pattern", PATTERN, "--failing", str(labels),
                                   "--failing-scope", "whole", "--json", "-q"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    kinds = [s["kind"] for s in doc["suspects"]]
    assert kinds[0] == "sequence" and "missing_step" in kinds
    assert kinds == sorted(kinds, key=lambda k: k != "sequence")  # sequences first, then missing steps
    assert [s["rank"] for s in doc["suspects"]] == list(range(1, len(kinds) + 1))
    miss = [s for s in doc["suspects"] if s["kind"] == "missing_step"]
    assert any(s["step"].startswith("BLOCK* NameSystem.addStoredBlock") for s in miss)
    assert all(s["failing_missing"] == 4 and s["control_missing"] == 0 for s in miss)
    assert doc["labels"]["failing_sessions"] == 8 and doc["labels"]["scope"] == "whole"
    assert doc["parameters"]["timeline"]["session_pattern"] == PATTERN
    assert doc["error_control"] == "FDR"  # labeled mode: BH


def test_scan_without_failing_marks_suspects_as_sequences(write):
    log = write("hdfs.log", _hdfs_text(block_rows()))
    res = CliRunner().invoke(cli, ["scan", str(log), "--session-pattern", PATTERN, "--json", "-q"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["labels"] is None
    assert all(s["kind"] == "sequence" for s in doc["suspects"])
    assert doc["error_control"] == "FWER"  # onset mode: weighted Holm


def test_bad_session_pattern_is_a_usage_error(write):
    log = write("hdfs.log", _hdfs_text(block_rows(4)))
    res = CliRunner().invoke(cli, ["scan", str(log), "--session-pattern", "blk_(", "--json", "-q"])
    assert res.exit_code == 2


def test_terminal_report_shows_labeled_suspects_and_never_reached_steps(tmp_path):
    """End to end through the CLI on a slice of the real HDFS sample."""

    from click.testing import CliRunner

    from forensics.cli import cli

    from shared_data import dataset

    data = dataset("hdfs_loglead_2pct")
    if not data.exists():
        import pytest

        pytest.skip(f"HDFS dataset not found at {data}")
    log = tmp_path / "hdfs.log"
    with open(data / "HDFS_2pct.log", "rb") as src:
        log.write_bytes(src.read(3_000_000).rsplit(b"\n", 1)[0] + b"\n")
    res = CliRunner().invoke(cli, ["scan", str(log), "--session-pattern", r"blk_-?\d+", "--failing",
                                   str(data / "anomaly_label.csv"), "--failing-scope", "whole", "--no-color", "-q"])
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert "what labeled failing sessions did" in out
    assert "writeBlock blk_<n> received exception" in out.replace("\n", " ")
    assert "never reached: PacketResponder <num> for block blk_<n> terminating" in out
    assert "rate ratio" not in out
