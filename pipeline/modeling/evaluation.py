"""Honest evaluation of a trained model: a deterministic holdout, cross-validation on the
training part, bootstrap intervals, metrics per slice, curves for the report, and the champion
scored on the very same holdout rows with a paired bootstrap.  Every task type goes through the
same steps; what differs (targets, scores, metrics, curves) comes from its
:class:`~pipeline.modeling.metric_suites.MetricSuite`.

Evaluation only produces evidence (a JSON-ready dict); the promotion policy (``promotion.py``)
reads that evidence and nothing else.  Everything is seeded from ``evaluation.seed``, so the same
snapshot, model and config always give the same evidence.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from pipeline.core.config import DatasetConfig, PipelineConfig
from pipeline.core.errors import TrainingError
from pipeline.core.metric_names import higher_is_better
from pipeline.core.thread_budget import ThreadBudget, limit_threads
from pipeline.modeling.importance import permutation_importances
from pipeline.modeling.metric_suites import MetricSuite, metric_suite
from pipeline.modeling.metrics import THRESHOLD_GRID, threshold_curve
from pipeline.modeling.resampling import BOOTSTRAP_METHOD, MetricEstimate, PairedDifference
from pipeline.modeling.splits import (
    Split,
    regression_folds,
    split_by_time,
    split_holdout,
    stratified_folds,
    time_folds,
    time_values,
)
from pipeline.modeling.training import features_and_target, predict_scores, scores_from_model
from pipeline.modeling.training_sample import sample_training_rows

log = logging.getLogger(__name__)

MISSING_SLICE = "(missing)"
"""The slice value shown for rows whose slice column is empty."""

MIN_SLICE_CLASS_ROWS = 10
"""A slice with fewer rows of either class is flagged small whatever its size."""


def holdout_split(frame: pd.DataFrame, config: PipelineConfig) -> Split:
    """The train/holdout split of a snapshot frame.

    By row-key hash (a row keeps its side as data grow), or, when ``dataset.time_column`` is
    set, by time (the holdout is the most recent ``holdout_fraction`` of rows).
    """
    dataset, fraction = config.dataset, config.evaluation.holdout_fraction
    if dataset.time_column:
        return split_by_time(time_values(frame[dataset.time_column]), fraction)
    return split_holdout(frame, dataset.id_columns, fraction, salt=dataset.name)


def training_split(frame: pd.DataFrame, config: PipelineConfig) -> Split:
    """The split a training run uses: :func:`holdout_split`, its training part sampled down to
    ``model.max_train_rows`` when it is larger (stratified; the holdout is untouched). Fit,
    cross-validation and evaluation all call this, so they see the same rows."""
    split = holdout_split(frame, config)
    cap = config.model.max_train_rows
    if cap is None or split.n_train <= cap:
        return split
    dataset = config.dataset
    return sample_training_rows(split, frame[dataset.label], cap, config.evaluation.seed, dataset.is_classification)


def describe_split(frame: pd.DataFrame, split: Split, config: PipelineConfig) -> dict[str, Any]:
    """How the holdout was chosen, for the record (kind, fraction, salt or time cutoff)."""
    dataset = config.dataset
    out: dict[str, Any] = {
        "fraction": config.evaluation.holdout_fraction,
        "train_rows": split.n_train,
        "holdout_rows": split.n_holdout,
    }
    if dataset.time_column:
        times = frame[dataset.time_column]
        out.update(
            kind="time",
            time_column=dataset.time_column,
            train_until=str(times.iloc[split.train_index].max()) if split.n_train else None,
            holdout_from=str(times.iloc[split.holdout_index].min()) if split.n_holdout else None,
            folds="forward-chaining",
        )
    else:
        out.update(kind="hash", id_columns=list(dataset.id_columns), salt=dataset.name, folds=_fold_kind(config))
    if split.sample is not None:
        out["training_sample"] = split.sample.to_dict()
    return out


def _fold_kind(config: PipelineConfig) -> str:
    """How the folds of a hash-split holdout are cut, for the record."""
    if config.dataset.is_classification:
        return "stratified"
    return "binned-stratified" if config.evaluation.regression_folds == "binned" else "k-fold"


def cv_folds(train: pd.DataFrame, y: np.ndarray, config: PipelineConfig) -> list[tuple[np.ndarray, np.ndarray]]:
    """Folds of the training part: forward-chaining by time when a time column is set, else
    shuffled k-fold seeded by ``evaluation.seed``, stratified by class for classification and by
    quantile bins of the target for regression (unless ``evaluation.regression_folds: plain``)."""
    ecfg = config.evaluation
    if config.dataset.time_column:
        return time_folds(time_values(train[config.dataset.time_column]), ecfg.folds)
    if config.dataset.is_classification:
        return stratified_folds(y, ecfg.folds, ecfg.seed)
    return regression_folds(y, ecfg.folds, ecfg.seed, binned=ecfg.regression_folds == "binned")


def fold_metrics(
    template: Pipeline,
    X: pd.DataFrame,
    y: np.ndarray,
    fit_idx: np.ndarray,
    val_idx: np.ndarray,
    dataset: DatasetConfig,
    threads: ThreadBudget | int | None = None,
    threshold: float = 0.5,
) -> dict[str, float]:
    """Every metric of one fold: a fresh clone of ``template`` fitted on ``fit_idx``, scored on ``val_idx``.

    Fit and predict run within the thread budget (None: derived from the environment).  A
    metric the fold cannot define (ROC/PR AUC of a one-class validation part) is NaN.  Binary
    threshold metrics predict positive at ``threshold`` (``evaluation.decision_threshold``).
    """
    with limit_threads(threads):
        model = clone(template).fit(X.iloc[fit_idx], y[fit_idx])
        scores = scores_from_model(model, X.iloc[val_idx], dataset)
    return metric_suite(dataset, threshold).point(y[val_idx], scores)


def summarize_folds(
    per_fold: Sequence[Mapping[str, float | None]], names: Sequence[str] | None = None
) -> dict[str, dict[str, Any]]:
    """Mean and std (ddof=1) of every metric over folds given in fold order.

    ``names`` are the metrics to summarize (default: every metric the folds report, in their
    order).  Undefined scores (NaN or None) are left out of that metric's mean; ``folds`` says how
    many counted and the mean is None if none did.  Used alike by :func:`cross_validate` (folds in
    one process) and by the choose step that gathers the folds scored by separate mapped tasks.
    """
    out: dict[str, dict[str, Any]] = {}
    for m in names if names is not None else dict.fromkeys(k for fold in per_fold for k in fold):
        values = [fold.get(m) for fold in per_fold]
        valid = np.array([float(v) for v in values if v is not None and not math.isnan(v)])
        out[m] = {
            "mean": float(valid.mean()) if valid.size else None,
            "std": float(valid.std(ddof=1)) if valid.size > 1 else 0.0,
            "folds": int(valid.size),
        }
    return out


def cross_validate(
    template: Pipeline, train: pd.DataFrame, config: PipelineConfig, threads: ThreadBudget | int | None = None
) -> dict[str, dict[str, Any]]:
    """Mean and std of every metric over the folds of the training part (refits ``template``).

    A fold whose validation part holds a single class has no ROC/PR AUC; such folds are left
    out of that metric's mean (``folds`` says how many counted; the mean is None if none did).
    The DAG scores each fold in a task of its own (``pipeline.app.stages.folds``) with the same
    :func:`fold_metrics` and :func:`summarize_folds`, so both give the same numbers.
    """
    X, y = features_and_target(train, config.dataset)
    return summarize_folds(
        [
            fold_metrics(
                template, X, y, fit_idx, val_idx, config.dataset, threads, config.evaluation.decision_threshold
            )
            for fit_idx, val_idx in cv_folds(train, y, config)
        ],
        metric_suite(config.dataset).names,
    )


@dataclass(frozen=True)
class Evaluation:
    """The evidence about one candidate, JSON-ready through :meth:`to_dict`."""

    train_rows: int
    holdout_rows: int
    holdout: dict[str, dict[str, float]]
    cross_validation: dict[str, dict[str, Any]]
    champion: dict[str, Any] | None
    seconds: float
    split: dict[str, Any] = field(default_factory=dict)
    slices: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    curves: dict[str, Any] = field(default_factory=dict)
    bootstrap: dict[str, Any] = field(default_factory=dict)
    candidates: list[dict[str, Any]] = field(default_factory=list)
    selection: dict[str, Any] | None = None
    holdout_classes: dict[str, int] = field(default_factory=dict)
    """Holdout rows per class (by class name): the promotion policy's minimum per class reads it."""
    task: str = "binary"
    """``dataset.task`` of the evaluated model: which metrics and curves the evidence holds."""
    threshold: float | None = None
    """The decision threshold of the threshold metrics (binary; None for the other tasks)."""
    threshold_curve: dict[str, Any] = field(default_factory=dict)
    """Precision, recall and F1 on the holdout against the threshold (binary; see ``metrics.threshold_curve``)."""
    importance: list[dict[str, Any]] = field(default_factory=list)
    """Permutation importance per feature, most important first: ``{feature, mean, lower, upper}``."""
    importance_setup: dict[str, Any] | None = None
    """How the importances were measured (metric, repeats, rows, interval); None: not measured."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: NaN (an undefined metric, e.g. AUC of a one-class slice) becomes None."""
        return _json_ready(
            {
                "train_rows": self.train_rows,
                "holdout_rows": self.holdout_rows,
                "holdout": self.holdout,
                "cross_validation": self.cross_validation,
                "champion": self.champion,
                "seconds": self.seconds,
                "split": self.split,
                "slices": self.slices,
                "curves": self.curves,
                "bootstrap": self.bootstrap,
                "candidates": self.candidates,
                "selection": self.selection,
                "holdout_classes": self.holdout_classes,
                "task": self.task,
                "threshold": self.threshold,
                "threshold_curve": self.threshold_curve,
                "importance": self.importance,
                "importance_setup": self.importance_setup,
            }
        )


