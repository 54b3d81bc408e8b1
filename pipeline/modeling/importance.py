"""Permutation importance on the holdout: how much the primary metric drops when one feature's
values are shuffled, so the model report can say which inputs the model actually relies on.

For each raw feature (the columns of ``dataset.features``, before encoding), scikit-learn's
:func:`sklearn.inspection.permutation_importance` shuffles that column of the holdout
``evaluation.importance_repeats`` times (seeded by ``evaluation.seed``) and scores the fitted
pipeline each time with the task's own metric suite (:mod:`pipeline.modeling.metric_suites`) on
``promotion.primary_metric``.  The importance is the metric on the intact holdout minus the metric
with the feature shuffled, oriented so that **positive means the feature helps**: for a
lower-is-better metric (log loss, RMSE) it is the increase in error.  A feature near zero (or
below) adds nothing the model could not do without.

The interval is ``mean ± t(0.975, R - 1) · sd / sqrt(R)`` over the R repeats (a t interval of
the mean drop): it says how much the number moves with the shuffling, not how much it would move
with another holdout.  With one repeat there is no interval.  The cost is bounded: at most
``evaluation.importance_rows`` holdout rows (a seeded random subset when the holdout is larger)
and R x features predictions of them, in one process within the task's thread budget (a process
pool costs more to start than scoring a few thousand rows does).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.inspection import permutation_importance

from pipeline.core.config import PipelineConfig
from pipeline.core.metric_names import higher_is_better
from pipeline.core.thread_budget import ThreadBudget, limit_threads
from pipeline.modeling.metric_suites import metric_suite
from pipeline.modeling.training import features_and_target, scores_from_model

log = logging.getLogger(__name__)

INTERVAL = "t"
"""How the interval is computed (recorded with the evidence): a t interval of the mean over repeats."""


@dataclass(frozen=True)
class FeatureImportance:
    """One feature's importance: the mean drop of the metric over repeats and its 95% interval
    (None: undefined, e.g. a single repeat or a metric the holdout cannot define)."""

    feature: str
    mean: float | None
    lower: float | None
    upper: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ImportanceResult:
    """Every feature's importance, most important first, and how it was measured."""

    features: tuple[FeatureImportance, ...]
    metric: str
    repeats: int
    rows: int
    holdout_rows: int
    seed: int
    seconds: float

    def setup(self) -> dict[str, Any]:
        """How the importances were measured, for the record and the report (no timing: the same
        model and holdout give the same record)."""
        return {
            "metric": self.metric,
            "repeats": self.repeats,
            "rows": self.rows,
            "holdout_rows": self.holdout_rows,
            "seed": self.seed,
            "interval": INTERVAL,
            "confidence": 0.95,
        }


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def summarize_repeats(feature: str, drops: np.ndarray, confidence: float = 0.95) -> FeatureImportance:
    """Mean drop over repeats with its t interval (see the module docstring); NaN repeats left out."""
    valid = drops[np.isfinite(drops)]
    if valid.size == 0:
        return FeatureImportance(feature, None, None, None)
    mean = float(valid.mean())
    if valid.size < 2:
        return FeatureImportance(feature, mean, None, None)
    half = float(stats.t.ppf(0.5 + confidence / 2, valid.size - 1) * valid.std(ddof=1) / math.sqrt(valid.size))
    return FeatureImportance(feature, mean, _finite(mean - half), _finite(mean + half))


def holdout_sample(n: int, most: int, seed: int) -> np.ndarray:
    """Positions of at most ``most`` of ``n`` rows: all of them, or a seeded random subset in order."""
    if n <= most:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=most, replace=False))


def permutation_importances(
    model: Any,
    holdout: pd.DataFrame,
    config: PipelineConfig,
    threads: ThreadBudget | int | None = None,
) -> ImportanceResult | None:
    """Permutation importance of every feature of ``model`` on ``holdout`` (None: turned off with
    ``evaluation.importance_repeats: 0``, or an empty holdout).  See the module docstring."""
    ecfg, dataset = config.evaluation, config.dataset
    repeats = ecfg.importance_repeats
    if repeats < 1 or holdout.empty:
        return None
    started = time.perf_counter()
    metric = config.promotion.primary_metric
    sign = 1.0 if higher_is_better(metric) else -1.0
    suite = metric_suite(dataset, ecfg.decision_threshold)
    rows = holdout_sample(len(holdout), ecfg.importance_rows, ecfg.seed)
    X, y = features_and_target(holdout.iloc[rows], dataset)

    def score(estimator: Any, X_: pd.DataFrame, y_: np.ndarray) -> float:
        # oriented so that higher is better: sklearn's importance is baseline minus permuted
        return sign * suite.point(y_, scores_from_model(estimator, X_, dataset), metrics=[metric])[metric]

    with limit_threads(threads):
        result = permutation_importance(
            model, X, y, scoring=score, n_repeats=repeats, random_state=ecfg.seed, n_jobs=None
        )
    drops = np.asarray(result["importances"], dtype=np.float64)  # (features, repeats)
    features = [summarize_repeats(str(name), drops[k]) for k, name in enumerate(X.columns)]
    features.sort(key=lambda f: (f.mean is None, -(f.mean or 0.0), f.feature))
    seconds = round(time.perf_counter() - started, 3)
    log.info(
        "permutation importance of %d features on %d holdout rows x %d repeats (%s) in %.2fs",
        len(features),
        len(rows),
        repeats,
        metric,
        seconds,
    )
    return ImportanceResult(tuple(features), metric, repeats, len(rows), len(holdout), ecfg.seed, seconds)
