"""Brute-force reference miner: enumerate every gapped subsequence of every session.

Pure Python, exponential, for small inputs only.  It restates the occurrence
semantics of forensics/mining/candidates.py from scratch:

* an occurrence of (a1..ak) is a tuple of positions p1 < ... < pk in one
  session with action[pi] = ai, p(i+1) - pi - 1 <= max_gap and
  ts[pk] - ts[p1] <= max_span;
* its completion is (session, pk); eligible when ts[pk] < the session's cut
  (first error), which implies every step is before the error;
* a pattern is a candidate when some eligible occurrence lies wholly inside a
  pre-onset window [max(h - lookback, previous h), h), where h = onset +
  slack (the onset slack for timestamp precision), or inside a failing
  session's pre-error window [cut - lookback, cut).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from itertools import product


@dataclass
class RefSession:
    key: str
    ts: list[float]
    actions: list[str]
    cut: float = float("inf")  # first error (inf: never erred)
    failing: bool = False  # erred in a burst


@dataclass
class RefPattern:
    sessions: set = field(default_factory=set)
    completions: set = field(default_factory=set)  # (session, end)
    eligible: set = field(default_factory=set)  # eligible (session, end)
    window: bool = False


def occurrences(s: RefSession, k: int, max_gap: int, max_span: float):
    """Every valid index path of length k in session ``s``."""
    n = len(s.actions)
    for p1 in range(n):
        for gaps in product(range(max_gap + 1), repeat=k - 1):
            pos = [p1]
            for g in gaps:
                pos.append(pos[-1] + 1 + g)
            if pos[-1] >= n:
                continue
            if s.ts[pos[-1]] - s.ts[pos[0]] > max_span:
                continue
            yield tuple(pos)


def reference(sessions: list[RefSession], onsets: list[float], *, lookback: float, max_len: int, max_gap: int,
              max_span: float, slack: float = 0.0) -> dict[tuple[str, ...], RefPattern]:
    """Every candidate pattern (length 2..max_len) with its reference counts."""
    onsets = sorted({o + slack for o in onsets})
    windows = [(max(o - lookback, onsets[i - 1] if i else float("-inf")), o) for i, o in enumerate(onsets)]
    out: dict[tuple[str, ...], RefPattern] = defaultdict(RefPattern)
    for s in sessions:
        for k in range(2, max_len + 1):
            for pos in occurrences(s, k, max_gap, max_span):
                pat = tuple(s.actions[i] for i in pos)
                r = out[pat]
                r.sessions.add(s.key)
                r.completions.add((s.key, pos[-1]))
                start, end = s.ts[pos[0]], s.ts[pos[-1]]
                if end < s.cut:
                    r.eligible.add((s.key, pos[-1]))
                    if any(lo <= start and end < hi for lo, hi in windows):
                        r.window = True
                    if s.failing and start >= s.cut - lookback:
                        r.window = True
    return {p: r for p, r in out.items() if r.window}


def failing_with(r: RefPattern, sessions: list[RefSession]) -> int:
    fail = {s.key for s in sessions if s.failing}
    return len({k for k, _ in r.eligible if k in fail})


def control_with(r: RefPattern, sessions: list[RefSession]) -> int:
    ctrl = {s.key for s in sessions if s.cut == float("inf")}
    return len({k for k in r.sessions if k in ctrl})


def link_u_reference(window: list[tuple[float, str]], first_error: dict[str, float], own: list[int],
                     slack: float) -> float:
    """Evidence (c) by brute force: the share of all ``len(own)``-subsets of
    the window's touches ``(tau, R)`` whose closest link ``f_R - tau``
    (``>= -slack``) is at most the candidate's (touches ``own``: indices
    into ``window``); 1 when the candidate's touches link nothing."""
    from itertools import combinations

    def closest(idx) -> float:
        ds = [first_error[window[i][1]] - window[i][0] for i in idx if window[i][1] in first_error]
        ds = [d for d in ds if d >= -slack]
        return min(ds) if ds else float("inf")

    obs = closest(own)
    if obs == float("inf"):
        return 1.0
    subsets = list(combinations(range(len(window)), len(own)))
    return sum(closest(s) <= obs for s in subsets) / len(subsets)
