"""``forensics simulate``: a simulated outage as raw multi-format logs plus
a ground-truth file (``truth.json``).

>>> import tempfile
>>> from forensics.simulate import simulate
>>> result = simulate(tempfile.mkdtemp(), seed=7, users=100, formats=["app"])
>>> sorted(result.files)
['app/app.jsonl', 'app/app.jsonl.1.gz']

Layout: one engine, several scenarios.

* :mod:`.engine` -- shared by every scenario: the population's Markov chain
  walk and the ordinary day (:mod:`.engine.chain`), scripted sessions,
  background faults, retries, abandonment and the repair
  (:mod:`.engine.requests`), render frames and ids (:mod:`.engine.render`),
  the part-wise, time-ordered writing with malformed-line injections
  (:mod:`.engine.stream`, :mod:`.engine.sink`), the shared pieces of
  ``truth.json`` (:mod:`.engine.truth`), the protocol a scenario provides
  (:mod:`.engine.scenario`: a frozen :class:`Scenario` with a
  :class:`Story` of what is planted) and the driver (:mod:`.engine.run`).
* :mod:`.scenarios` -- one folder per scenario (``elearning``, ``shop``),
  each exporting ``SCENARIO``, and the registry :data:`SCENARIOS`.  A new
  scenario is a new folder plus one registry line.

What is planted is a story (:class:`~.engine.scenario.Story`): the default
seed (7) tells each scenario's fixed story, the postmortem's (as in
``sample_logs/``); every other seed draws its own trigger (3 to 6 ordinary
actions), decoys and poisoned resource (:mod:`.engine.draw`) and records them
in ``truth.json`` (``trigger.drawn``, ``story``).  ``story="fixed"`` or
``"drawn"`` chooses either on any seed.

The default scenario's day is 2023-11-02 (with ``days > 1`` the incident is
on the last day and the earlier days are ordinary).  Generation is
vectorized with NumPy/Polars and streamed in parts; the same seed gives
byte-identical files.
"""

from __future__ import annotations

import os

from .engine.run import DEFAULT_SEED, STORIES, SimulationResult, run
from .scenarios import SCENARIOS
from .scenarios.elearning import DEFAULT_USERS, FORMATS, INCIDENT_DAY_MS

__all__ = ["simulate", "simulate_scenario", "SimulationResult", "FORMATS", "DEFAULT_USERS", "DEFAULT_SEED",
           "SCENARIOS", "STORIES", "INCIDENT_DAY_MS"]

def simulate(
    out_dir: str | os.PathLike,
    *,
    seed: int = DEFAULT_SEED,
    users: int = DEFAULT_USERS,
    days: int = 1,
    formats: tuple[str, ...] | list[str] | None = None,
    story: str | None = None,
) -> SimulationResult:
    """Write a simulated outage of an e-learning platform to ``out_dir``.

    Parameters
    ----------
    out_dir
        Folder to write into (created; existing files of the same names are
        replaced).
    seed
        Random seed: the same seed and options give byte-identical files.
    users
        Population size (students and about 6% instructors).
    days
        Days of traffic; the incident is on the last day, 2023-11-02.
    formats
        Writers to run (see :data:`FORMATS`); default all.  ``truth.json`` is
        always written.
    story
        ``fixed`` (the postmortem's trigger and decoys), ``drawn`` (drawn
        from the seed) or None: fixed for :data:`DEFAULT_SEED`, drawn for
        any other seed.

    Returns
    -------
    SimulationResult

    Examples
    --------
    >>> import tempfile
    >>> r = simulate(tempfile.mkdtemp(), users=60, formats=["app"])
    >>> r.truth["trigger"]["sequence"]
    ['start_quiz', 'switch_language', 'download_material', 'submit_quiz']
    """
    return run(SCENARIOS["elearning"], out_dir, seed=seed, users=users, days=days, formats=formats, story=story)


def simulate_scenario(
    name: str,
    out_dir: str | os.PathLike,
    *,
    seed: int = DEFAULT_SEED,
    users: int | None = None,
    days: int = 1,
    formats: tuple[str, ...] | list[str] | None = None,
    story: str | None = None,
) -> SimulationResult:
    """Write the outage of the scenario ``name`` (see :data:`SCENARIOS`) to
    ``out_dir``; ``users`` defaults to the scenario's default, ``story`` as
    in :func:`simulate`."""
    sc = SCENARIOS[name]
    return run(sc, out_dir, seed=seed, users=users or sc.default_users, days=days, formats=formats, story=story)
