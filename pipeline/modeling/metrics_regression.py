"""Regression metrics with fast, vectorised Poisson-bootstrap intervals (to be built)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pipeline.modeling.resampling import MetricEstimate, PairedDifference


def regression_metrics(
    y_true: np.ndarray, predicted: np.ndarray, metrics: Sequence[str] | None = None
) -> dict[str, float]:
    raise NotImplementedError


def bootstrap_regression(
    y_true: np.ndarray,
    predicted: np.ndarray,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    metrics: Sequence[str] | None = None,
) -> dict[str, MetricEstimate]:
    raise NotImplementedError


def compare_regression(
    y_true: np.ndarray,
    predicted_challenger: np.ndarray,
    predicted_champion: np.ndarray,
    metric: str = "rmse",
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    metrics: Sequence[str] | None = None,
) -> tuple[dict[str, MetricEstimate], PairedDifference]:
    raise NotImplementedError


def regression_curves(y_true: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    raise NotImplementedError
