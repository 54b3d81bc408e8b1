"""One interface to the metrics of every task type, so evaluation, monitoring and comparison
never branch on the task themselves.

A :class:`MetricSuite` computes point values, bootstrap intervals, the paired comparison with a
champion and the report's curves from a target ``y`` and a model's scores as
:func:`pipeline.modeling.training.predict_scores` returns them: the positive class's probability
(binary), the class probabilities (multiclass) or the predicted number (regression).  Each family
lives in its own module (``metrics``, ``metrics_multiclass``, ``metrics_regression``), shares the
Poisson bootstrap of ``resampling`` and offers the same four functions; a suite holds the task's
four, with the class names bound for multiclass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from pipeline.core.config import DatasetConfig
from pipeline.core.metric_names import METRICS_BY_TASK, per_class_recall
from pipeline.modeling import metrics as binary
from pipeline.modeling import metrics_multiclass as multiclass
from pipeline.modeling import metrics_regression as regression
from pipeline.modeling.resampling import MetricEstimate, PairedDifference

Estimates = dict[str, MetricEstimate]


@dataclass(frozen=True)
class MetricSuite:
    """The metrics of one task type (see the module docstring).

    ``names`` are every metric an evaluation reports, in display order; ``classes`` the class
    names in ``dataset.classes`` order (empty for regression) and ``positive_class`` the binary
    task's positive one.
    """

    task: str
    names: tuple[str, ...]
    classes: tuple[str, ...]
    positive_class: str | None
    point_fn: Callable[..., dict[str, float]]
    bootstrap_fn: Callable[..., Estimates]
    compare_fn: Callable[..., tuple[Estimates, PairedDifference]]
    curves_fn: Callable[[np.ndarray, np.ndarray], dict[str, Any]]

    def point(self, y: np.ndarray, scores: np.ndarray, metrics: Sequence[str] | None = None) -> dict[str, float]:
        """The metrics on the full sample (None: all of :attr:`names`)."""
        return self.point_fn(y, scores, metrics=metrics)

    def bootstrap(
        self,
        y: np.ndarray,
        scores: np.ndarray,
        *,
        n_resamples: int,
        seed: int,
        confidence: float,
        metrics: Sequence[str] | None = None,
    ) -> Estimates:
        """Each metric with its percentile bootstrap interval."""
        return self.bootstrap_fn(y, scores, n_resamples=n_resamples, seed=seed, confidence=confidence, metrics=metrics)

    def compare(
        self,
        y: np.ndarray,
        challenger: np.ndarray,
        champion: np.ndarray,
        *,
        metric: str,
        n_resamples: int,
        seed: int,
        confidence: float,
        metrics: Sequence[str] | None = None,
    ) -> tuple[Estimates, PairedDifference]:
        """The challenger's estimates and its paired difference from the champion on ``metric``."""
        return self.compare_fn(
            y,
            challenger,
            champion,
            metric=metric,
            n_resamples=n_resamples,
            seed=seed,
            confidence=confidence,
            metrics=metrics,
        )

    def curves(self, y: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
        """The JSON-ready data behind the model report's plots."""
        return self.curves_fn(y, scores)

    def class_rows(self, y: np.ndarray) -> dict[str, int]:
        """Rows per class name (empty for regression): the promotion policy's minimum per class reads it."""
        if self.task == "regression":
            return {}
        if self.task == "binary":
            positives = int(np.asarray(y).sum())
            return {c: positives if c == self.positive_class else len(y) - positives for c in self.classes}
        counts = np.bincount(np.asarray(y, dtype=np.intp), minlength=len(self.classes))
        return {c: int(n) for c, n in zip(self.classes, counts)}

    def minority_rows(self, y: np.ndarray) -> int | None:
        """Rows of the rarest class (None for regression), for the small-sample flags."""
        rows = self.class_rows(y)
        return min(rows.values()) if rows else None


def metric_suite(dataset: DatasetConfig, threshold: float = 0.5) -> MetricSuite:
    """The metrics of ``dataset.task``; a binary suite predicts positive at ``P(positive) >= threshold``
    (``evaluation.decision_threshold``), the other tasks ignore it."""
    classes = tuple(dataset.classes)
    if dataset.task == "multiclass":
        return MetricSuite(
            task="multiclass",
            names=(*METRICS_BY_TASK["multiclass"], *(per_class_recall(c) for c in classes)),
            classes=classes,
            positive_class=None,
            point_fn=partial(multiclass.multiclass_metrics, labels=classes),
            bootstrap_fn=partial(multiclass.bootstrap_multiclass, labels=classes),
            compare_fn=partial(multiclass.compare_multiclass, labels=classes),
            curves_fn=partial(multiclass.multiclass_curves, labels=classes),
        )
    if dataset.task == "regression":
        return MetricSuite(
            task="regression",
            names=METRICS_BY_TASK["regression"],
            classes=(),
            positive_class=None,
            point_fn=regression.regression_metrics,
            bootstrap_fn=regression.bootstrap_regression,
            compare_fn=regression.compare_regression,
            curves_fn=regression.regression_curves,
        )
    return MetricSuite(
        task="binary",
        names=METRICS_BY_TASK["binary"],
        classes=classes,
        positive_class=dataset.positive_class,
        point_fn=partial(binary.classification_metrics, threshold=threshold),
        bootstrap_fn=partial(binary.bootstrap_metrics, threshold=threshold),
        compare_fn=partial(binary.compare_bootstrap, threshold=threshold),
        curves_fn=partial(binary.classification_curves, threshold=threshold),
    )