def _json_ready(value: Any) -> Any:
    """Recursively replace NaN/inf floats by None (PostgreSQL's JSON has no NaN)."""
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _slice_values(column: pd.Series) -> list[tuple[str, np.ndarray]]:
    """(value, positional row indices) per distinct value of a slice column, sorted by value."""
    text = column.astype(object).where(column.notna(), MISSING_SLICE).astype(str).to_numpy()
    return [(str(v), np.flatnonzero(text == v)) for v in sorted(set(text.tolist()))]


def _bootstrap(
    suite: MetricSuite, y: np.ndarray, scores: np.ndarray, champion_scores: np.ndarray | None, config: PipelineConfig
) -> tuple[dict[str, MetricEstimate], PairedDifference | None]:
    """All metrics with intervals and, with a champion, the paired comparison on the primary
    metric (one pass over the resamples for both)."""
    ecfg = config.evaluation
    n, seed, confidence = ecfg.bootstrap_resamples, ecfg.seed, ecfg.confidence
    if champion_scores is None:
        return suite.bootstrap(y, scores, n_resamples=n, seed=seed, confidence=confidence), None
    return suite.compare(
        y,
        scores,
        champion_scores,
        metric=config.promotion.primary_metric,
        n_resamples=n,
        seed=seed,
        confidence=confidence,
    )


