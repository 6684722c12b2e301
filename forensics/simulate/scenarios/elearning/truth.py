"""``truth.json`` of the e-learning outage, computed from what was written."""

from __future__ import annotations

import polars as pl

from ...engine import truth as common
from ...engine.scenario import IncidentDay
from ...engine.truth import iso, shown
from .plan import Plan
from .vocab import ACTIONS, CODE

#: Writer -> component (the folder a file lives in, as ingest names it).
COMPONENT = {"app": "app", "nginx": "nginx", "cache": "cache", "redis": "cache", "postgres": "db", "auth": "auth"}
#: Timestamp precision of each writer's lines (ms): nginx logs whole seconds.
PRECISION = {"nginx": 1000}
LAYER = {"cache": "cache", "db": "db", "app": "content", "nginx": "content", "auth": "auth"}
FAILING = ("inc_content", "inc_auth")
STORY = ("a rare four-step sequence poisons the cached content of the most popular course; cache errors, "
         "database timeouts, failed content delivery and failing token refreshes follow; a database restart "
         "(and cache flush) at 16:20 looks like a fix until a second user repeats the sequence at ~16:45; "
         "a hotfix at 18:30 ends it")


def _episode(n: int, window: tuple[int, int], frames: dict[str, pl.DataFrame], occ: list[dict]) -> dict:
    cond = (pl.col("cause") == "incident") & (pl.col("ep") == n)
    firsts, last = common.first_errors(frames, cond, PRECISION, COMPONENT.__getitem__)
    by_service: dict[str, int] = {}
    for name, f in frames.items():
        hit = f.filter(cond & pl.col("err")).select(shown(PRECISION.get(name, 1)).alias("s"),
                                                    pl.col("svc").fill_null(COMPONENT[name]))
        for svc, ts in hit.group_by("svc").agg(pl.col("s").min()).iter_rows():
            by_service[svc] = min(by_service.get(svc, ts), ts)
    onset = min(firsts.values()) if firsts else None
    return {
        "kind": "incident", "episode": n, "trigger_completed_at": occ[n - 1]["completed_at"] if n <= len(occ) else None,
        "onset": iso(onset), "start": iso(onset), "end": iso(last), "fault_window": [iso(window[0]), iso(window[1])],
        "cascade": common.cascade(firsts, lambda c: {"layer": LAYER[c]}),
        "cascade_by_service": [{"service": k, "first_error": iso(v)}
                               for k, v in sorted(by_service.items(), key=lambda kv: (kv[1], kv[0]))],
    }


def _deploy(plan: Plan, reqs: pl.DataFrame, frames: dict[str, pl.DataFrame]) -> dict:
    d0, d1 = plan.deploy
    firsts, last = common.first_errors(frames, pl.col("cause") == "deploy", PRECISION)
    onset = min(firsts.values()) if firsts else d0
    return {"kind": "unrelated_deploy", "cause": "bad deploy (release 2023.11.02-2); no user-sequence cause",
            "onset": iso(onset), "start": iso(onset), "end": iso(last if last is not None else d1),
            "fault_window": [iso(d0), iso(d1)], "proxy_502s": int(reqs.filter(pl.col("kind") == "deploy_502").height)}


def _decoys(plan: Plan, day: IncidentDay, visible: pl.DataFrame, frames: dict[str, pl.DataFrame], first_onset: str | None,
            deploy: dict) -> list[dict]:
    story = plan.story
    out = common.rare_decoys(visible, (("rare_harmless", story.rare_harmless), ("coincidence", story.coincidence)),
                             CODE, user="uid", first_onset=first_onset)
    out.append(common.common_path(visible, day.reqs, story.common_path, CODE, FAILING))
    out.append(common.retry_after_error(
        visible, ACTIONS, (CODE["open_course"], CODE["open_course"]),
        "the first action failed; the user repeats it (or logs in again after an auth "
        "error) seconds later: a sequence that comes after errors, not before"))
    noise: dict[str, int] = {}
    for name, f in frames.items():
        n = int(f.filter((pl.col("cause") == "background") & pl.col("err")).height)
        noise[COMPONENT[name]] = noise.get(COMPONENT[name], 0) + n
    out.append({"kind": "background_errors", "description": "a steady trickle of unrelated errors in every component",
                "errors_per_component": dict(sorted(noise.items()))})
    out.append({"kind": "unrelated_burst", "description": "bad deploy: proxy 502s for a few minutes, no user-sequence cause",
                **{k: deploy[k] for k in ("onset", "start", "end", "fault_window", "proxy_502s")}})
    return out


def document(day: IncidentDay, files: dict, config: dict) -> dict:
    """The ground-truth document (see ``truth.json`` of ``forensics simulate``)."""
    plan: Plan = day.plan
    reqs = day.reqs
    frames = {k: f.filter(~pl.col("mal")) for k, f in day.errors.items()}
    visible = reqs.filter(pl.col("kind") != "deploy_502").sort("sess", "t", maintain_order=True)
    n = len(plan.story.trigger)
    occ = common.occurrences(reqs.filter(pl.col("trigger_done")).sort("t"), visible, rid="rid", user="uid",
                             request_tail=n, action_tail=n)
    eps = [_episode(k, window, frames, occ) for k, window in enumerate(plan.episodes, start=1)]
    deploy = _deploy(plan, reqs, frames)
    doc = {
        "schema_version": common.SCHEMA_VERSION,
        "generator": {"name": "forensics simulate", **config},
        "scenario": {"date": "2023-11-02", "platform": "e-learning (students and instructors)", "story": STORY,
                     "db_restart": iso(plan.end_1), "fixed_at": iso(plan.end_2)},
        "trigger": common.trigger_entry(plan.story.trigger, plan.story.resource, occ),
        "bursts": [*eps, deploy],
        "component_onset_order": [[c["component"] for c in e["cascade"]] for e in eps],
        "service_onset_order": [[c["service"] for c in e["cascade_by_service"]] for e in eps],
        "affected": common.affected(plan.episodes, reqs, user="uid", kinds=FAILING,
                                    definition="users with a failed request (content or auth) among users with any "
                                               "request during the two fault windows"),
        "decoys": _decoys(plan, day, visible, frames, eps[0]["onset"] if eps else None, deploy),
        "repaired_requests": day.repaired,
        "files": {rel: c.as_dict() for rel, c in sorted(files.items())},
    }
    return common.add_story(doc, plan.story, visible, target=f"course {int(day.pop.course_ids[plan.story.target])}")
