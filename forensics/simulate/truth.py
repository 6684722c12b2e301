"""``truth.json``: what really happened, computed from what was written."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import polars as pl

from .model import Population
from .scenario import Plan, first_completion
from .vocab import ACTIONS, CODE, COINCIDENCE, COMMON_PATH, RARE_HARMLESS, TRIGGER

SCHEMA_VERSION = 1
#: Writer -> component (the folder a file lives in, as ingest names it).
COMPONENT = {"app": "app", "nginx": "nginx", "cache": "cache", "redis": "cache", "postgres": "db", "auth": "auth"}
#: Timestamp precision of each writer's lines (ms): nginx logs whole seconds.
PRECISION = {"nginx": 1000}
LAYER = {"cache": "cache", "db": "db", "app": "content", "nginx": "content", "auth": "auth"}


def iso(t_ms: int | None) -> str | None:
    if t_ms is None:
        return None
    return dt.datetime.fromtimestamp(t_ms / 1000, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _shown(name: str) -> pl.Expr:
    p = PRECISION.get(name, 1)
    return (pl.col("t") // p) * p


class TruthBuilder:
    """Collects the incident day's facts; :meth:`document` renders them."""

    def __init__(self, *, seed: int, users: int, days: int, formats: tuple[str, ...], pop: Population) -> None:
        self.config = {"seed": seed, "users": users, "days": days, "formats": list(formats)}
        self.pop = pop
        self.facts: dict = {}

    # ---------------------------------------------------------------- day

    def incident_day(self, plan: Plan, reqs: pl.DataFrame, frames: dict[str, pl.DataFrame], repaired: int) -> None:
        frames = {k: f.filter(~pl.col("mal")) for k, f in frames.items()}
        visible = reqs.filter(pl.col("kind") != "deploy_502").sort("sess", "t", maintain_order=True)
        done = reqs.filter(pl.col("trigger_done")).sort("t")
        key = f"course:{done['cid'][0]}:content"
        occurrences = []
        for row in done.iter_rows(named=True):
            steps = visible.filter((pl.col("sess") == row["sess"]) & ~pl.col("retry") & (pl.col("t") <= row["t"])).tail(len(TRIGGER))
            occurrences.append({
                "user": row["uid"], "session": row["sid"], "completed_at": iso(row["end"]),
                "request_ids": steps["rid"].to_list(), "completing_request_id": row["rid"],
                "actions": steps["name"].to_list(),
            })
        episodes = []
        for n, (start, end) in enumerate(plan.episodes, start=1):
            firsts: dict[str, int] = {}
            by_service: dict[str, int] = {}
            last = None
            for name, f in frames.items():
                hit = f.filter((pl.col("cause") == "incident") & pl.col("err") & (pl.col("ep") == n)).select(
                    _shown(name).alias("s"), pl.col("svc").fill_null(COMPONENT[name]))
                if hit.height:
                    comp = COMPONENT[name]
                    t0 = int(hit["s"].min())
                    firsts[comp] = min(firsts.get(comp, t0), t0)
                    t1 = int(hit["s"].max())
                    last = t1 if last is None else max(last, t1)
                    for svc, ts in hit.group_by("svc").agg(pl.col("s").min()).iter_rows():
                        by_service[svc] = min(by_service.get(svc, ts), ts)
            order = sorted(firsts, key=lambda c: (firsts[c], c))
            onset = firsts[order[0]] if order else None
            episodes.append({
                "kind": "incident", "episode": n, "trigger_completed_at": occurrences[n - 1]["completed_at"] if n <= len(occurrences) else None,
                "onset": iso(onset), "start": iso(onset), "end": iso(last),
                "fault_window": [iso(start), iso(end)],
                "cascade": [{"component": c, "layer": LAYER[c], "first_error": iso(firsts[c]),
                             "lead_s": round((firsts[order[i + 1]] - firsts[c]) / 1000, 3) if i + 1 < len(order) else None}
                            for i, c in enumerate(order)],
                "cascade_by_service": [{"service": k, "first_error": iso(v)}
                                       for k, v in sorted(by_service.items(), key=lambda kv: (kv[1], kv[0]))],
            })
        d0, d1 = plan.deploy
        deploy_errs = {n: f.filter((pl.col("cause") == "deploy") & pl.col("err")).select(_shown(n).alias("s"))["s"]
                       for n, f in frames.items()}
        dep_times = [int(s.min()) for s in deploy_errs.values() if s.len()]
        dep_last = [int(s.max()) for s in deploy_errs.values() if s.len()]
        deploy = {"kind": "unrelated_deploy", "cause": "bad deploy (release 2023.11.02-2); no user-sequence cause",
                  "onset": iso(min(dep_times)) if dep_times else iso(d0), "start": iso(min(dep_times)) if dep_times else iso(d0),
                  "end": iso(max(dep_last)) if dep_last else iso(d1), "fault_window": [iso(d0), iso(d1)],
                  "proxy_502s": int(reqs.filter(pl.col("kind") == "deploy_502").height)}
        self.facts = {
            "plan": plan, "key": key, "occurrences": occurrences, "episodes": episodes, "deploy": deploy,
            "decoys": self._decoys(plan, reqs, visible, episodes),
            "affected": self._affected(plan, reqs),
            "noise": self._noise(frames),
            "repaired": repaired,
        }

    @staticmethod
    def _noise(frames: dict[str, pl.DataFrame]) -> dict[str, int]:
        """Background (unrelated) error events per component."""
        out: dict[str, int] = {}
        for name, f in frames.items():
            n = int(f.filter((pl.col("cause") == "background") & pl.col("err")).height)
            out[COMPONENT[name]] = out.get(COMPONENT[name], 0) + n
        return dict(sorted(out.items()))

    def _decoys(self, plan: Plan, reqs: pl.DataFrame, visible: pl.DataFrame, episodes: list[dict]) -> list[dict]:
        out = []
        for role, seq in (("rare_harmless", RARE_HARMLESS), ("coincidence", COINCIDENCE)):
            rows = visible.filter((pl.col("role") == role) & ~pl.col("retry") & (pl.col("action") == CODE[seq[-1]]))
            rows = rows.sort("t").unique("sess", keep="last", maintain_order=True)
            entry = {"kind": role, "sequence": list(seq), "times": [iso(t) for t in rows["end"].to_list()],
                     "users": rows["uid"].to_list(), "sessions": rows["sid"].to_list()}
            if role == "coincidence" and episodes and episodes[0]["onset"] and rows.height:
                onset = dt.datetime.fromisoformat(episodes[0]["onset"].replace("Z", "+00:00")).timestamp() * 1000
                entry["before_onset_s"] = round((onset - rows["end"][0]) / 1000, 1)
                entry["onset"] = episodes[0]["onset"]
            out.append(entry)
        # The common path: most sessions, failing ones included.
        pos = visible.with_row_index("pos").with_columns(pl.col("pos").cast(pl.Int64))
        with_path = set(first_completion(pos, COMMON_PATH)["sess"].to_list())
        failing = set(reqs.filter(pl.col("kind").is_in(["inc_content", "inc_auth"]))["sess"].to_list())
        sessions = visible["sess"].n_unique()
        out.append({"kind": "common_path", "sequence": list(COMMON_PATH),
                    "sessions": len(with_path), "share_of_sessions": round(len(with_path) / max(sessions, 1), 4),
                    "failing_sessions_with_path": len(with_path & failing), "failing_sessions": len(failing)})
        # Retries: the same request again (or a new login) right after an error.
        retry = visible.filter(pl.col("retry"))
        pairs = Counter(zip(retry["retry_of"].to_list(), retry["action"].to_list()))
        (before, again) = pairs.most_common(1)[0][0] if pairs else (CODE["open_course"], CODE["open_course"])
        times = retry.filter((pl.col("retry_of") == before) & (pl.col("action") == again)).sort("t")["end"].to_list()
        out.append({"kind": "retry_after_error", "sequence": [ACTIONS[before], ACTIONS[again]],
                    "description": "the first action failed; the user repeats it (or logs in again after an auth "
                                   "error) seconds later: a sequence that comes after errors, not before",
                    "retry_requests": retry.height, "sessions": retry["sess"].n_unique(), "count": len(times),
                    "times": [iso(t) for t in times[:20]], "times_listed": min(len(times), 20)})
        out.append({"kind": "background_errors", "description": "a steady trickle of unrelated errors in every component"})
        out.append({"kind": "unrelated_burst", "description": "bad deploy: proxy 502s for a few minutes, no user-sequence cause"})
        return out

    def _affected(self, plan: Plan, reqs: pl.DataFrame) -> dict:
        inside = pl.lit(False)
        for start, end in plan.episodes:
            inside = inside | pl.col("t").is_between(start, end)
        active = reqs.filter(inside)["uid"].n_unique()
        hit = reqs.filter(pl.col("kind").is_in(["inc_content", "inc_auth"]))["uid"].n_unique()
        return {"active_users": active, "affected_users": hit, "share": round(hit / max(active, 1), 4),
                "definition": "users with a failed request (content or auth) among users with any request during the two fault windows"}

    # ------------------------------------------------------------- document

    def document(self, files: dict) -> dict:
        f = self.facts
        plan: Plan = f["plan"]
        eps = f["episodes"]
        decoys = f["decoys"]
        for d in decoys:
            if d["kind"] == "background_errors":
                d["errors_per_component"] = f["noise"]
            if d["kind"] == "unrelated_burst":
                d.update({k: f["deploy"][k] for k in ("onset", "start", "end", "fault_window", "proxy_502s")})
        return {
            "schema_version": SCHEMA_VERSION,
            "generator": {"name": "forensics simulate", **self.config},
            "scenario": {
                "date": "2023-11-02", "platform": "e-learning (students and instructors)",
                "story": "a rare four-step sequence poisons the cached content of the most popular course; cache errors, "
                         "database timeouts, failed content delivery and failing token refreshes follow; a database restart "
                         "(and cache flush) at 16:20 looks like a fix until a second user repeats the sequence at ~16:45; "
                         "a hotfix at 18:30 ends it",
                "db_restart": iso(plan.end_1), "fixed_at": iso(plan.end_2),
            },
            "trigger": {
                "sequence": list(TRIGGER), "cache_key": f["key"],
                "completion_times": [o["completed_at"] for o in f["occurrences"]],
                "sessions": [o["session"] for o in f["occurrences"]],
                "users": [o["user"] for o in f["occurrences"]],
                "request_ids": [o["completing_request_id"] for o in f["occurrences"]],
                "occurrences": f["occurrences"],
            },
            "bursts": [*eps, f["deploy"]],
            "component_onset_order": [[c["component"] for c in e["cascade"]] for e in eps],
            "service_onset_order": [[c["service"] for c in e["cascade_by_service"]] for e in eps],
            "affected": f["affected"],
            "decoys": decoys,
            "repaired_requests": f["repaired"],
            "files": {rel: c.as_dict() for rel, c in sorted(files.items())},
        }
