"""Honest evaluation of a trained model: deterministic holdout, k-fold on the training part,
bootstrap intervals, and the champion scored on the very same holdout rows.

Evaluation only produces evidence; the promotion policy (``promotion.py``) reads that evidence.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from pipeline.config import PipelineConfig
from pipeline.metrics import (
    METRIC_NAMES,
    bootstrap_metrics,
    classification_metrics,
    paired_bootstrap,
)
from pipeline.splits import Split, split_holdout, stratified_folds
from pipeline.training import features_and_target, predict_proba

log = logging.getLogger(__name__)


def holdout_split(frame: pd.DataFrame, config: PipelineConfig) -> Split:
    """The train/holdout split of a snapshot frame; a row keeps its side as data grows."""
    return split_holdout(frame, config.dataset.id_columns, config.evaluation.holdout_fraction, salt=config.dataset.name)


@dataclass(frozen=True)
class Evaluation:
    """The evidence about one candidate, JSON-ready through :meth:`to_dict`."""

    train_rows: int
    holdout_rows: int
    holdout: dict[str, dict[str, float]]
    cross_validation: dict[str, dict[str, float]]
    champion: dict[str, Any] | None
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"train_rows": self.train_rows, "holdout_rows": self.holdout_rows, "holdout": self.holdout,
                "cross_validation": self.cross_validation, "champion": self.champion, "seconds": self.seconds}


def cross_validate(template: Pipeline, train: pd.DataFrame, config: PipelineConfig) -> dict[str, dict[str, float]]:
    """Mean and std of every metric over stratified folds of the training part."""
    X, y = features_and_target(train, config.dataset)
    scores: dict[str, list[float]] = {m: [] for m in METRIC_NAMES}
    for fit_idx, val_idx in stratified_folds(y, config.evaluation.folds, config.evaluation.seed):
        model = clone(template).fit(X.iloc[fit_idx], y[fit_idx])
        fold = classification_metrics(y[val_idx], model.predict_proba(X.iloc[val_idx])[:, 1])
        for m in METRIC_NAMES:
            scores[m].append(fold[m])
    return {m: {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0, "folds": len(v)}
            for m, v in scores.items()}


def evaluate_candidate(
    model: Pipeline,
    frame: pd.DataFrame,
    split: Split,
    config: PipelineConfig,
    champion: Pipeline | None = None,
    champion_version: int | None = None,
) -> Evaluation:
    """Score ``model`` (and the champion, when there is one) on the holdout of ``frame``."""
    started = time.perf_counter()
    ecfg = config.evaluation
    holdout = frame.iloc[split.holdout_index]
    train = frame.iloc[split.train_index]
    _, y = features_and_target(holdout, config.dataset)
    proba = predict_proba(model, holdout, config.dataset)
    estimates = bootstrap_metrics(y, proba, n_resamples=ecfg.bootstrap_resamples, seed=ecfg.seed,
                                  confidence=ecfg.confidence)
    cv = cross_validate(model, train, config)
    champion_evidence: dict[str, Any] | None = None
    if champion is not None:
        champ_proba = predict_proba(champion, holdout, config.dataset)
        primary = config.promotion.primary_metric
        diff = paired_bootstrap(y, proba, champ_proba, metric=primary, n_resamples=ecfg.bootstrap_resamples,
                                seed=ecfg.seed, confidence=ecfg.confidence)
        champion_evidence = {"version": champion_version,
                             "holdout": classification_metrics(y, champ_proba),
                             "comparison": diff.to_dict()}
    return Evaluation(train_rows=len(train), holdout_rows=len(holdout),
                      holdout={m: e.to_dict() for m, e in estimates.items()}, cross_validation=cv,
                      champion=champion_evidence, seconds=round(time.perf_counter() - started, 3))
