"""The behaviour model shared by every scenario: a population with personal
habits, and a day of ordinary sessions, each a walk on a Markov chain over
the scenario's actions.

A scenario describes its chain as data (:class:`Chain`): the stacked
transition matrices (one per habit profile), the start vectors, think times
and the per-step attributes (:class:`WalkAttr`, e.g. the course or the
product a step is about).  Everything is vectorized over sessions: one NumPy
step per walk position.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import polars as pl

DAY_MS = 86_400_000


@dataclass(frozen=True)
class Population:
    """Users and their habits (arrays indexed by user number); a scenario's
    population extends it with its own traits.

    Attributes
    ----------
    profile
        Habit profile index (a matrix of :attr:`Chain.matrices`).
    affinity
        ``(users, A + 1)`` float32 personal multipliers of transition columns.
    center_h
        Preferred hour of activity (UTC).
    rate
        Expected sessions per day.
    """

    profile: np.ndarray
    affinity: np.ndarray
    center_h: np.ndarray
    rate: np.ndarray

    @property
    def size(self) -> int:
        return int(self.profile.shape[0])


@dataclass(frozen=True)
class WalkAttr:
    """A per-step attribute of a walk (an Int16 column).

    Attributes
    ----------
    name
        Column name.
    draw
        ``(rng, pop, sess_user) -> values``: drawn for every session at the
        start, and again for the sessions whose next action is in ``redraw_on``.
    redraw_on
        Bool mask over action codes (length ``A + 1``).
    """

    name: str
    draw: Callable[[np.random.Generator, Population, np.ndarray], np.ndarray]
    redraw_on: np.ndarray


@dataclass(frozen=True)
class Chain:
    """A scenario's ordinary behaviour, as data.

    Attributes
    ----------
    matrices
        ``(profiles, A + 1, A + 1)`` row-stochastic transitions; index ``A``
        is the pseudo-action "session ends".
    starts
        ``(groups, A + 1)`` start distributions.
    start_group
        ``profile array -> start group per session``.
    dwell_s
        Median think time after each action (length ``A + 1``).
    attrs
        Per-step attributes, drawn in this order.
    max_steps
        Longest walk.
    min_gap_ms
        Added to every think time.
    start_spread_h
        Standard deviation of a session's start around the user's hour.
    session_extras
        Per-session columns drawn after the start times and before the walk
        (``(rng, sess_user) -> {name: values}``), e.g. guest sessions.
    """

    matrices: np.ndarray
    starts: np.ndarray
    start_group: Callable[[np.ndarray], np.ndarray]
    dwell_s: np.ndarray
    attrs: tuple[WalkAttr, ...]
    max_steps: int
    min_gap_ms: int
    start_spread_h: float
    session_extras: Callable[[np.random.Generator, np.ndarray], Mapping[str, np.ndarray]] | None = field(default=None)

    @property
    def end(self) -> int:
        return self.matrices.shape[1] - 1


def transition_matrices(actions: tuple[str, ...], rows_per_profile: list[dict[str, dict[str, float]]],
                        multipliers: list[dict[str, float] | None]) -> np.ndarray:
    """Stack one row-normalized matrix per profile.

    ``rows_per_profile[i]`` maps an action to its weighted next actions
    (``"END"`` ends the session; an action without a row ends it);
    ``multipliers[i]`` scales target columns of that matrix (None: none).

    Examples
    --------
    >>> m = transition_matrices(("a", "b"), [{"a": {"b": 1}, "b": {"END": 1}}], [{"b": 3.0}])
    >>> m.shape
    (1, 3, 3)
    """
    a_n = len(actions)
    code = {name: i for i, name in enumerate(actions)}
    out = []
    for rows, mult in zip(rows_per_profile, multipliers):
        m = np.zeros((a_n + 1, a_n + 1))
        for i, name in enumerate(actions):
            for target, w in (rows.get(name) or {"END": 1}).items():
                m[i, a_n if target == "END" else code[target]] = w
        m[a_n, a_n] = 1.0
        for target, f in (mult or {}).items():
            m[:a_n, a_n if target == "END" else code[target]] *= f
        out.append(m)
    stacked = np.stack(out)
    return stacked / stacked.sum(axis=2, keepdims=True)


def start_vector(actions: tuple[str, ...], table: dict[str, float]) -> np.ndarray:
    """Normalized start weights over ``actions`` plus END."""
    v = np.zeros(len(actions) + 1)
    for name, w in table.items():
        v[actions.index(name)] = w
    return v / v.sum()


def walk(rng: np.random.Generator, chain: Chain, pop: Population, sess_user: np.ndarray) -> pl.DataFrame:
    """Walk the chain once per session.

    Returns one row per action: ``sess`` (index into ``sess_user``), ``step``,
    ``action`` (code) and one column per :class:`WalkAttr`, ordered by
    ``sess``, ``step``.
    """
    mats = chain.matrices.astype(np.float32)
    end = chain.end
    n = sess_user.shape[0]
    prof = pop.profile[sess_user]
    cdf0 = np.cumsum(chain.starts, axis=1)
    cur = (rng.random(n)[:, None] > cdf0[chain.start_group(prof)]).sum(axis=1).astype(np.int8)
    values = [a.draw(rng, pop, sess_user) for a in chain.attrs]
    alive = np.arange(n)
    parts: list[tuple[np.ndarray, ...]] = []
    for step in range(chain.max_steps):
        if alive.size == 0:
            break
        a = cur[alive]
        parts.append((alive, np.full(alive.size, step, np.int16), a, *(v[alive] for v in values)))
        rows = mats[prof[alive], a] * pop.affinity[sess_user[alive]]
        cdf = np.cumsum(rows, axis=1)
        u = rng.random(alive.size, dtype=np.float32) * cdf[:, -1]
        nxt = np.minimum((cdf < u[:, None]).sum(axis=1), end).astype(np.int8)
        if step == chain.max_steps - 1:
            nxt[:] = end
        keep = nxt != end
        alive, nxt = alive[keep], nxt[keep]
        cur[alive] = nxt
        for attr, v in zip(chain.attrs, values):
            again = alive[attr.redraw_on[nxt]]
            v[again] = attr.draw(rng, pop, sess_user[again])
    width = 3 + len(values)
    cols = [np.concatenate(c) for c in zip(*parts)] if parts else [np.zeros(0, np.int64)] * width
    order = np.argsort(cols[0], kind="stable")
    data = {"sess": cols[0][order].astype(np.int64), "step": cols[1][order].astype(np.int16),
            "action": cols[2][order].astype(np.int8)}
    data.update({attr.name: c[order].astype(np.int16) for attr, c in zip(chain.attrs, cols[3:])})
    return pl.DataFrame(data)


def ordinary_day(rng: np.random.Generator, chain: Chain, pop: Population, day_start_ms: int,
                 sess_offset: int) -> pl.DataFrame:
    """One day of ordinary sessions for the whole population.

    Returns one row per request: ``sess`` (global session number, from
    ``sess_offset``), ``user``, the chain's session extras, ``step``,
    ``action``, the walk attributes and ``t`` (request start, epoch ms),
    sorted by ``sess``, ``t``.  Requests that would fall after midnight are
    dropped.
    """
    n_sess = rng.poisson(pop.rate)
    sess_user = np.repeat(np.arange(pop.size, dtype=np.int32), n_sess)
    start_h = (pop.center_h[sess_user] + rng.normal(0.0, chain.start_spread_h, size=sess_user.size)) % 24.0
    start_ms = (start_h * 3_600_000).astype(np.int64)
    extras = dict(chain.session_extras(rng, sess_user)) if chain.session_extras else {}
    walks = walk(rng, chain, pop, sess_user)
    sess = walks["sess"].to_numpy()
    act = walks["action"].to_numpy().astype(np.int64)
    gap = np.rint(rng.lognormal(0.0, 0.7, size=act.size) * chain.dwell_s[act] * 1000.0).astype(np.int64) + chain.min_gap_ms
    # Think time after an action delays the next request of the same session.
    prev_gap = np.concatenate(([0], gap[:-1]))
    first = np.concatenate(([True], sess[1:] != sess[:-1]))
    prev_gap[first] = 0
    cum = np.cumsum(prev_gap)
    seg_base = np.maximum.accumulate(np.where(first, cum, 0))
    t = day_start_ms + start_ms[sess] + (cum - seg_base) + rng.integers(0, 1000, size=act.size)
    out = walks.with_columns(
        (pl.Series(sess) + sess_offset).alias("sess"),
        pl.Series("user", sess_user[sess]),
        *(pl.Series(name, v[sess]) for name, v in extras.items()),
        pl.Series("t", t),
    ).select("sess", "user", *extras, "step", "action", *(a.name for a in chain.attrs), "t")
    return out.filter(pl.col("t") < day_start_ms + DAY_MS)
