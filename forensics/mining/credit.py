"""Which bursts each significant suspect explains, and the final ranking.

Stage 1 (:mod:`.score`) decides which candidates are associated with the
onsets at all (BH q-values).  This stage decides *which* onsets each one
explains and which suspects survive (docs/statistics.md, "Credit, explaining
away and ranking"):

1. **Per-onset credit.**  Onset ``j`` can be credited to a suspect only when
   its own precedence probability ``u_j`` or its own linkage ``u_j``
   (evidence (c), :mod:`.resource_evidence`) is ``<= alpha / (m K)``
   (Bonferroni over the ``m`` onsets and ``K`` competing hypotheses): every
   credited burst needs evidence of its own.
2. **Super-sequences first.**  When ``P`` is a proper subsequence of a
   significant ``Q`` and, before every onset that carries ``Q``'s evidence,
   ``P``'s closest completion is in the same session as ``Q``'s (the same
   occurrences), that evidence belongs to ``Q``: ``P`` keeps only the rest.
3. **One cause per onset (explaining away).**  Suspects are taken best
   first; each claims the onsets that carry its evidence, and what a lower
   suspect has left (unclaimed credited onsets) is re-tested: the
   order-statistic p-value over those onsets only (precedence or linkage,
   the smaller q), its q-value scaled by the same factor (``q' = q p' / p``),
   and the closeness-ratio floor on the onsets that carry it.  A suspect whose evidence all went to one higher suspect
   through the same sessions is listed under it (``collapsed``); one whose
   remaining evidence is not significant is dropped.
4. **Order.**  The number of credited onsets whose occurrence touched a
   resource that erred in that burst, then ``p_value`` (the best family times
   the number of families, after 1-3), then ``q_value``, then the longer sequence.  A
   smaller test family (a shorter length stratum) buys a smaller q but no
   better rank.

Sessions-enrichment suspects credit a burst only when the Fisher test on the
sessions that erred *in that burst* has ``p <= alpha / B`` (``B`` bursts).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import polars as pl

from .candidates import Counted, Prepared, dt_us
from .closed import is_subsequence
from .linkage import linked_evidence
from .model import MiningOptions
from .score import closest_completions
from .stats import closeness_ratio, enrichment, kstar_onsets, minp_order, prob_hit

#: At most this many significant candidates take part (best p first).
MAX_COMPETING = 400
#: Enrichment alone credits a burst only when at least this many of the
#: sessions that erred in it took the sequence (one session is no evidence
#: for a burst); an onset of the burst with its own precedence evidence
#: credits it too.
MIN_BURST_SESSIONS = 2
#: Columns of :attr:`Attribution.frame`.
FRAME_SCHEMA = {"gid": pl.Int64, "p_onset": pl.Float64, "p_link": pl.Float64, "p_value": pl.Float64, "q_value": pl.Float64,
                "rate_ratio": pl.Float64, "linked": pl.Int64, "deciding": pl.String}


@dataclass(frozen=True)
class Attribution:
    """Result of :func:`attribute`.

    ``frame`` has one row per reported suspect, best first: ``gid``,
    ``p_onset``, ``p_value``, ``q_value``, ``rate_ratio``, ``linked`` and
    ``deciding``; ``lead`` maps gid to the (m,) lead times in seconds of the
    onsets it explains (nan elsewhere); ``bursts`` maps gid to its credited
    burst ids; ``evidence_until`` maps gid to {completion row: end of the
    credited burst in us} for the occurrences that carry its evidence;
    ``folded`` maps gid to the gids listed under it (same occurrences).
    """

    frame: pl.DataFrame
    lead: dict[int, np.ndarray] = field(default_factory=dict)
    bursts: dict[int, tuple[int, ...]] = field(default_factory=dict)
    evidence_until: dict[int, dict[int, int]] = field(default_factory=dict)
    folded: dict[int, list[int]] = field(default_factory=dict)
    explained_away: int = 0


@dataclass(frozen=True)
class _Enrichment:
    """Per-burst session enrichment of the competing candidates."""

    sessions: dict[tuple[int, int], frozenset]  # (gid, burst) -> failing sessions with the sequence
    burst_sessions: dict[int, frozenset]  # burst -> sessions that erred in it
    control_with: dict[int, int]
    n0: int

    def test(self, gid: int, bursts) -> tuple[float, float]:
        """One-sided Fisher p and risk ratio over the sessions that erred in ``bursts``."""
        if not bursts:
            return 1.0, 0.0
        a = frozenset().union(*(self.sessions.get((gid, b), frozenset()) for b in bursts))
        n1 = frozenset().union(*(self.burst_sessions[b] for b in bursts))
        e = enrichment(np.array([len(a)]), np.array([self.control_with.get(gid, 0)]), len(n1), self.n0)
        return float(e["p"][0]), float(e["risk_ratio"][0])


def _burst_enrichment(p: Prepared, counted: Counted, gids: np.ndarray, session_errors: pl.DataFrame) -> _Enrichment:
    """Which failing sessions of which burst took each candidate (eligible occurrences)."""
    comp = counted.completions.filter(pl.col("elig") & pl.col("gid").is_in(pl.Series(gids).implode()))
    keys = np.asarray(p.session_keys, dtype=object)
    occ = pl.DataFrame({"gid": comp["gid"].to_numpy(),
                        "session_key": keys[p.sess[comp["row"].to_numpy()]].astype(str)},
                       schema={"gid": pl.Int64, "session_key": pl.String}).unique()
    se = session_errors.select("session_key", pl.col("burst_id").cast(pl.Int64)).unique()
    per = occ.join(se, on="session_key").group_by("gid", "burst_id").agg("session_key")
    ctrl = counted.patterns.filter(pl.col("gid").is_in(pl.Series(gids).implode())).select("gid", "control_with")
    return _Enrichment(
        sessions={(g, b): frozenset(s) for g, b, s in per.iter_rows()},
        burst_sessions={b: frozenset(s) for b, s in se.group_by("burst_id").agg("session_key").iter_rows()},
        control_with=dict(ctrl.iter_rows()), n0=int(p.control.sum()),
    )

@dataclass(frozen=True)
class _Stage:
    """The K competing candidates and m onsets that credit works on.

    (K, m) arrays: ``hit`` (a completion inside the onset's window), ``u``
    (its precedence probability), ``ul`` (its linkage ``u``, evidence (c);
    1 where none), ``sess`` / ``row`` / ``lead`` (session,
    row and lead time of the closest completion); (K,) arrays of the
    stage-1 scored frame; ``enr_bursts``: the bursts enrichment credits to
    each gid on its own (filled by :func:`_enrichment_credit`).
    """

    p: Prepared
    gids: np.ndarray
    codes: list[tuple[int, ...]]
    hit: np.ndarray
    u: np.ndarray
    ul: np.ndarray
    sess: np.ndarray
    row: np.ndarray
    lead: np.ndarray
    ends: np.ndarray  # (m,) end of the burst of each onset (us)
    sig: dict[str, np.ndarray]
    enr: _Enrichment
    options: MiningOptions
    enr_bursts: dict[int, tuple[int, ...]] = field(default_factory=dict)
    families: int = 2  # evidence families of stage 1 (the Bonferroni factor of ``p_value``)

    def _family(self, u: np.ndarray, mask: np.ndarray, name: str):
        """One onset-type family (``onset``: precedence, ``link``: linkage)
        over the onsets of ``mask``: (p, q, closeness ratio, ok, contributing onsets)."""
        s, alpha = self.sig, self.options.alpha
        uu = np.where(mask, u, 1.0)
        pf = np.ones(len(self.gids))
        some = mask.any(axis=1)
        if some.any():
            pf[some] = minp_order(uu[some])
        contrib = (uu < 1) & kstar_onsets(uu) & mask
        p1, q1 = s[f"p_{name}"], s[f"q_{name}"]
        qf = np.where(p1 > 0, np.minimum(1.0, q1 * pf / np.maximum(p1, 1e-300)), 1.0)
        rr = closeness_ratio(uu, contrib)
        ok = s[f"tested_{name}"] & some & (qf <= alpha) & (rr >= self.options.min_rate_ratio)
        return pf, qf, rr, ok, contrib

    def evaluate(self, mask: np.ndarray):
        """Onset evidence over the onsets of ``mask`` only, the better (smaller
        q) of precedence and linkage: (p, q, closeness ratio, ok, contributing
        onsets, (precedence p, linkage p, family))."""
        a = self._family(self.u, mask, "onset")
        c = self._family(self.ul, mask, "link")
        use_c = c[3] & (~a[3] | (c[1] < a[1]))
        pick = [np.where(use_c, y, x) for x, y in zip(a[:3], c[:3])]
        contrib = np.where(use_c[:, None], c[4], a[4])
        extra = (np.where(a[3], a[0], 1.0), np.where(c[3], c[0], 1.0), np.where(use_c, "link", "onset"))
        return pick[0], pick[1], pick[2], a[3] | c[3], contrib, extra

    def evaluate_b(self, claimed: set[int], onset_ok: np.ndarray):
        """Enrichment left after the bursts other suspects explain: (ok, q, p, bursts).
        Creditable bursts: enrichment within the burst, or an onset of it with its own
        precedence evidence (``onset_ok``: credited, unclaimed onsets)."""
        s, alpha, K = self.sig, self.options.alpha, len(self.gids)
        ok_b = np.zeros(K, dtype=bool)
        qb, pb = np.ones(K), np.ones(K)
        left: dict[int, tuple[int, ...]] = {}
        for i in np.flatnonzero(s["tested_enrichment"] & (s["q_enrichment"] <= alpha)):  # a few hundred
            g = int(self.gids[i])
            creditable = set(self.enr_bursts.get(g, ())) | {int(self.p.onset_burst[j])
                                                             for j in np.flatnonzero(onset_ok[i])}
            rest = tuple(sorted(creditable - claimed))
            if not rest:
                continue
            erred_in = {b for b in self.enr.burst_sessions if (g, b) in self.enr.sessions}
            if not erred_in & claimed:  # nothing of its evidence is explained by a higher suspect
                p1, rr1 = s["p_enrichment"][i], s["risk_ratio"][i]
            else:  # failing sessions of bursts a higher suspect explains no longer count
                p1, rr1 = self.enr.test(g, tuple(sorted(erred_in - claimed)))
            pb[i] = p1
            qb[i] = min(1.0, s["q_enrichment"][i] * p1 / max(s["p_enrichment"][i], 1e-300))
            ok_b[i] = qb[i] <= alpha and rr1 >= self.options.min_risk_ratio
            left[g] = rest
        return ok_b, qb, pb, left


def _stage(p: Prepared, counted: Counted, sig: pl.DataFrame, *, burst_end: dict[int, object],
           session_errors: pl.DataFrame, link_u: np.ndarray, options: MiningOptions) -> _Stage:
    """The competing candidates (best p first, at most :data:`MAX_COMPETING`) and their onset numbers."""
    sig = sig.with_row_index("_in").sort("p_value", "gid").head(MAX_COMPETING).sort("gid")
    K, m = sig.height, len(p.onsets)
    gids = sig["gid"].to_numpy()
    N = sig["completions"].to_numpy()
    r, lead, row = closest_completions(p, counted, gids)
    hit = r > 0
    u = np.where(hit, prob_hit(int(p.elig.sum()), np.maximum(r, 1), N[:, None]), 1.0) if m else np.ones((K, 0))
    cols = ("tested_onset", "p_onset", "q_onset", "tested_enrichment", "p_enrichment", "q_enrichment",
            "risk_ratio", "tested_link", "p_link", "q_link")
    arrays = {c: sig[c].to_numpy() for c in cols}
    arrays["p_enrichment"] = np.where(arrays["tested_enrichment"], arrays["p_enrichment"], 1.0)
    return _Stage(
        p=p, gids=gids, codes=[tuple(c) for c in sig["codes"].to_list()], hit=hit, u=u,
        ul=np.where(hit, link_u[sig["_in"].to_numpy()], 1.0) if m else np.ones((K, 0)),
        sess=np.where(hit, p.sess[np.maximum(row, 0)], -1), row=row, lead=lead,
        ends=np.array([dt_us(burst_end[int(b)]) for b in p.onset_burst], dtype=np.int64), sig=arrays,
        enr=_burst_enrichment(p, counted, gids, session_errors), options=options)


def _enrichment_credit(st: _Stage, competing: int) -> dict[int, tuple[int, ...]]:
    """Bursts each enrichment-significant candidate is credited with on its
    own: the Fisher test on the burst's own failing sessions passes at
    ``alpha / (bursts x competing)`` with at least :data:`MIN_BURST_SESSIONS`."""
    alpha, enr = st.options.alpha, st.enr
    n_bursts = max(len(enr.burst_sessions), 1)
    out: dict[int, tuple[int, ...]] = {}
    for i in np.flatnonzero(st.sig["tested_enrichment"] & (st.sig["q_enrichment"] <= alpha)):  # a few hundred
        g = int(st.gids[i])
        ok = []
        for b in sorted(enr.burst_sessions):  # a handful of bursts
            pb, rrb = enr.test(g, (b,))
            if (len(enr.sessions.get((g, b), ())) >= MIN_BURST_SESSIONS and pb <= alpha / (n_bursts * competing)
                    and rrb >= st.options.min_risk_ratio):
                ok.append(b)
        if ok:
            out[g] = tuple(ok)
    return out


def attribute(p: Prepared, counted: Counted, sig: pl.DataFrame, *, burst_end: dict[int, object],
              session_errors: pl.DataFrame, errors: pl.DataFrame, link_u: np.ndarray | None = None,
              options: MiningOptions) -> Attribution:
    """Credit onsets and bursts, explain away and rank the significant candidates.

    Parameters
    ----------
    p, counted
        Prepared actions and counted candidates.
    sig
        Stage-1 significant rows of the scored frame (:func:`.core.multiple_testing`).
    burst_end
        Burst id -> end (datetime) of every burst.
    session_errors
        The timeline's ``session_errors`` (session_key, burst_id, first_error).
    errors
        ``key`` and ``ts`` of the error events that carry a resource key.
    link_u
        (rows of ``sig``, m) linkage ``u`` of evidence (c) (None: no linkage family).
    options
        Mining settings (``alpha``, floors, ``top``).

    Returns
    -------
    Attribution
    """
    if sig.height == 0:
        return Attribution(frame=pl.DataFrame(schema=FRAME_SCHEMA))
    m = len(p.onsets)
    families = sum(1 for c in sig.columns if c.startswith("tested_"))
    if link_u is None:
        link_u = np.ones((sig.height, m))
        sig = sig.with_columns(tested_link=False, p_link=1.0, q_link=1.0)
    st = _stage(p, counted, sig, burst_end=burst_end, session_errors=session_errors, link_u=link_u, options=options)
    alpha, ta, tl = options.alpha, st.sig["tested_onset"][:, None], st.sig["tested_link"][:, None]

    def below(thr: float) -> np.ndarray:  # onsets with their own precedence or linkage evidence
        return st.hit & (((st.u <= thr) & ta) | ((st.ul <= thr) & tl))

    loose = below(alpha / max(m, 1))
    # 2. super-sequences first (on the onsets each could claim at all)
    dominated_by = _dominance(st.codes, loose, st.sess, *st.evaluate(loose)[3:5])
    # 1. per-onset credit: Bonferroni over the onsets and the competing hypotheses
    competing = max(int((dominated_by < 0).sum()), 1)
    credit = below(alpha / (max(m, 1) * competing))
    st = replace(st, enr_bursts=_enrichment_credit(st, competing), families=families)
    contrib0 = st.evaluate(credit)[4]
    mask = credit.copy()
    for i in np.flatnonzero(dominated_by >= 0):
        q = dominated_by[i]
        mask[i, contrib0[q] & credit[i] & (st.sess[i] == st.sess[q])] = False
    linked = linked_evidence(p, st.codes, credit, st.row, st.ends, errors, options=options)
    ranked, dropped, ever_b = _explain_away(st, mask, linked, contrib0, dominated_by)
    return _attribution(st, ranked, dropped, ever_b, contrib0)


def _explain_away(st: _Stage, mask: np.ndarray, linked: np.ndarray, contrib0: np.ndarray,
                  dominated_by: np.ndarray) -> tuple[list[tuple], dict[int, int], np.ndarray]:
    """3. One cause per onset (and per burst for enrichment), best first:
    the ranked rows, the dropped candidates (-> the suspect each is folded
    under, -1: none) and which ever had enrichment evidence left."""
    p, K, m = st.p, len(st.gids), len(st.p.onsets)
    claimed_by = np.full(m, -1)
    claimed_bursts: set[int] = set()
    alive = np.ones(K, dtype=bool)
    ranked: list[tuple] = []
    dropped: dict[int, int] = {}  # dropped candidate -> suspect it is folded under (-1: none)
    length = np.array([len(c) for c in st.codes])
    ever_b = np.zeros(K, dtype=bool)
    while alive.any() and len(ranked) < st.options.top:
        pa, qa, rr, ok_a, contrib, (p_on, p_ln, fam) = st.evaluate(mask & (claimed_by < 0)[None, :])
        ok_b, qb, pb, left = st.evaluate_b(claimed_bursts, mask & (claimed_by < 0)[None, :])
        ever_b |= ok_b
        for i in np.flatnonzero(alive & ~(ok_a | ok_b)):
            alive[i] = False
            dropped[i] = _folded_under(i, contrib0, dominated_by, claimed_by, st.sess)
        cand = np.flatnonzero(alive)
        if len(cand) == 0:
            break
        pv = np.minimum(1.0, st.families * np.minimum(np.where(ok_a, pa, 1.0), np.where(ok_b, pb, 1.0)))
        qv = np.minimum(np.where(ok_a, qa, 1.0), np.where(ok_b, qb, 1.0))
        nlink = (linked & contrib & ok_a[:, None]).sum(axis=1)
        best = min(cand, key=lambda i: (-nlink[i], pv[i], qv[i], -length[i], st.gids[i]))
        alive[best] = False
        ev = contrib[best] if ok_a[best] else np.zeros(m, dtype=bool)
        claimed_by[ev & (claimed_by < 0)] = best
        bursts = {int(p.onset_burst[j]) for j in np.flatnonzero(ev)}
        if ok_b[best]:
            bursts |= set(left[int(st.gids[best])])
        claimed_bursts |= bursts
        deciding = str(fam[best]) if ok_a[best] and (not ok_b[best] or qa[best] <= qb[best]) else "enrichment"
        ranked.append((best, p_on[best], p_ln[best], pv[best], qv[best], rr[best], int(nlink[best]),
                       deciding, ev, tuple(sorted(bursts))))
    return ranked, dropped, ever_b


def _attribution(st: _Stage, ranked: list[tuple], dropped: dict[int, int], ever_b: np.ndarray,
                 contrib0: np.ndarray) -> Attribution:
    """The :class:`Attribution` of the ranked rows; dropped candidates are
    folded under the reported suspect they lead to, or explained away."""
    gids = st.gids
    reported = {i for i, *_ in ranked}
    folded: dict[int, list[int]] = {}
    away = 0
    for i, rep in dropped.items():
        while rep >= 0 and rep not in reported and rep in dropped:  # follow chains to a reported suspect
            rep = dropped[rep]
        if rep >= 0 and rep in reported:
            folded.setdefault(int(gids[rep]), []).append(int(gids[i]))
        elif contrib0[i].any() or ever_b[i]:
            away += 1
    frame = pl.DataFrame(
        {"gid": [int(gids[i]) for i, *_ in ranked], "p_onset": [float(x[1]) for x in ranked],
         "p_link": [float(x[2]) for x in ranked], "p_value": [float(x[3]) for x in ranked],
         "q_value": [float(x[4]) for x in ranked], "rate_ratio": [float(x[5]) for x in ranked],
         "linked": [x[6] for x in ranked], "deciding": [x[7] for x in ranked]},
        schema=FRAME_SCHEMA,
    )
    lead_of, bursts_of, until_of = {}, {}, {}
    for i, *_, ev, bursts in ranked:
        g = int(gids[i])
        lead_of[g] = np.where(ev, st.lead[i], np.nan)
        bursts_of[g] = bursts
        until_of[g] = {int(st.row[i, j]): int(st.ends[j]) for j in np.flatnonzero(ev)}
    return Attribution(frame=frame, lead=lead_of, bursts=bursts_of, evidence_until=until_of, folded=folded,
                       explained_away=away)

def _dominance(codes: list[tuple[int, ...]], credit: np.ndarray, sess: np.ndarray, ok_a: np.ndarray,
               contrib: np.ndarray) -> np.ndarray:
    """Per candidate, the significant proper super-sequence (best first in
    index order of ``ok_a``) whose evidence onsets it shares through the same
    sessions (-1: none)."""
    K = len(codes)
    out = np.full(K, -1)
    for i in range(K):  # K^2 subsequence checks on a few hundred candidates at most
        for q in np.flatnonzero(ok_a):
            if q == i or len(codes[q]) <= len(codes[i]) or not is_subsequence(codes[i], codes[q]):
                continue
            cover = contrib[q]
            if cover.any() and (credit[i, cover] & (sess[i, cover] == sess[q, cover])).all():
                out[i] = q
                break
    return out


def _folded_under(i: int, contrib0: np.ndarray, dominated_by: np.ndarray, claimed_by: np.ndarray,
                  sess: np.ndarray) -> int:
    """The suspect a dropped candidate is listed under: its dominating
    super-sequence, or the one suspect that claimed every onset of its
    evidence through the same sessions (-1: none, it was explained away)."""
    if dominated_by[i] >= 0:
        return int(dominated_by[i])
    ev = np.flatnonzero(contrib0[i])
    if len(ev) == 0:
        return -1
    owners = set(claimed_by[ev].tolist())
    if len(owners) != 1 or -1 in owners:
        return -1
    owner = owners.pop()
    return owner if (sess[i, ev] == sess[owner, ev]).all() else -1
