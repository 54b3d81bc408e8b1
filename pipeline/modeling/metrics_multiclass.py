"""Multiclass metrics with fast, vectorised Poisson-bootstrap intervals (to be built)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pipeline.modeling.resampling import MetricEstimate, PairedDifference


def multiclass_metrics(
    y_true: np.ndarray, proba: np.ndarray, labels: Sequence[str], metrics: Sequence[str] | None = None
) -> dict[str, float]:
    raise NotImplementedError


def bootstrap_multiclass(
    y_true: np.ndarray,
    proba: np.ndarray,
    labels: Sequence[str],
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    metrics: Sequence[str] | None = None,
) -> dict[str, MetricEstimate]:
    raise NotImplementedError


def compare_multiclass(
    y_true: np.ndarray,
    proba_challenger: np.ndarray,
    proba_champion: np.ndarray,
    labels: Sequence[str],
    metric: str = "roc_auc",
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    metrics: Sequence[str] | None = None,
) -> tuple[dict[str, MetricEstimate], PairedDifference]:
    raise NotImplementedError


def multiclass_curves(y_true: np.ndarray, proba: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    raise NotImplementedError
