"""The stages of the loop, each a plain function that a DAG task (or a test) calls once.

Stages take ids and typed contracts and return contracts (frozen dataclasses, see
``pipeline.app.contracts``), never DataFrames, so they can run on any worker and be retried: every
stage is idempotent (same inputs, same snapshot id, same model version, no second promotion).
``pipeline.app.training_flow`` puts the training stages in ct_train's order.

The names below are imported on first use (PEP 562), so ``from pipeline.app.stages.register import
promote_version`` does not pull in scikit-learn through the training stages: an alias move by
hand stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "evaluate_model": "pipeline.app.stages.evaluate",
    "IngestOutcome": "pipeline.app.stages.ingest",
    "current_snapshot": "pipeline.app.stages.ingest",
    "ingest_landing": "pipeline.app.stages.ingest",
    "landing_status": "pipeline.app.stages.ingest",
    "ready_landing_files": "pipeline.app.stages.ingest",
    "snapshot_frame": "pipeline.app.stages.ingest",
    "TrainingPlan": "pipeline.app.stages.training_plan",
    "plan_training": "pipeline.app.stages.plan",
    "promote_if_better": "pipeline.app.stages.register",
    "register_model": "pipeline.app.stages.register",
    "fit_candidate": "pipeline.app.stages.train",
    "validate_snapshot": "pipeline.app.stages.validate",
}

_SUBMODULES = frozenset({"data", "evaluate", "folds", "ingest", "plan", "register", "train", "validate"})

__all__ = [
    "IngestOutcome",
    "TrainingPlan",
    "current_snapshot",
    "evaluate_model",
    "fit_candidate",
    "ingest_landing",
    "landing_status",
    "plan_training",
    "promote_if_better",
    "ready_landing_files",
    "register_model",
    "snapshot_frame",
    "validate_snapshot",
]  # the keys of _EXPORTS


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:  # ``stages.ingest`` as the eager package offered it
        return importlib.import_module(f"{__name__}.{name}")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pipeline.app.stages' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS, *_SUBMODULES})
