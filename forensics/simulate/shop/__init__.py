"""``forensics simulate --scenario shop`` (compatibility entry point; the
scenario lives in :mod:`forensics.simulate.scenarios.shop`)."""

from __future__ import annotations

import os

from ..engine.run import SimulationResult, run
from ..scenarios.shop import DAY_START_MS, DEFAULT_SHOP_USERS, SCENARIO, SHOP_FORMATS

__all__ = ["simulate_shop", "SHOP_FORMATS", "DEFAULT_SHOP_USERS", "DAY_START_MS"]


def simulate_shop(
    out_dir: str | os.PathLike,
    *,
    seed: int = 7,
    users: int = DEFAULT_SHOP_USERS,
    formats: tuple[str, ...] | list[str] | None = None,
) -> SimulationResult:
    """Write the shop outage's logs and ``truth.json`` to ``out_dir``.

    Parameters
    ----------
    out_dir
        Folder to write into (created).
    seed
        Random seed: the same seed and options give byte-identical files.
    users
        Number of customers (about 0.8 sessions each on the day).
    formats
        Writers to run (see :data:`SHOP_FORMATS`); default all.

    Returns
    -------
    SimulationResult

    Examples
    --------
    >>> import tempfile
    >>> r = simulate_shop(tempfile.mkdtemp(), users=200, formats=["storefront"])
    >>> r.truth["trigger"]["sequence"]
    ['apply_coupon', 'change_currency', 'remove_item', 'apply_coupon', 'checkout']
    """
    return run(SCENARIO, out_dir, seed=seed, users=users, formats=formats)
