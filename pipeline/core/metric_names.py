"""The metrics the pipeline knows by name, and which way each one is better.

The config schema validates metric names against this list and every gate, window and report
reads the direction from here, so adding a metric is one entry in each table (and its
computation in ``pipeline.modeling.metrics``).
"""

from __future__ import annotations

METRIC_NAMES: tuple[str, ...] = (
    "roc_auc",
    "pr_auc",
    "accuracy",
    "balanced_accuracy",
    "f1",
    "precision",
    "recall",
    "log_loss",
    "brier",
)

HIGHER_IS_BETTER: dict[str, bool] = {
    "roc_auc": True,
    "pr_auc": True,
    "accuracy": True,
    "balanced_accuracy": True,
    "f1": True,
    "precision": True,
    "recall": True,
    "log_loss": False,
    "brier": False,
}
