"""``forensics simulate --scenario shop``: the entry point the CLI imports
(the scenario itself lives in :mod:`forensics.simulate.scenarios.shop`;
:func:`forensics.simulate.simulate_scenario` runs any registered one)."""

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
    story: str | None = None,
) -> SimulationResult:
    """Write the shop outage's logs and ``truth.json`` to ``out_dir`` (see
    :func:`forensics.simulate.simulate_scenario`; formats: :data:`SHOP_FORMATS`;
    ``story`` as in :func:`forensics.simulate.simulate`).

    Examples
    --------
    >>> import tempfile
    >>> r = simulate_shop(tempfile.mkdtemp(), users=200, formats=["storefront"])
    >>> r.truth["trigger"]["sequence"]
    ['apply_coupon', 'change_currency', 'remove_item', 'apply_coupon', 'checkout']
    """
    return run(SCENARIO, out_dir, seed=seed, users=users, formats=formats, story=story)
