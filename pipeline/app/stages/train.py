"""Train: fit one candidate spec on the training part of a snapshot; choose: keep the candidate
with the best mean cross-validation score.

In the DAG, :func:`fit_candidate` runs once per candidate and
:func:`pipeline.app.stages.folds.cross_validate_fold` once per candidate x fold (mapped tasks, in
parallel on the workers); the choose step gathers the fold scores and calls
:func:`choose_candidate`.  :func:`train_candidate` is the same work done one call after the other
(fit, then every fold through the same fold function), for tests, benchmarks and scripts.  Each
result is a small dict (artifact key and checksum, CV scores), never a model or a frame.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import pandas as pd

from pipeline.app.stages.data import training_data
from pipeline.app.stages.folds import gather_cross_validation, score_fold, training_folds
from pipeline.app.workspace import Workspace
from pipeline.core.errors import TrainingError
from pipeline.core.progress import progress
from pipeline.modeling.evaluation import choose_best, holdout_split
from pipeline.modeling.metrics import HIGHER_IS_BETTER
from pipeline.modeling.training import fit_model

log = logging.getLogger(__name__)


def fit_candidate(ws: Workspace, plan: dict[str, Any], candidate: str | None = None) -> dict[str, Any]:
    """Fit ``candidate`` (default: the plan's spec) on the training part and store the artifact.

    The DAG's train task; cross-validation is left to the cross_validate tasks.
    """
    fitted, _ = _fit(ws, plan, candidate)
    return fitted


def train_candidate(ws: Workspace, plan: dict[str, Any], candidate: str | None = None) -> dict[str, Any]:
    """Fit ``candidate`` (default: the plan's spec), store the artifact and score it by
    cross-validation on that same training part (the holdout is never touched).

    Runs the DAG's train and cross_validate work one after the other in this process, with the
    same functions and the same store keys, so it gives the same result.
    """
    fitted, train = _fit(ws, plan, candidate)
    name = fitted["candidate"]
    X, y, folds = training_folds(ws, train)
    scored = [score_fold(ws, plan["snapshot_id"], name, k, X, y, folds) for k in range(len(folds))]
    cv = gather_cross_validation(ws, scored)[name]
    primary = ws.config.promotion.primary_metric
    progress(
        "cv",
        f"{name}: {len(folds)}-fold CV {primary} {_mean_std(cv['cross_validation'][primary])} in {cv['cv_seconds']}s",
    )
    return {**fitted, **cv}


def _fit(ws: Workspace, plan: dict[str, Any], candidate: str | None) -> tuple[dict[str, Any], pd.DataFrame]:
    """Fit and store one candidate; also hand back the training rows for in-process CV."""
    name = candidate or plan["spec_name"]
    if not name:
        raise TrainingError(
            f"the plan lists {len(plan.get('candidates', []))} candidates; train needs one "
            "of them by name (the DAG maps over TrainingPlan.per_candidate())"
        )
    started = time.perf_counter()
    _, frame = training_data(ws, plan["snapshot_id"])
    split = holdout_split(frame, ws.config)
    spec = ws.config.model_spec(name)
    seed = ws.config.evaluation.seed
    train = frame.iloc[split.train_index]
    model = fit_model(train, ws.config.dataset, spec, seed, ws.thread_budget)
    key, sha = ws.artifacts.save(model, ws.config.model.name)
    fit_seconds = round(time.perf_counter() - started, 2)
    progress(
        "train",
        f"{name} ({spec.estimator}) fitted on {split.n_train} rows in {fit_seconds}s; "
        f"artifact {key} (sha256 {sha[:12]}…)",
    )
    return (
        {
            "candidate": name,
            "estimator": spec.estimator,
            "params": dict(spec.params),
            "seed": seed,
            "artifact_key": key,
            "artifact_sha256": sha,
            "train_rows": split.n_train,
            "holdout_rows": split.n_holdout,
            "fit_seconds": fit_seconds,
        },
        train,
    )


def choose_candidate(ws: Workspace, plan: dict[str, Any], trained: list[dict[str, Any]]) -> dict[str, Any]:
    """Pick the candidate with the best mean CV score of the primary metric.

    Returns the plan with the winner as its spec, the winner, and the search record (every
    candidate with its spec, params, CV mean/std and artifact) that evaluation stores with
    the model version.
    """
    primary = ws.config.promotion.primary_metric
    trained = list(trained)
    best = choose_best(trained, primary)
    rule = f"{'highest' if HIGHER_IS_BETTER[primary] else 'lowest'} mean {primary} over the CV folds"
    record = [
        {
            "candidate": c["candidate"],
            "estimator": c["estimator"],
            "params": c["params"],
            "artifact_key": c["artifact_key"],
            "artifact_sha256": c["artifact_sha256"],
            "fit_seconds": c["fit_seconds"],
            "cv_seconds": c["cv_seconds"],
            "cross_validation": c["cross_validation"],
            "chosen": c is best,
        }
        for c in trained
    ]
    if len(trained) > 1:
        ranked = sorted(trained, key=lambda c: c is not best)
        progress(
            "choose",
            f"{best['candidate']} chosen among {len(trained)} candidates by {rule}: "
            + "; ".join(f"{c['candidate']} {_mean_std(c['cross_validation'][primary])}" for c in ranked),
        )
    return {
        "plan": {**plan, "spec_name": best["candidate"]},
        "candidate": best,
        "search": {"candidates": record, "selection": {"metric": primary, "rule": rule, "chosen": best["candidate"]}},
    }


def _mean_std(cv: dict[str, Any]) -> str:
    """``0.812 ± 0.011`` (or ``n/a`` when no fold defined the metric)."""
    mean, std = cv.get("mean"), cv.get("std")
    if mean is None or math.isnan(mean):
        return "n/a"
    return f"{mean:.3f} ± {std:.3f}"
