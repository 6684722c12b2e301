"""Drawing a story per seed: the trigger, the decoy sequences and the
ordinary steps around them in the scripted sessions.

A scenario describes what a story may be made of (:class:`Vocabulary`);
:func:`draw_sequences` draws from it with the seed's story stream.  The
draw is realistic rather than tuned to any miner:

* a trigger has 3 to 6 steps, drawn from the scenario's ordinary actions
  with weights that flatten their frequencies (so frequent and infrequent
  actions mix), no action twice in a row, its last step one that touches the
  poisoned resource (and only there), and sometimes (``P_COMMON_INSIDE``)
  one of the most common actions inside;
* the decoys (a rare harmless sequence, a coincidence) have 3 to 5 steps of
  the less common actions; no planted sequence contains another;
* every planted sequence must be rare by construction: in a probe of
  ordinary sessions (the chain walked ``PROBE_SESSIONS`` times) at most
  ``PROBE_MAX`` sessions complete it (as a subsequence, any gaps: 1 in
  1,000), so the engine's repair (which deletes every accidental completion
  outside the scripted sessions) deletes about one request in 1,000
  sessions at any scale;
* the ordinary steps around a planted sequence (:class:`Frame`) avoid its
  own actions; a scripted session completes no planted sequence but its own
  (checked, else drawn again), and the two trigger sessions share no step
  but the trigger.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from .chain import Chain, Population, walk
from .requests import first_completion

#: Ordinary sessions walked to check that a drawn sequence is rare.
PROBE_SESSIONS = 20_000
#: Most probe sessions a planted sequence may complete (1 in 1,000 sessions).
PROBE_MAX = 20
#: Chance that a trigger has one of the most common actions inside.
P_COMMON_INSIDE = 0.4
#: How many of the most frequent actions count as "common".
N_COMMON = 3
#: Draws tried before giving up (a vocabulary that cannot make a rare story).
ATTEMPTS = 400


@dataclass(frozen=True)
class Frame:
    """The ordinary steps before (``prefix``) and after (``suffix``) a planted
    sequence in one scripted session."""

    prefix: tuple[str, ...]
    suffix: tuple[str, ...]


@dataclass(frozen=True)
class Vocabulary:
    """What a scenario's drawn stories are made of.

    Attributes
    ----------
    steps
        Ordinary actions a planted sequence may use.
    last
        Actions that touch the poisoned resource (a trigger ends with one).
    fillers
        Ordinary actions that may surround planted sequences.
    opener
        The action a session usually starts with (``login``).
    common_session
        The actions of the scripted common-path sessions (which must not
        complete a planted sequence).
    readers
        Filler actions that read the poisoned resource: a trigger session
        goes on with one of them right after the trigger (its user is the
        first to see the fault, as in the fixed story).
    """

    steps: tuple[str, ...]
    last: tuple[str, ...]
    fillers: tuple[str, ...]
    opener: str
    common_session: tuple[str, ...]
    readers: tuple[str, ...]


@dataclass(frozen=True)
class Drawn:
    """A drawn trigger, its decoys and the frames of the scripted sessions
    (``trigger_1``, ``trigger_2``, ``rare_harmless``, ``coincidence``)."""

    trigger: tuple[str, ...]
    rare_harmless: tuple[str, ...]
    coincidence: tuple[str, ...]
    frames: tuple[tuple[str, Frame], ...]
    shares: Mapping[str, float]


def probe(rng: np.random.Generator, chain: Chain, pop: Population, n: int = PROBE_SESSIONS) -> pl.DataFrame:
    """``n`` ordinary sessions of ``pop`` (users weighted by their rate):
    ``sess``, ``pos`` (row number) and ``action``."""
    users = rng.choice(pop.size, size=n, p=pop.rate / pop.rate.sum()).astype(np.int32)
    walks = walk(rng, chain, pop, users)
    return walks.select("sess", "action").with_row_index("pos").with_columns(pl.col("pos").cast(pl.Int64))


def is_subsequence(small: Sequence[str], big: Sequence[str]) -> bool:
    """Whether ``small`` occurs in ``big`` in order (any gaps).

    >>> is_subsequence(("a", "c"), ("a", "b", "c")), is_subsequence(("c", "a"), ("a", "b", "c"))
    (True, False)
    """
    it = iter(big)
    return all(a in it for a in small)


def draw_sequences(rng: np.random.Generator, vocab: Vocabulary, probe_walks: pl.DataFrame,
                   code: Mapping[str, int]) -> Drawn:
    """Draw a trigger, two decoys and the frames (see the module docstring).
    Raises RuntimeError when ``ATTEMPTS`` draws found no rare story."""
    counts = probe_walks["action"].value_counts()
    freq = dict(zip(counts["action"].to_list(), counts["count"].to_list()))
    total = max(sum(freq.values()), 1)
    shares = {a: freq.get(code[a], 0) / total for a in vocab.steps}
    common = tuple(sorted(vocab.steps, key=lambda a: -shares[a])[:N_COMMON])
    rare = tuple(a for a in vocab.steps if a not in common)

    def is_rare(seq: tuple[str, ...]) -> bool:
        return first_completion(probe_walks, [code[a] for a in seq]).height <= PROBE_MAX

    length = int(rng.integers(3, 7))
    for attempt in range(ATTEMPTS):
        # A length that yields no rare draw gives way to a longer one.
        length = min(length + (attempt > 0 and attempt % (ATTEMPTS // 4) == 0), 6)
        trigger = _trigger(rng, length, shares, common, rare, vocab.last)
        if trigger is None or not is_rare(trigger):
            continue
        decoys = []
        for _ in range(2):
            d = _sequence(rng, int(rng.integers(3, 6)), rare, shares, last=tuple(a for a in rare if a != trigger[-1]))
            if d is None or not is_rare(d) or any(is_subsequence(d, s) or is_subsequence(s, d) for s in (trigger, *decoys)):
                break
            decoys.append(d)
        if len(decoys) < 2:
            continue
        frames = _frames(rng, vocab, trigger, decoys)
        if _clean(vocab, trigger, decoys, frames):
            return Drawn(trigger, decoys[0], decoys[1], frames, shares)
    raise RuntimeError("no rare story could be drawn from this vocabulary")


def _weights(pool: Sequence[str], shares: Mapping[str, float]) -> np.ndarray:
    """Draw weights over ``pool``: the square root of each action's share
    (flattened, so common and uncommon actions mix)."""
    w = np.sqrt(np.array([max(shares[a], 1e-6) for a in pool]))
    return w / w.sum()


def _sequence(rng: np.random.Generator, n: int, pool: Sequence[str], shares: Mapping[str, float], *,
              last: Sequence[str]) -> tuple[str, ...] | None:
    """``n`` actions of ``pool`` (the last from ``last``), none twice in a
    row, none more than twice, the last one nowhere before it."""
    if not last:
        return None
    end = str(rng.choice(last, p=_weights(last, shares)))
    body: list[str] = []
    choices = [a for a in pool if a != end]
    if not choices:
        return None
    w = _weights(choices, shares)
    for _ in range(n - 1):
        a = str(rng.choice(choices, p=w))
        if (body and body[-1] == a) or body.count(a) >= 2:
            return None
        body.append(a)
    if body and body[-1] == end:
        return None
    return (*body, end)


def _trigger(rng: np.random.Generator, n: int, shares: Mapping[str, float], common: tuple[str, ...],
             rare: tuple[str, ...], last: Sequence[str]) -> tuple[str, ...] | None:
    """A trigger of ``n`` steps: uncommon actions, sometimes one common
    action inside; the last step from ``last`` (not a common action)."""
    seq = _sequence(rng, n, rare, shares, last=[a for a in last if a not in common])
    if seq is None:
        return None
    if rng.random() < P_COMMON_INSIDE:
        i = int(rng.integers(1, n - 1))
        c = str(rng.choice(common, p=_weights(common, shares)))
        seq = (*seq[:i], c, *seq[i + 1:])
        if any(x == y for x, y in zip(seq, seq[1:])):
            return None
    return seq


def _frames(rng: np.random.Generator, vocab: Vocabulary, trigger: tuple[str, ...],
            decoys: Sequence[tuple[str, ...]]) -> tuple[tuple[str, Frame], ...]:
    """Ordinary steps around each scripted sequence, none of the sequence's
    own actions (so it completes at its last step only).  The two trigger
    sessions get disjoint ones; each goes on with two reads of the resource
    (two readers, or one read twice; none when its half has no reader)."""
    def pool(seq: tuple[str, ...]) -> list[str]:
        return [str(a) for a in rng.permutation([a for a in vocab.fillers if a not in seq])]

    def opener(seq: tuple[str, ...]) -> tuple[str, ...]:
        return () if vocab.opener in seq else (vocab.opener,)

    def trigger_frame(half: list[str], start: tuple[str, ...]) -> Frame:
        reads = [a for a in half if a in vocab.readers][:2]
        rest = [a for a in half if a not in reads]
        return Frame((*start, *rest[:2]), tuple(reads * (3 - len(reads)))[:2])

    t = pool(trigger)
    rare, coincidence = pool(decoys[0]), pool(decoys[1])
    return (
        ("trigger_1", trigger_frame(t[0::2], opener(trigger))),
        ("trigger_2", trigger_frame(t[1::2], ())),
        ("rare_harmless", Frame((*opener(decoys[0]), *rare[:1]), tuple(rare[1:2]))),
        ("coincidence", Frame(tuple(coincidence[:1]), ())),
    )


def _clean(vocab: Vocabulary, trigger: tuple[str, ...], decoys: Sequence[tuple[str, ...]],
           frames: tuple[tuple[str, Frame], ...]) -> bool:
    """Whether each scripted session completes its own planted sequence only."""
    f = dict(frames)
    sessions = {
        "trigger": [(*f[k].prefix, *trigger, *f[k].suffix) for k in ("trigger_1", "trigger_2")],
        "rare_harmless": [(*f["rare_harmless"].prefix, *decoys[0], *f["rare_harmless"].suffix)],
        "coincidence": [(*f["coincidence"].prefix, *decoys[1], *f["coincidence"].suffix)],
        "common_path": [vocab.common_session],
    }
    own = {"trigger": trigger, "rare_harmless": decoys[0], "coincidence": decoys[1], "common_path": ()}
    for role, acts in sessions.items():
        for seq_role, seq in own.items():
            if seq_role != role and seq and any(is_subsequence(seq, s) for s in acts):
                return False
    # The trigger completes only at its last step (its last action nowhere
    # else in the session), and its user reads the resource right after.
    return all(s.count(trigger[-1]) == 1 for s in sessions["trigger"]) and all(
        f[k].suffix for k in ("trigger_1", "trigger_2"))


def offsets(rng: np.random.Generator, n: int, *, end: int = 0, gap: tuple[int, int] = (20_000, 75_000)) -> list[int]:
    """Offsets (ms from the completion) of ``n`` steps ending at ``end``,
    consecutive steps ``gap`` apart (drawn)."""
    gaps = rng.integers(gap[0], gap[1], size=max(n - 1, 0))
    back = np.concatenate(([0], np.cumsum(gaps[::-1])))[::-1]
    return [int(end - b) for b in back]


def framed(rng: np.random.Generator, seq: tuple[str, ...], frame: Frame, *, end: int = 0,
           after: Sequence[tuple[int, int]] = ((5_000, 45_000),)) -> list[tuple[str, int]]:
    """A planted sequence with its frame as ``(action, offset ms)`` in time
    order: the sequence's last step at ``end``, steps 20-75 s apart, the
    prefix 10-40 s apart before it, the suffix after the completion (offset
    0), the i-th suffix step ``after[i]`` (ms, drawn; the last range for the
    rest) after the one before."""
    steps = offsets(rng, len(seq), end=end)
    before = offsets(rng, len(frame.prefix) + 1, end=steps[0], gap=(10_000, 40_000))[:-1]
    ranges = [after[min(i, len(after) - 1)] for i in range(len(frame.suffix))]
    gaps = np.array([int(rng.integers(lo, hi)) for lo, hi in ranges], dtype=np.int64)
    later = (np.cumsum(gaps) + max(end, 0)).tolist()
    return [*zip(frame.prefix, before), *zip(seq, steps), *zip(frame.suffix, (int(x) for x in later))]
