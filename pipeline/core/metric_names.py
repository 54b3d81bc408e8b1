"""The metrics the pipeline knows by name, per task type, and which way each one is better.

The config schema validates metric names against these lists and every gate, window and report
reads the direction from here, so adding a metric is one entry in each table (and its
computation in ``pipeline.modeling.metrics``, ``metrics_multiclass`` or ``metrics_regression``).
A name means the same thing wherever two tasks share it, computed the task's way: ``roc_auc`` of
a multiclass model is the one-vs-rest macro average, ``accuracy`` is the share of rows whose
predicted class is the true one. Multiclass models also report the recall of each class as
``recall[<class>]`` (see :func:`per_class_recall`), which floors may name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal, get_args

TaskType = Literal["binary", "multiclass", "regression"]
TASK_TYPES: tuple[str, ...] = get_args(TaskType)

BINARY_METRICS: tuple[str, ...] = (
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
MULTICLASS_METRICS: tuple[str, ...] = (
    "accuracy",
    "balanced_accuracy",
    "f1_macro",
    "f1_weighted",
    "log_loss",
    "roc_auc",
)
REGRESSION_METRICS: tuple[str, ...] = ("rmse", "mae", "r2", "mape", "median_ae")

METRICS_BY_TASK: dict[str, tuple[str, ...]] = {
    "binary": BINARY_METRICS,
    "multiclass": MULTICLASS_METRICS,
    "regression": REGRESSION_METRICS,
}

DEFAULT_PRIMARY: dict[str, str] = {"binary": "roc_auc", "multiclass": "roc_auc", "regression": "rmse"}
"""The primary metric when ``promotion.primary_metric`` is not set."""

METRIC_NAMES: tuple[str, ...] = BINARY_METRICS
"""The binary metrics, the only ones before task types (kept for the binary code paths)."""

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
    "f1_macro": True,
    "f1_weighted": True,
    "rmse": False,
    "mae": False,
    "r2": True,
    "mape": False,
    "median_ae": False,
}

SCALE_DEPENDENT: frozenset[str] = frozenset({"rmse", "mae", "median_ae"})
"""Metrics in the label's own units. A margin or drop of one of them is a share of the champion's
value (``margin: 0.01`` = 1% of its RMSE), because an absolute amount would mean something else
for prices in euros than for durations in seconds; every other metric lies on a fixed scale and
takes margins as absolute amounts."""


def tolerance(metric: str, amount: float, reference: float | None) -> float:
    """``amount`` as an absolute tolerance on ``metric``: scaled by ``|reference|`` (the champion's
    value) for a scale-dependent metric, as given otherwise."""
    if metric in SCALE_DEPENDENT and reference is not None:
        return amount * abs(reference)
    return amount


_PER_CLASS = re.compile(r"^recall\[(?P<cls>.+)\]$")


def per_class_recall(class_name: str) -> str:
    """The name of one class's recall in a multiclass evaluation: ``recall[<class>]``."""
    return f"recall[{class_name}]"


def higher_is_better(metric: str) -> bool:
    """Which way ``metric`` is better (per-class recalls are, like every recall, higher)."""
    if _PER_CLASS.match(metric):
        return True
    return HIGHER_IS_BETTER[metric]


def metric_problem(metric: str, task: str, classes: Sequence[str] = ()) -> str | None:
    """Why ``metric`` cannot be used for ``task`` (None: it can), naming the ones that can."""
    known = METRICS_BY_TASK[task]
    if metric in known:
        return None
    per_class = _PER_CLASS.match(metric)
    if task == "multiclass" and per_class:
        if per_class["cls"] in classes:
            return None
        return f"{metric!r} names no class of dataset.classes {list(classes)}"
    extra = ", or recall[<class>] for one class" if task == "multiclass" else ""
    return f"unknown metric {metric!r} for a {task} task; expected one of {list(known)}{extra}"
