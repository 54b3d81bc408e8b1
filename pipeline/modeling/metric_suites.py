"""One interface to the metrics of every task type, so evaluation, monitoring and comparison
never branch on the task themselves.

A :class:`MetricSuite` computes point values, bootstrap intervals, the paired comparison with a
champion and the report's curves from a target ``y`` and a model's scores as
:func:`pipeline.modeling.training.predict_scores` returns them: the positive class's probability
(binary), the class probabilities (multiclass) or the predicted number (regression).  Each family
lives in its own module (``metrics``, ``metrics_multiclass``, ``metrics_regression``) and shares the
Poisson bootstrap of ``resampling``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from pipeline.core.config import DatasetConfig
from pipeline.core.metric_names import METRICS_BY_TASK, per_class_recall
from pipeline.modeling import metrics as binary
from pipeline.modeling import metrics_multiclass as multiclass
from pipeline.modeling import metrics_regression as regression
from pipeline.modeling.resampling import MetricEstimate, PairedDifference


class MetricSuite(Protocol):
    """The metrics of one task type (see the module docstring)."""

    @property
    def task(self) -> str: ...

    @property
    def names(self) -> tuple[str, ...]:
        """Every metric an evaluation reports, in display order."""
        ...

    def point(self, y: np.ndarray, scores: np.ndarray, metrics: Sequence[str] | None = None) -> dict[str, float]:
        """The metrics on the full sample (None: all of :attr:`names`)."""
        ...

    def bootstrap(
        self,
        y: np.ndarray,
        scores: np.ndarray,
        *,
        n_resamples: int,
        seed: int,
        confidence: float,
        metrics: Sequence[str] | None = None,
    ) -> dict[str, MetricEstimate]:
        """Each metric with its percentile bootstrap interval."""
        ...

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
    ) -> tuple[dict[str, MetricEstimate], PairedDifference]:
        """The challenger's estimates and its paired difference from the champion on ``metric``."""
        ...

    def curves(self, y: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
        """The JSON-ready data behind the model report's plots."""
        ...

    def class_rows(self, y: np.ndarray) -> dict[str, int]:
        """Rows per class name (empty for regression): the promotion policy's minimum per class reads it."""
        ...

    def minority_rows(self, y: np.ndarray) -> int | None:
        """Rows of the rarest class (None for regression), for the small-sample flags."""
        ...


@dataclass(frozen=True)
class BinaryMetrics:
    """Binary classification: ``y`` is 0/1, ``scores`` the positive class's probability."""

    classes: tuple[str, ...]
    positive_class: str
    task: str = "binary"

    @property
    def names(self) -> tuple[str, ...]:
        return METRICS_BY_TASK["binary"]

    def point(self, y: np.ndarray, scores: np.ndarray, metrics: Sequence[str] | None = None) -> dict[str, float]:
        return binary.classification_metrics(y, scores, metrics=metrics)

    def bootstrap(
        self,
        y: np.ndarray,
        scores: np.ndarray,
        *,
        n_resamples: int,
        seed: int,
        confidence: float,
        metrics: Sequence[str] | None = None,
    ) -> dict[str, MetricEstimate]:
        return binary.bootstrap_metrics(
            y, scores, n_resamples=n_resamples, seed=seed, confidence=confidence, metrics=metrics
        )

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
    ) -> tuple[dict[str, MetricEstimate], PairedDifference]:
        return binary.compare_bootstrap(
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
        return binary.classification_curves(y, scores)

    def class_rows(self, y: np.ndarray) -> dict[str, int]:
        positives = int(np.asarray(y).sum())
        return {c: positives if c == self.positive_class else len(y) - positives for c in self.classes}

    def minority_rows(self, y: np.ndarray) -> int | None:
        return min(self.class_rows(y).values())


@dataclass(frozen=True)
class MulticlassMetrics:
    """Multiclass: ``y`` holds class indices into ``labels``, ``scores`` the (n, k) probabilities."""

    labels: tuple[str, ...]
    task: str = "multiclass"

    @property
    def names(self) -> tuple[str, ...]:
        return (*METRICS_BY_TASK["multiclass"], *(per_class_recall(c) for c in self.labels))

    def point(self, y: np.ndarray, scores: np.ndarray, metrics: Sequence[str] | None = None) -> dict[str, float]:
        return multiclass.multiclass_metrics(y, scores, self.labels, metrics=metrics)

    def bootstrap(
        self,
        y: np.ndarray,
        scores: np.ndarray,
        *,
        n_resamples: int,
        seed: int,
        confidence: float,
        metrics: Sequence[str] | None = None,
    ) -> dict[str, MetricEstimate]:
        return multiclass.bootstrap_multiclass(
            y, scores, self.labels, n_resamples=n_resamples, seed=seed, confidence=confidence, metrics=metrics
        )

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
    ) -> tuple[dict[str, MetricEstimate], PairedDifference]:
        return multiclass.compare_multiclass(
            y,
            challenger,
            champion,
            self.labels,
            metric=metric,
            n_resamples=n_resamples,
            seed=seed,
            confidence=confidence,
            metrics=metrics,
        )

    def curves(self, y: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
        return multiclass.multiclass_curves(y, scores, self.labels)

    def class_rows(self, y: np.ndarray) -> dict[str, int]:
        counts = np.bincount(np.asarray(y, dtype=np.intp), minlength=len(self.labels))
        return {c: int(n) for c, n in zip(self.labels, counts)}

    def minority_rows(self, y: np.ndarray) -> int | None:
        return min(self.class_rows(y).values())


@dataclass(frozen=True)
class RegressionMetrics:
    """Regression: ``y`` and ``scores`` are numbers (the target and the post-processed prediction)."""

    task: str = "regression"

    @property
    def names(self) -> tuple[str, ...]:
        return METRICS_BY_TASK["regression"]

    def point(self, y: np.ndarray, scores: np.ndarray, metrics: Sequence[str] | None = None) -> dict[str, float]:
        return regression.regression_metrics(y, scores, metrics=metrics)

    def bootstrap(
        self,
        y: np.ndarray,
        scores: np.ndarray,
        *,
        n_resamples: int,
        seed: int,
        confidence: float,
        metrics: Sequence[str] | None = None,
    ) -> dict[str, MetricEstimate]:
        return regression.bootstrap_regression(
            y, scores, n_resamples=n_resamples, seed=seed, confidence=confidence, metrics=metrics
        )

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
    ) -> tuple[dict[str, MetricEstimate], PairedDifference]:
        return regression.compare_regression(
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
        return regression.regression_curves(y, scores)

    def class_rows(self, y: np.ndarray) -> dict[str, int]:
        return {}

    def minority_rows(self, y: np.ndarray) -> int | None:
        return None


def metric_suite(dataset: DatasetConfig) -> MetricSuite:
    """The metrics of ``dataset.task``."""
    if dataset.task == "multiclass":
        return MulticlassMetrics(labels=tuple(dataset.classes))
    if dataset.task == "regression":
        return RegressionMetrics()
    return BinaryMetrics(classes=tuple(dataset.classes), positive_class=str(dataset.positive_class))
