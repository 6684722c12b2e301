"""The registry of scenarios: name -> :class:`~forensics.simulate.engine.scenario.Scenario`.

A new scenario is one folder here (``scenarios/<name>/``, exporting
``SCENARIO``) plus one line in :data:`SCENARIOS`.
"""

from __future__ import annotations

from ..engine.scenario import Scenario
from .elearning import SCENARIO as ELEARNING
from .shop import SCENARIO as SHOP

SCENARIOS: dict[str, Scenario] = {s.name: s for s in (ELEARNING, SHOP)}
