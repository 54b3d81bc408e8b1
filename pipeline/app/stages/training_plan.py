"""The plan of one ct_train run: the contract every later training step receives.

Kept apart from ``plan.py`` (which decides it) so the steps that only read a plan, register among
them, do not depend on the module that plans, which itself finishes decisions through register.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from pipeline.app.contracts import Contract


@dataclass(frozen=True)
class TrainingPlan(Contract):
    """What one run trains: a snapshot and one or more candidate specs.

    ``spec_name`` is the spec when there is a single candidate; with several it is empty until
    the best candidate is chosen (the choose step returns the plan with the winner filled in).
    """

    snapshot_id: str
    spec_name: str
    config_hash: str
    trigger: dict[str, Any]
    force: bool
    existing_version: int | None
    candidates: tuple[str, ...] = ()

    def per_candidate(self) -> tuple[TrainingPlan, ...]:
        """One plan per candidate, each with that candidate as its spec: what the DAG maps
        its train task over (one task instance per candidate)."""
        return tuple(replace(self, spec_name=name) for name in self.candidates)