def _slice_size(suite: MetricSuite, ys: np.ndarray, config: PipelineConfig) -> dict[str, Any]:
    """A slice's size and whether it is too small to trust: fewer than ``evaluation.min_slice_rows``
    rows, or (classification) fewer than 10 rows of a class."""
    minority = suite.minority_rows(ys)
    size: dict[str, Any] = {"rows": int(ys.size)}
    if suite.task == "binary":
        size["positives"] = int(ys.sum())
    elif suite.task == "multiclass":
        size["classes"] = suite.class_rows(ys)
    size["small"] = bool(
        ys.size < config.evaluation.min_slice_rows or (minority is not None and minority < MIN_SLICE_CLASS_ROWS)
    )
    return size


def score_slices(
    holdout: pd.DataFrame,
    y: np.ndarray,
    scores: np.ndarray,
    config: PipelineConfig,
    champion_scores: np.ndarray | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Metrics with intervals for every value of every ``dataset.slice_columns`` column.

    Each slice lists its rows (and positives, or rows per class), all metrics with bootstrap
    intervals, a ``small`` flag (wide intervals, see :func:`_slice_size`), and with a champion
    its primary metric and the paired difference, so a model that is better on average but worse
    for one group is visible and can be gated.
    """
    primary = config.promotion.primary_metric
    suite = metric_suite(config.dataset, config.evaluation.decision_threshold)
    out: dict[str, list[dict[str, Any]]] = {}
    for column in config.dataset.slice_columns:
        rows: list[dict[str, Any]] = []
        for value, idx in _slice_values(holdout[column]):
            ys, ps = y[idx], scores[idx]
            champion_slice = None if champion_scores is None else champion_scores[idx]
            estimates, diff = _bootstrap(suite, ys, ps, champion_slice, config)
            entry: dict[str, Any] = {
                "value": value,
                **_slice_size(suite, ys, config),
                "metrics": {m: e.to_dict() for m, e in estimates.items()},
            }
            if diff is not None:
                entry["champion"] = {primary: diff.champion}
                entry["comparison"] = diff.to_dict()
            rows.append(entry)
        out[column] = rows
    return out


def _champion_curves(suite: MetricSuite, y: np.ndarray, champion_scores: np.ndarray) -> dict[str, Any]:
    """The champion's curves the report draws beside the challenger's (ROC and PR for binary;
    the predicted-vs-actual summary for regression; none for multiclass)."""
    curves = suite.curves(y, champion_scores)
    if suite.task == "binary":
        return {"roc": curves["roc"], "pr": curves["pr"]}
    if suite.task == "regression":
        return {"by_decile": curves["by_decile"], "summary": curves["summary"]}
    return {}


def holdout_evidence(
    y: np.ndarray,
    scores: np.ndarray,
    holdout: pd.DataFrame,
    config: PipelineConfig,
    champion_scores: np.ndarray | None = None,
    champion_version: int | None = None,
) -> dict[str, Any]:
    """Everything the holdout says about a model, from its predictions (and the champion's).

    Returns ``holdout`` (every metric with its bootstrap interval), ``holdout_classes`` (rows per
    class name; none for regression), ``curves`` (for the report), ``champion`` (its metrics,
    curves and the paired comparison on the primary metric, or None), ``slices`` (see
    :func:`score_slices`), ``task`` and, for binary tasks, ``threshold`` (the decision threshold
    every threshold metric used) and ``threshold_curve`` (precision, recall and F1 against the
    threshold).  Pure: no models, no stores.
    """
    threshold = config.evaluation.decision_threshold
    suite = metric_suite(config.dataset, threshold)
    estimates, diff = _bootstrap(suite, y, scores, champion_scores, config)
    champion: dict[str, Any] | None = None
    if champion_scores is not None and diff is not None:
        champion = {
            "version": champion_version,
            "holdout": suite.point(y, champion_scores),
            "comparison": diff.to_dict(),
            "curves": _champion_curves(suite, y, champion_scores),
        }
    return {
        "holdout": {m: e.to_dict() for m, e in estimates.items()},
        "holdout_classes": suite.class_rows(y),
        "curves": suite.curves(y, scores),
        "champion": champion,
        "slices": score_slices(holdout, y, scores, config, champion_scores),
        "task": suite.task,
        "threshold": threshold if suite.task == "binary" else None,
        "threshold_curve": (threshold_curve(y, scores, (*THRESHOLD_GRID, threshold)) if suite.task == "binary" else {}),
    }


def evaluate_candidate(
    model: Pipeline,
    frame: pd.DataFrame,
    split: Split,
    config: PipelineConfig,
    champion: Pipeline | None = None,
    champion_version: int | None = None,
    cross_validation: dict[str, dict[str, Any]] | None = None,
    candidates: Sequence[dict[str, Any]] = (),
    selection: dict[str, Any] | None = None,
    threads: ThreadBudget | int | None = None,
) -> Evaluation:
    """Score ``model`` (and the champion, when there is one) on the holdout of ``frame``.

    ``cross_validation`` is taken as given when the training step already computed it (as the
    train stage does, to choose among candidates); otherwise it is computed here.
    ``candidates``/``selection`` record the search that picked ``model``.  Predictions,
    bootstrap, permutation importance (:mod:`pipeline.modeling.importance`) and any
    cross-validation run within ``threads`` (the task's thread budget).
    """
    started = time.perf_counter()
    ecfg = config.evaluation
    holdout = frame.iloc[split.holdout_index]
    train = frame.iloc[split.train_index]
    _, y = features_and_target(holdout, config.dataset)
    with limit_threads(threads) as cap:
        scores = predict_scores(model, holdout, config.dataset, cap)
        champ_scores = predict_scores(champion, holdout, config.dataset, cap) if champion is not None else None
        evidence = holdout_evidence(y, scores, holdout, config, champ_scores, champion_version)
        importance = permutation_importances(model, holdout, config, cap)
        cv = cross_validation if cross_validation is not None else cross_validate(model, train, config, cap)
    return Evaluation(
        train_rows=len(train),
        holdout_rows=len(holdout),
        cross_validation=cv,
        seconds=round(time.perf_counter() - started, 3),
        split=describe_split(frame, split, config),
        bootstrap={
            "method": BOOTSTRAP_METHOD,
            "resamples": ecfg.bootstrap_resamples,
            "confidence": ecfg.confidence,
            "seed": ecfg.seed,
            "interval": "percentile",
        },
        candidates=list(candidates),
        selection=selection,
        importance=[f.to_dict() for f in importance.features] if importance else [],
        importance_setup=importance.setup() if importance else None,
        **evidence,
    )


def choose_best(candidates: Sequence[dict[str, Any]], metric: str) -> dict[str, Any]:
    """The candidate with the best mean CV score of ``metric`` (first in config order on a tie).

    Each candidate carries ``cross_validation`` as returned by :func:`cross_validate`; a
    candidate whose mean is undefined (NaN/None) ranks last.
    """
    if not candidates:
        raise TrainingError("no trained candidates to choose from; every candidate's train task must succeed")
    sign = 1.0 if higher_is_better(metric) else -1.0

    def score(c: dict[str, Any]) -> float:
        mean = (c.get("cross_validation") or {}).get(metric, {}).get("mean")
        return -math.inf if mean is None or math.isnan(mean) else sign * float(mean)

    best = max(range(len(candidates)), key=lambda i: (score(candidates[i]), -i))
    return candidates[best]
