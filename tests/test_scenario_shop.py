"""The second scenario (``forensics simulate --scenario shop``): another
domain, other formats, field names and time zones, and the scan finds its
trigger too.

The shop's logs are generated into a temporary folder (never committed) and
scanned as an operator would: ``forensics scan DIR --tz Europe/Berlin`` (the
order-mail worker writes naive local times; every other log carries its
zone).  Expectations come from the scenario's own ``truth.json``.

Top suspect rule: the reported sequence must equal the trigger exactly.  A
closed super-sequence would also be defensible (the two trigger sessions
could share a step next to the trigger), but the scenario's trigger sessions
share nothing within the miner's default gap except the trigger, so anything
but the exact sequence is a ranking error.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from forensics.cli import cli
from forensics.ingest import IngestOptions, ingest
from forensics.mining.closed import is_subsequence
from forensics.scan import ScanSettings, run_scan
from forensics.simulate import simulate_scenario
from forensics.simulate.scenarios.shop import SHOP_FORMATS

TZ = "Europe/Berlin"
#: Onsets may differ from the truth by whole-second log precision.
TOLERANCE = timedelta(seconds=5)
#: Components whose true first errors are closer than this are not ordered
#: (the access log has whole seconds; two logs of one request differ by ms).
ORDER_SLACK = timedelta(seconds=2)


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _scan(path: Path):
    return run_scan([path], settings=ScanSettings(ingest=IngestOptions(tz=TZ)))


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    out = tmp_path_factory.mktemp("shop")
    sim = simulate_scenario("shop", out)
    return out, sim.truth, _scan(out)


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_writes_identical_bytes_and_another_seed_differs(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    simulate_scenario("shop", a, seed=11, users=300)
    simulate_scenario("shop", b, seed=11, users=300)
    simulate_scenario("shop", c, seed=12, users=300)
    fa = _files(a)
    assert set(fa) == {"truth.json", *(rel for files, _ in SHOP_FORMATS.values() for rel in files)}
    assert fa == _files(b)
    assert fa["storefront/storefront.log"] != _files(c)["storefront/storefront.log"]


def test_each_log_is_read_in_its_own_format_and_counts_match_truth(shop):
    out, truth, result = shop
    expected = {rel: fmt for files, fmt in SHOP_FORMATS.values() for rel in files}
    seen = {Path(f["path"]).relative_to(out).as_posix(): f for f in result.ingest.accounting.to_json()["by_file"]}
    assert set(seen) == set(expected)
    for rel, f in seen.items():
        t = truth["files"][rel]
        assert f["format"] == expected[rel], rel
        assert (f["lines"], f["events"], f["continuation_lines"], f["malformed"]) == (
            t["lines"], t["events"], t["continuation_lines"], t["malformed"]), rel


def test_field_names_and_clocks_differ_from_the_elearning_scenario(shop):
    out, _, _ = shop
    store = (out / "storefront/storefront.log").read_text().splitlines()[10]
    assert "customer_id=" in store or "sid=" in store
    assert " trace_id=" in store and " activity=" in store and "+01:00 " in store and "user_id" not in store
    pay = json.loads((out / "payments/gateway.jsonl").read_text().splitlines()[0])
    assert {"@timestamp", "log", "service", "event", "http"} <= set(pay)
    assert (out / "pricing/pricing.log").read_text().startswith("<1")
    assert "+0100]" in (out / "edge/access.log").read_text(encoding="utf-8")[:2000]


def test_naive_local_times_of_the_mail_worker_need_the_tz_option(shop):
    out, truth, _ = shop
    utc = ingest([out / "mail"]).events["ts"]
    berlin = ingest([out / "mail"], options=IngestOptions(tz=TZ)).events["ts"]
    assert (utc - berlin).unique().to_list() == [timedelta(hours=1)]
    mail = next(b for b in truth["bursts"] if b["kind"] == "unrelated_mail_relay")
    assert _t(mail["onset"]) in berlin.to_list()


def test_every_true_burst_is_detected_and_nothing_else(shop):
    _, truth, result = shop
    bursts = result.timeline.bursts
    onsets = [o for b in bursts for o in b.onsets]
    for tb in truth["bursts"]:
        assert any(abs(o - _t(tb["onset"])) <= TOLERANCE for o in onsets), (tb["kind"], tb["onset"], onsets)
    windows = [(_t(tb["start"]) - TOLERANCE, _t(tb["end"]) + TOLERANCE) for tb in truth["bursts"]]
    for b in bursts:
        assert any(a <= b.start <= z for a, z in windows), f"spurious burst at {b.start}"
    assert len(bursts) == len(truth["bursts"])


def _burst_at(result, onset: datetime):
    return next(b for b in result.timeline.bursts if any(abs(o - onset) <= TOLERANCE for o in b.onsets))


def test_cascade_order_matches_truth_within_log_precision(shop):
    _, truth, result = shop
    for tb in (b for b in truth["bursts"] if b["kind"] == "incident"):
        true_first = {c["component"]: _t(c["first_error"]) for c in tb["cascade"]}
        found = [(s.component, s.first_error) for s in _burst_at(result, _t(tb["onset"])).cascade]
        names = [c for c, _ in found]
        assert {"cache", "pricing", "storefront"} <= set(names) <= set(true_first)
        assert abs(found[0][1] - _t(tb["onset"])) <= TOLERANCE
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                if true_first[b] < true_first[a] - ORDER_SLACK:
                    pytest.fail(f"{a} before {b} but the truth has {b} first ({true_first[b]} < {true_first[a]})")


def test_top_suspect_is_the_trigger_with_the_poisoned_cache_key_linked(shop):
    _, truth, result = shop
    top = result.mining.suspects[0]
    assert list(top.sequence) == truth["trigger"]["sequence"]
    assert top.significant
    incident = {_burst_at(result, _t(b["onset"])).id for b in truth["bursts"] if b["kind"] == "incident"}
    assert set(top.burst_ids) == incident
    key = truth["trigger"]["cache_key"]
    linked = [r for r in top.resources if r.resource == key]
    assert linked and linked[0].errors_after > 0 and linked[0].step == "checkout"
    assert key in top.explanation


def test_mail_relay_burst_gets_no_significant_suspect(shop):
    _, truth, result = shop
    mail = next(b for b in truth["bursts"] if b["kind"] == "unrelated_mail_relay")
    bid = _burst_at(result, _t(mail["onset"])).id
    verdict = {v.burst_id: v for v in result.mining.burst_verdicts}[bid]
    assert not verdict.explained and verdict.suspect_ranks == ()
    assert all(bid not in s.burst_ids for s in result.mining.suspects)


def test_decoys_and_after_error_retries_are_not_in_the_top_three(shop):
    _, truth, result = shop
    decoys = {d["kind"]: d for d in truth["decoys"]}
    top3 = [s.sequence for s in result.mining.suspects[:3]]
    assert top3
    for kind in ("rare_harmless", "coincidence", "common_path"):
        seq = tuple(decoys[kind]["sequence"])
        assert not any(is_subsequence(seq, s) for s in top3), kind
    retry = tuple(decoys["retry_after_error"]["sequence"])
    assert decoys["retry_after_error"]["count"] > 0
    assert retry not in top3 and not any(is_subsequence(retry, s) for s in top3)


def test_cli_writes_the_shop_scenario(tmp_path):
    res = CliRunner().invoke(cli, ["simulate", str(tmp_path / "o"), "--scenario", "shop", "--users", "150",
                                   "--format", "storefront,mail"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "o/storefront/storefront.log").exists() and not (tmp_path / "o/edge").exists()
    doc = json.loads((tmp_path / "o/truth.json").read_text())
    assert doc["scenario"]["name"] == "shop" and doc["generator"]["users"] == 150
    bad = CliRunner().invoke(cli, ["simulate", str(tmp_path / "p"), "--scenario", "shop", "--days", "2"])
    assert bad.exit_code == 2


#: Seeds on which the miner's ranking is known to miss (see the report of the
#: shop scenario): seed 2 credits the unrelated mail burst to a significant
#: trigger sub-sequence that completed by chance in its look-back window;
#: seed 3 ranks trigger sub-sequences (smaller length stratum, testable
#: enrichment) above the trigger although the trigger has the smallest
#: onset p-value.
@pytest.mark.slow
@pytest.mark.parametrize("seed", [2, 3])
def test_other_seeds_also_put_the_trigger_first_and_leave_the_mail_burst_alone(tmp_path, seed):
    sim = simulate_scenario("shop", tmp_path, seed=seed)
    result = _scan(tmp_path)
    assert list(result.mining.suspects[0].sequence) == sim.truth["trigger"]["sequence"]
    mail = next(b for b in sim.truth["bursts"] if b["kind"] == "unrelated_mail_relay")
    bid = _burst_at(result, _t(mail["onset"])).id
    assert all(bid not in s.burst_ids for s in result.mining.suspects)
