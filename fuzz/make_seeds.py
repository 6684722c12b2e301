"""Write seed inputs for fuzz/fuzz_ingest.py from sample_logs/ (a few real
lines per format), so the fuzzer starts from well-formed logs.

    python fuzz/make_seeds.py   # -> fuzz/corpus_a, fuzz/corpus_b
"""

from __future__ import annotations

from pathlib import Path

from forensics.ingest import formats

ROOT = Path(__file__).resolve().parent
SAMPLES = ROOT.parent / "sample_logs"
GROUPS = {
    "corpus_a": ("jsonl", "logfmt", "access", "syslog", "file"),
    "corpus_b": ("plain", "postgres", "redis"),
}
EXTRA = {
    "logfmt": b'ts=2023-11-02T16:14:58Z level=error user=u1 action="switch language" key=page:1 msg="boom"\n',
    "plain": b"2023-11-02 16:14:58,123 ERROR [main] com.acme.Foo - boom user=u42\njava.lang.X: y\n\tat a.b(C.java:1)\n",
    "syslog": b"<13>Nov  2 16:14:58 host sshd[42]: Failed password for alice from 10.0.0.1\n",
}


def _sample_lines() -> dict[str, bytes]:
    from forensics.ingest.reader import read_lines

    found: dict[str, bytes] = {}
    for path in sorted(SAMPLES.rglob("*")):
        if not path.is_file() or path.suffix in (".md", ".json"):
            continue
        raw = read_lines(path)
        text = raw.lines.head(64)["text"].to_list()
        fmt = formats.sniff([t for t in text if t.strip()])
        found.setdefault(fmt, ("\n".join(text[:6]) + "\n").encode())
    for k, v in EXTRA.items():
        found.setdefault(k, v)
    return found


def main() -> None:
    lines = _sample_lines()
    for corpus, targets in GROUPS.items():
        out = ROOT / corpus
        out.mkdir(exist_ok=True)
        for i, target in enumerate(targets):
            if target == "file":
                for fmt, body in lines.items():
                    for kind in range(4):  # raw, gzip, bzip2, zstd (bytes: target, kind, cut, cut, flip, flip)
                        (out / f"seed_{fmt}_{kind}").write_bytes(bytes([i, kind, 0, 0, 0, 0]) + body)
                continue
            if target in lines:
                (out / f"seed_{target}").write_bytes(bytes([i]) + lines[target])
    print("seeds written:", {c: len(list((ROOT / c).iterdir())) for c in GROUPS})


if __name__ == "__main__":
    main()
