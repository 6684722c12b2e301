"""A folder mixing every format's golden sample is read as each sample is read
alone: each file sniffed as its format, only the sample's own bad lines
malformed, a level on every event of the formats that carry one, and every
sample's 5xx responses seen as errors by the timeline."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from forensics.ingest import ingest
from forensics.timeline.errors import mark_errors
from golden_util import FORMAT_GOLDENS, GOLDEN, INPUT_FILE, OPTIONS_FILE, REJECTS_FILE

#: Samples read with options of their own (options.json) are left out: the
#: mixed folder is read with the defaults.  Samples of formats whose events may
#: legitimately lack a level (free JSON or logfmt without a level field, text
#: lines without one) are not held to "every event has a level".
MIXED = {name: fmt for name, fmt in FORMAT_GOLDENS.items() if not (GOLDEN / name / OPTIONS_FILE).exists()}
LEVEL_OPTIONAL = {"jsonl", "logfmt", "plain", "plain_python", "postgres", "syslog",
                  "bgl_thunderbird", "csv", "csv_tsv"}  # Thunderbird lines and these CSV exports carry no level
#: Where a level that maps to none of the five is kept (in ``attrs``, under its own name).
RAW_LEVEL = r'"(?:level|PRIORITY|s|level_value|severity|severityText|severityNumber)":'


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    root = tmp_path_factory.mktemp("mixed")
    for name in MIXED:
        dst = root / name / f"{name}.log"
        dst.parent.mkdir()
        shutil.copy(GOLDEN / name / INPUT_FILE, dst)
    return root, ingest([root])


def _expected_malformed(name: str) -> int:
    return sum(1 for line in (GOLDEN / name / REJECTS_FILE).read_text().splitlines() if line.strip())


def _by_sample(result) -> dict[str, object]:
    return {Path(f.path).parent.name: f for f in result.accounting.files}


def test_every_sample_in_the_mixed_folder_is_sniffed_as_its_format(mixed):
    _, res = mixed
    got = {name: f.format for name, f in _by_sample(res).items()}
    assert got == MIXED


def test_only_the_samples_own_bad_lines_are_malformed(mixed):
    _, res = mixed
    got = {name: f.malformed for name, f in _by_sample(res).items()}
    assert got == {name: _expected_malformed(name) for name in MIXED}


def test_every_event_of_the_formats_with_levels_has_one_or_keeps_the_raw_one(mixed):
    _, res = mixed
    ev = res.events.with_columns(pl.col("source").str.extract(r"([^/\\]+)\.log$", 1).alias("_sample"))
    kept_raw = pl.col("attrs").str.contains(RAW_LEVEL).fill_null(False)
    missing = (ev.filter(pl.col("level").is_null() & ~kept_raw & ~pl.col("_sample").is_in(list(LEVEL_OPTIONAL)))
               .group_by("_sample").len().sort("_sample"))
    assert missing.height == 0, missing.to_dicts()


def test_every_samples_5xx_responses_are_errors(mixed):
    _, res = mixed
    ev = mark_errors(res.events.with_columns(pl.col("source").str.extract(r"([^/\\]+)\.log$", 1).alias("_sample")))
    server = ev.filter(pl.col("status") >= 500)
    assert server.height > 0
    missed = server.filter(~pl.col("is_error")).group_by("_sample").len().sort("_sample")
    assert missed.height == 0, missed.to_dicts()
    samples_with_5xx = set(server.get_column("_sample").unique().to_list())
    # every HTTP-carrying family of issue 16 has a 5xx in its sample, and it was read as a status
    assert {"alb", "alb_cloudfront", "alb_elb", "cri", "csv", "docker", "envoy", "envoy_istio", "haproxy",
            "jsonl_caddy", "jsonl_gcp", "jsonl_pino", "jsonl_traefik", "otlp", "otlp_pretty", "w3c"} <= samples_with_5xx


def test_the_mixed_read_accounts_for_every_line(mixed):
    _, res = mixed
    doc = res.accounting.to_json()
    assert doc["lines"] == (doc["events"] - doc["extra_events"] + doc["continuation_lines"] + doc["blank_lines"]
                            + doc["malformed"])
    assert doc["extra_events"] > 0  # the OTLP samples: a request line holds several records
    assert json.dumps(doc)  # the document is JSON
