"""Ingest benchmark: `forensics ingest` against a bare Polars read of the same file.

Usage::

    python bench/bench_ingest.py [--size-mb 1024] [--runs 3] [--only access,logfmt]

Generates (once, under bench/data/) a JSON-lines file, an nginx access log,
a logfmt log, Docker json-file records wrapping the JSON lines, and AWS ALB
access-log entries, of about ``--size-mb`` each, then times, in one run, for
each file:

* the baseline: ``polars.read_ndjson`` (JSON lines; for Docker, of the
  envelope plus one ``json_decode`` of the payload), or a bare line read plus
  one regex extract of the line's fields (access log, logfmt, ALB);
* ``forensics.ingest.ingest([file])`` (the library call: read, parse,
  normalize to the canonical schema, sort);

and prints the medians and the ratio (target: ingest <= 2x the baseline).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"

ACTIONS = ["login", "browse_courses", "open_course", "open_lecture", "play_video", "download_material",
           "submit_quiz", "post_forum", "logout"]
ROUTES = ["/login", "/courses", "/courses/{c}", "/courses/{c}/lectures/{l}", "/video/{l}/play",
          "/materials/{l}/download", "/quiz/{l}/submit", "/forum/{c}/post", "/logout"]


def _base_frame(n: int, seed: int = 1) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    start = 1698883200_000_000  # 2023-11-02T00:00:00Z in us
    ts = np.sort(rng.integers(start, start + 86_400_000_000, n))
    return pl.DataFrame({
        "ts_us": ts,
        "user": rng.integers(0, 50_000, n),
        "act": rng.integers(0, len(ACTIONS), n),
        "course": rng.integers(1, 500, n),
        "lecture": rng.integers(1, 40, n),
        "status": rng.choice([200, 200, 200, 200, 304, 404, 500], n),
        "lat": rng.gamma(2.0, 20.0, n).round(1),
        "rid": rng.integers(0, 2**62, n),
    })


def make_jsonl(path: Path, size_mb: int) -> None:
    n = int(size_mb * 1024 * 1024 / 215)
    df = _base_frame(n).select(
        pl.from_epoch("ts_us", time_unit="us").dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").alias("timestamp"),
        pl.when(pl.col("status") >= 500).then(pl.lit("error")).otherwise(pl.lit("info")).alias("level"),
        pl.lit("web").alias("service"),
        pl.format("u{}", pl.col("user")).alias("user_id"),
        pl.format("s-{}", pl.col("user") * 7 + 3).alias("session_id"),
        pl.format("{}", pl.col("rid")).alias("request_id"),
        pl.col("act").replace_strict(dict(enumerate(ACTIONS))).alias("event"),
        pl.col("course").alias("course_id"),
        pl.col("lat").alias("latency_ms"),
        pl.lit("ok").alias("msg"),
    )
    df.write_ndjson(path)


def make_access(path: Path, size_mb: int) -> None:
    n = int(size_mb * 1024 * 1024 / 230)
    routes = pl.col("act").replace_strict(dict(enumerate(ROUTES)))
    df = _base_frame(n, seed=2).select(
        pl.concat_str([
            pl.format("10.{}.{}.{}", pl.col("user") % 250, (pl.col("user") // 250) % 250, pl.col("act") + 1),
            pl.lit(" - - ["),
            pl.from_epoch("ts_us", time_unit="us").dt.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            pl.lit('] "GET '),
            routes.str.replace("{c}", pl.col("course").cast(pl.String), literal=True)
            .str.replace("{l}", pl.col("lecture").cast(pl.String), literal=True),
            pl.lit(' HTTP/1.1" '),
            pl.col("status").cast(pl.String),
            pl.lit(" 5123 \"https://learn.example.com/\" \"Mozilla/5.0 (X11; Linux x86_64) Firefox/119.0\" rt="),
            (pl.col("lat") / 1000).round(3).cast(pl.String),
            pl.lit(" rid="),
            pl.col("rid").cast(pl.String),
        ]).alias("line")
    )
    df.write_csv(path, include_header=False, quote_style="never")


MESSAGES = ["request served", "cache miss, fetched from origin", "slow query on lectures table",
            "upstream timed out (retrying)", "user said \\\"hi\\\" in forum", "ok"]


def make_logfmt(path: Path, size_mb: int) -> None:
    """``time=... level=... msg="..." user=... request_id=... action=...
    duration_ms=...`` lines; quoted messages with spaces (some with escaped
    quotes), an ``error="..."`` pair on 5xx lines, unquoted values elsewhere."""
    n = int(size_mb * 1024 * 1024 / 190)
    # about one line in 20 carries each of the rarer messages
    msg = (pl.col("rid") % 20).replace_strict(dict(enumerate(MESSAGES)), default="request served",
                                               return_dtype=pl.String)
    df = _base_frame(n, seed=3).select(
        pl.concat_str([
            pl.lit("time="),
            pl.from_epoch("ts_us", time_unit="us").dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"),
            pl.lit(" level="),
            pl.when(pl.col("status") >= 500).then(pl.lit("error"))
            .when(pl.col("status") >= 400).then(pl.lit("warn")).otherwise(pl.lit("info")),
            pl.lit(' msg="'), msg, pl.lit('" user=u'), pl.col("user").cast(pl.String),
            pl.lit(" request_id="), pl.col("rid").cast(pl.String),
            pl.lit(" action="), pl.col("act").replace_strict(dict(enumerate(ACTIONS))),
            pl.lit(" course_id="), pl.col("course").cast(pl.String),
            pl.lit(" status="), pl.col("status").cast(pl.String),
            pl.lit(" duration_ms="), pl.col("lat").cast(pl.String),
            pl.when(pl.col("status") >= 500).then(pl.lit(' error="upstream timed out"')).otherwise(pl.lit("")),
        ]).alias("line")
    )
    df.write_csv(path, include_header=False, quote_style="never")


def make_docker(path: Path, size_mb: int) -> None:
    """Docker json-file records whose payload is the JSON-lines case's line:
    ``{"log":"{...}\\n","stream":"stdout","time":"...Z"}``."""
    n = int(size_mb * 1024 * 1024 / 300)
    base = _base_frame(n, seed=4)
    inner = pl.struct(
        pl.from_epoch("ts_us", time_unit="us").dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").alias("timestamp"),
        pl.when(pl.col("status") >= 500).then(pl.lit("error")).otherwise(pl.lit("info")).alias("level"),
        pl.format("u{}", pl.col("user")).alias("user_id"),
        pl.format("{}", pl.col("rid")).alias("request_id"),
        pl.col("act").replace_strict(dict(enumerate(ACTIONS))).alias("event"),
        pl.col("status"), pl.col("lat").alias("latency_ms"), pl.lit("ok").alias("msg"),
    ).struct.json_encode()
    df = base.select(pl.struct(
        (inner + "\n").alias("log"), pl.lit("stdout").alias("stream"),
        pl.from_epoch("ts_us", time_unit="us").dt.strftime("%Y-%m-%dT%H:%M:%S%.6f000Z").alias("time"),
    ).struct.json_encode().alias("line"))
    df.write_csv(path, include_header=False, quote_style="never")


def bare_docker(path: Path) -> int:
    """The envelope read plus one decode of the payload."""
    env = pl.read_ndjson(path)
    sample = "".join(env.get_column("log").head(1000).to_list()).encode()
    dtype = pl.Struct(pl.read_ndjson(io.BytesIO(sample)).schema)
    return env.select(pl.col("log").str.json_decode(dtype)).height


def make_alb(path: Path, size_mb: int) -> None:
    """AWS ALB access-log entries (29 fields, as AWS documents them)."""
    n = int(size_mb * 1024 * 1024 / 520)
    routes = pl.col("act").replace_strict(dict(enumerate(ROUTES)))
    path_ = (routes.str.replace("{c}", pl.col("course").cast(pl.String), literal=True)
             .str.replace("{l}", pl.col("lecture").cast(pl.String), literal=True))
    t = pl.from_epoch("ts_us", time_unit="us").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
    df = _base_frame(n, seed=5).select(pl.concat_str([
        pl.lit("https "), t, pl.lit(" app/learn-lb/50dc6c495c0c9188 "),
        pl.format("10.{}.{}.{}:{}", pl.col("user") % 250, (pl.col("user") // 250) % 250, pl.col("act") + 1,
                  40000 + pl.col("lecture")),
        pl.lit(" 10.0.1.7:8080 0.000 "), (pl.col("lat") / 1000).round(3).cast(pl.String), pl.lit(" 0.000 "),
        pl.col("status").cast(pl.String), pl.lit(" "), pl.col("status").cast(pl.String), pl.lit(' 312 5123 "GET https://learn.example.com:443'),
        path_, pl.lit(' HTTP/1.1" "Mozilla/5.0 (X11; Linux x86_64) Firefox/119.0" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 '
                      'arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/learn/73e2d6bc24d8a067 "Root=1-6542'),
        pl.col("rid").cast(pl.String).str.zfill(4).str.slice(0, 4), pl.lit("-"), pl.col("rid").cast(pl.String).str.zfill(24), pl.lit('" "learn.example.com" "arn:aws:acm:us-east-2:123456789012:certificate/12345678" 0 '),
        t, pl.lit(' "forward" "-" "-" "10.0.1.7:8080" "'), pl.col("status").cast(pl.String), pl.lit('" "-" "-" TID_'),
        pl.col("rid").cast(pl.String),
    ]).alias("line"))
    df.write_csv(path, include_header=False, quote_style="never")


ALB_RE = (r'^(\S+) (\S+) (\S+) (\S+) (\S+) (\S+) (\S+) (\S+) (\S+) (\S+) \d+ \d+ "(\S+) (\S+) [^"]*" "[^"]*" '
          r'\S+ \S+ \S+ "([^"]*)"')


def bare_alb(path: Path) -> int:
    df = pl.read_csv(path, has_header=False, separator="\x00", quote_char=None, schema={"text": pl.String})
    return df.select(pl.col("text").str.extract_groups(ALB_RE)).height


ACCESS_RE = r'^(\S+) \S+ (\S+) \[([^\]]+)\] "(\S+) (\S+) [^"]*" (\d{3}) (\S+)'


def bare_access(path: Path) -> int:
    df = pl.read_csv(path, has_header=False, separator="\x00", quote_char=None, schema={"text": pl.String})
    return df.select(pl.col("text").str.extract_groups(ACCESS_RE)).height


LOGFMT_RE = (
    r'^time=(\S+) level=(\S+) msg="((?:[^"\\]|\\.)*)" user=(\S+) request_id=(\S+) action=(\S+)'
    r' course_id=(\S+) status=(\S+) duration_ms=(\S+)'
)


def bare_logfmt(path: Path) -> int:
    df = pl.read_csv(path, has_header=False, separator="\x00", quote_char=None, schema={"text": pl.String})
    return df.select(pl.col("text").str.extract_groups(LOGFMT_RE)).height


def bare_jsonl(path: Path) -> int:
    return pl.read_ndjson(path).height


def ours(path: Path) -> int:
    from forensics.ingest import ingest

    return ingest([path]).events.height


def timed(fn, path: Path, runs: int) -> tuple[float, int]:
    times, n = [], 0
    for _ in range(runs):
        t = time.perf_counter()
        n = fn(path)
        times.append(time.perf_counter() - t)
    return statistics.median(times), n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default="", help="comma-separated cases to run (jsonl, access, logfmt, docker, alb); default all")
    args = ap.parse_args(argv)
    DATA.mkdir(parents=True, exist_ok=True)
    cases = [
        ("jsonl", DATA / f"app_{args.size_mb}mb.jsonl", make_jsonl, bare_jsonl, "polars.read_ndjson"),
        ("access", DATA / f"access_{args.size_mb}mb.log", make_access, bare_access, "line read + one regex extract"),
        ("logfmt", DATA / f"logfmt_{args.size_mb}mb.log", make_logfmt, bare_logfmt, "line read + one regex extract"),
        ("docker", DATA / f"docker_{args.size_mb}mb.log", make_docker, bare_docker,
         "read_ndjson of the envelope + json_decode of the payload"),
        ("alb", DATA / f"alb_{args.size_mb}mb.log", make_alb, bare_alb, "line read + one regex extract"),
    ]
    if args.only:
        cases = [c for c in cases if c[0] in args.only.split(",")]
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}; polars {pl.__version__}")
    print(f"{'case':8} {'MB':>6} {'lines':>10} {'baseline s':>10} {'ingest s':>9} {'ratio':>6}  baseline")
    for name, path, make, bare, label in cases:
        if not path.exists():
            make(path, args.size_mb)
        mb = path.stat().st_size / 1e6
        tb, nb = timed(bare, path, args.runs)
        to, no = timed(ours, path, args.runs)
        print(f"{name:8} {mb:6.0f} {no:10,} {tb:10.2f} {to:9.2f} {to / tb:6.2f}  {label}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
