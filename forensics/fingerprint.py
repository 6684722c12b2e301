"""One code fingerprint for every cache: a hash of the package's own source.

A cache entry made by other code (a development build of the same version)
is never reused.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

_ROOT = Path(__file__).resolve().parent


@cache
def code_fingerprint(*parts: str) -> str:
    """Hash of the ``.py`` files under ``parts`` (paths relative to the
    package; a folder is taken whole), or of the whole package without parts.

    Examples
    --------
    >>> len(code_fingerprint()), code_fingerprint("ingest", "schema.py") != code_fingerprint()
    (16, True)
    """
    files: list[Path] = []
    for part in parts or (".",):
        p = _ROOT / part
        files.extend(p.rglob("*.py") if p.is_dir() else [p])
    h = hashlib.sha256()
    for f in sorted(set(files)):
        h.update(str(f.relative_to(_ROOT)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]
