"""Where the project's shared datasets are: ``$FORENSICS_SHARED`` if set,
else the ``shared/`` folder beside the checkout (as CI lays it out)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    """The shared folder (it may be missing: callers skip with its path)."""
    env = os.environ.get("FORENSICS_SHARED")
    return Path(env) if env else REPO.parent / "shared"


def dataset(*parts: str) -> Path:
    """A path inside ``shared/datasets``."""
    return shared_dir().joinpath("datasets", *parts)
