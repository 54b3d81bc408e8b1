"""The stages of the loop, each a plain function that a DAG task (or a test) calls once.

Stages take ids and return small JSON-ready dicts, never DataFrames, so they can run on any worker
and be retried: every stage is idempotent (same inputs, same snapshot id, same model version, no
second promotion).
"""

from pipeline.stages.evaluate import evaluate_model
from pipeline.stages.ingest import (
    IngestOutcome,
    current_snapshot,
    ingest_landing,
    landing_status,
    ready_landing_files,
    snapshot_frame,
)
from pipeline.stages.plan import TrainingPlan, plan_training
from pipeline.stages.register import promote_if_better, register_model
from pipeline.stages.train import train_candidate
from pipeline.stages.validate import validate_snapshot

__all__ = [
    "IngestOutcome", "TrainingPlan", "current_snapshot", "evaluate_model", "ingest_landing", "landing_status", "plan_training",
    "promote_if_better", "ready_landing_files", "register_model", "snapshot_frame", "train_candidate",
    "validate_snapshot",
]
