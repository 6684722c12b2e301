"""The cascade of one burst: which component failed first, and what followed.

For each component that runs hot in the burst: its first error (the onset
of its run: a stray baseline error before the run does not count, and only
errors inside the burst window count), its error count inside the window,
and its dominant error kinds (top 3).  Components are ordered by first error
(ties by name) even when clocks are skewed by a few seconds between sources:
the order is what the logs say, and the lead times show how close a call it
is.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from .model import CascadeStep

TOP_KINDS = 3


def build_cascade(window_errors: pl.DataFrame, first_errors: dict[str, datetime]) -> tuple[CascadeStep, ...]:
    """Cascade steps for the components in ``first_errors``.

    Parameters
    ----------
    window_errors
        The error events inside the burst window: ``_comp``, ``error_kind``.
    first_errors
        Component -> its first error (onset) in the burst.

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime, timezone
    >>> t = lambda s: datetime(2023, 11, 2, 16, 14, s, tzinfo=timezone.utc)
    >>> errs = pl.DataFrame({"_comp": ["cache", "db", "db"], "error_kind": ["cache: bad", "db: q", "db: q"]})
    >>> steps = build_cascade(errs, {"db": t(58), "cache": t(49)})
    >>> [(s.component, s.errors, s.lead_s) for s in steps]
    [('cache', 1, 9.0), ('db', 2, None)]
    """
    if not first_errors:
        return ()
    comps = list(first_errors)
    w = window_errors.filter(pl.col("_comp").is_in(comps))
    counts = dict(w.group_by("_comp").agg(pl.len()).iter_rows())
    kinds = (
        w.group_by("_comp", "error_kind").agg(pl.len().alias("n"))
        .sort(["_comp", "n", "error_kind"], descending=[False, True, False])
        .group_by("_comp", maintain_order=True).agg(pl.col("error_kind").head(TOP_KINDS))
    )
    kind_map = {c: tuple(k for k in ks if k is not None) for c, ks in kinds.iter_rows()}
    order = sorted(comps, key=lambda c: (first_errors[c], c))
    steps = []
    for i, c in enumerate(order):  # one per component: a handful
        lead = (first_errors[order[i + 1]] - first_errors[c]).total_seconds() if i + 1 < len(order) else None
        steps.append(CascadeStep(component=c, first_error=first_errors[c], errors=int(counts.get(c, 0)),
                                 error_kinds=kind_map.get(c, ()), lead_s=lead))
    return tuple(steps)


def cascade_text(steps: tuple[CascadeStep, ...]) -> str:
    """``cache 16:14:58 -> db +9 s -> content +33 s``: each ``+`` is the lead
    time from the previous component's first error (``lead_s``).

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> t = lambda s: datetime(2023, 11, 2, 16, 14, s, tzinfo=timezone.utc)
    >>> cascade_text((CascadeStep("cache", t(49), 5, (), 9.0), CascadeStep("db", t(58), 3, (), None)))
    'cache 16:14:49 -> db +9 s'
    """
    if not steps:
        return ""
    parts = [f"{steps[0].component} {steps[0].first_error:%H:%M:%S}"]
    for prev, s in zip(steps, steps[1:]):
        parts.append(f"{s.component} +{(s.first_error - prev.first_error).total_seconds():.0f} s")
    return " -> ".join(parts)
