"""Cross-validate: score one candidate on one fold of the training part; gather the folds.

In the DAG the folds task (:func:`list_folds`) says how many folds the data allow, and the
cross_validate task (:func:`cross_validate_fold`) is mapped over candidate x fold: one task
instance each, in parallel with the candidates' fits.  Each instance reads the snapshot itself,
rebuilds the same folds (they depend only on the rows, the config and ``evaluation.seed``), fits
a fresh copy of the candidate's pipeline on the fold's fitting rows and writes the fold's scores
to the object store under a deterministic key.  A retry finds the key and does nothing, so a fold
is never scored twice.  The task returns only ids and that key; :func:`gather_cross_validation`
reads the scores back and summarizes them per candidate (mean and std, exactly as
:func:`pipeline.modeling.evaluation.cross_validate` does in one process).

Small searches skip the fold tasks (:func:`cv_in_process`): a mapped task costs a fresh process
(Python, pandas, scikit-learn and the snapshot read again) that a small fold's fit does not repay,
so below ``resources.cv_in_process_max_rows`` :func:`list_folds` returns no folds and the evaluate
task scores the same folds itself with the same :func:`score_fold` (same keys, same numbers).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline.app.contracts import Contract
from pipeline.app.stages.data import training_data
from pipeline.app.stages.training_plan import TrainingPlan
from pipeline.app.workspace import Workspace
from pipeline.core.errors import TrainingError
from pipeline.core.hashing import sha256_hex
from pipeline.modeling.evaluation import cv_folds, fold_metrics, summarize_folds, training_split
from pipeline.modeling.metric_suites import metric_suite
from pipeline.modeling.training import build_pipeline, features_and_target

log = logging.getLogger(__name__)

FOLDS_PREFIX = "reports/cv"
"""Object-store prefix of the fold scores: ``reports/cv/<snapshot>/<config hash>/<candidate>/fold-NN.json``."""

_UNSAFE = re.compile(r"[^A-Za-z0-9_.=-]+")


@dataclass(frozen=True)
class FoldScores(Contract):
    """Where one candidate's scores on one fold are stored: ids and the key, never the scores' data."""

    candidate: str
    fold: int
    folds: int
    """How many folds the data allow (every fold of a run must agree)."""
    scores_key: str


def fold_scores_key(snapshot_id: str, config_hash: str, candidate: str, fold: int) -> str:
    """Where the scores of ``candidate`` on ``fold`` are stored.

    Everything that decides the scores is in the key: the snapshot, the training config hash
    (dataset, model specs, evaluation incl. folds and seed, window) and the candidate, so the
    same fold of the same inputs always lands on the same key.  Candidate names such as
    ``gradient_boosting[max_iter=10]`` are made path-safe and suffixed with a short hash of
    the exact name, so two names never share a folder.
    """
    safe = _UNSAFE.sub("_", candidate).strip("_") or "candidate"
    tag = sha256_hex(candidate)[:8]
    return f"{FOLDS_PREFIX}/{snapshot_id}/{config_hash}/{safe}-{tag}/fold-{int(fold):02d}.json"


def cv_in_process(ws: Workspace, train_rows: int, candidates: int) -> bool:
    """Whether cross-validation runs inside the evaluate task rather than as mapped fold tasks.

    A fold task pays a fresh process before it fits anything (Python, pandas, scikit-learn and
    the pipeline imported, the snapshot read: about 4.5 s of CPU on the 2-core development
    machine, plus Airflow's own cost per task), so mapping only wins once one fold's fit costs
    more than that and there are slots to run the fits side by side: on P slots mapped CV takes
    about c*k*(overhead + fit)/P, in process c*k*fit.  The measure is training rows x
    candidates: fit time grows with the rows, and the candidates multiply how long the evaluate
    task would spend on CV, so large searches are spread out sooner.  The default (800 000)
    is where ``bench/bench_cv_placement.py`` put the break-even for the bundled two candidates
    on 2 slots (see docs/measurements.md); with more slots per worker, lower it.  0 always maps.
    """
    return train_rows * max(1, candidates) <= ws.config.resources.cv_in_process_max_rows


def list_folds(ws: Workspace, plan: TrainingPlan) -> list[int]:
    """The fold numbers (0, 1, ...) the DAG maps its cross_validate task over.

    Usually ``evaluation.folds``; fewer when the rarest class has fewer rows than that, or when
    ties in the time column merge blocks.  Empty when the search is small enough to
    cross-validate inside the evaluate task (:func:`cv_in_process`): then no fold task is created.
    """
    _, y, folds = _training_folds(ws, plan.snapshot_id)
    sizes = ", ".join(str(len(v)) for _, v in folds)
    kind = "forward-chaining" if ws.config.dataset.time_column else "stratified"
    candidates = len(plan.candidates or [plan.spec_name])
    limit = ws.config.resources.cv_in_process_max_rows
    if cv_in_process(ws, len(y), candidates):
        log.info(
            "%d %s folds of %d training rows x %d candidates = %d rows, at most %d "
            "(resources.cv_in_process_max_rows): the evaluate task cross-validates in process, "
            "no fold tasks are started",
            len(folds),
            kind,
            len(y),
            candidates,
            len(y) * candidates,
            limit,
        )
        return []
    log.info(
        "%d %s folds of %d training rows (validation rows per fold: %s); %d rows x %d candidates is over "
        "%d (resources.cv_in_process_max_rows): one cross_validate task per candidate x fold",
        len(folds),
        kind,
        len(y),
        sizes,
        len(y),
        candidates,
        limit,
    )
    return list(range(len(folds)))


def cross_validate_fold(ws: Workspace, plan: TrainingPlan, fold: int) -> FoldScores:
    """Score the plan's candidate on fold ``fold``; idempotent (the DAG's cross_validate task).

    When the scores are stored already (a retry) nothing is recomputed.
    """
    candidate, fold = plan.spec_name, int(fold)
    if not candidate:
        raise TrainingError(
            "cross_validate needs a plan with one candidate as its spec (the DAG maps over "
            "TrainingPlan.per_candidate())"
        )
    config_hash = ws.config.content_hash()
    if plan.config_hash and plan.config_hash != config_hash:
        raise TrainingError(
            f"the pipeline config changed since this run was planned (training config hash "
            f"{plan.config_hash} then, {config_hash} now); fold {fold + 1} of {candidate!r} "
            "would be scored under other settings. Start a new ct_train run."
        )
    key = fold_scores_key(plan.snapshot_id, config_hash, candidate, fold)
    if ws.store.exists(key):
        log.info("fold %d of %s was scored already (%s); nothing to do", fold + 1, candidate, key)
        return _result(json.loads(ws.store.get(key)), key)
    X, y, folds = _training_folds(ws, plan.snapshot_id)
    if not 0 <= fold < len(folds):
        raise TrainingError(
            f"fold {fold + 1} of {candidate!r} does not exist: the training part of snapshot "
            f"{plan.snapshot_id} allows {len(folds)} folds; start a new ct_train run"
        )
    return score_fold(ws, plan.snapshot_id, candidate, fold, X, y, folds)


def score_fold(
    ws: Workspace,
    snapshot_id: str,
    candidate: str,
    fold: int,
    X: pd.DataFrame,
    y: np.ndarray,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
) -> FoldScores:
    """Fit a fresh ``candidate`` pipeline on fold ``fold``'s fitting rows, score its validation
    rows and store the scores (unless that key holds them already)."""
    config_hash = ws.config.content_hash()
    key = fold_scores_key(snapshot_id, config_hash, candidate, fold)
    if ws.store.exists(key):
        return _result(json.loads(ws.store.get(key)), key)
    started = time.perf_counter()
    spec = ws.config.model_spec(candidate)
    fit_idx, val_idx = folds[fold]
    template = build_pipeline(ws.config.dataset, spec, ws.config.evaluation.seed, ws.config.model.output)
    try:
        # Folds run in parallel task slots: within the task's thread budget, or estimators that
        # start a thread per core (OpenMP in gradient boosting, BLAS) oversubscribe the machine
        # many times over — on 2 cores, ten concurrent folds ran 6x slower.  The scores do not
        # depend on the thread count.
        scores = fold_metrics(
            template,
            X,
            y,
            fit_idx,
            val_idx,
            ws.config.dataset,
            ws.thread_budget,
            ws.config.evaluation.decision_threshold,
        )
    except (ValueError, TypeError) as err:  # sklearn validates params only when fitting
        raise TrainingError(
            f"model spec {candidate!r} ({spec.estimator}, params {spec.params}) could not be "
            f"fitted on fold {fold + 1} of {len(folds)}: {err}"
        ) from None
    record: dict[str, Any] = {
        "snapshot_id": snapshot_id,
        "config_hash": config_hash,
        "candidate": candidate,
        "estimator": spec.estimator,
        "fold": fold,
        "folds": len(folds),
        "fit_rows": len(fit_idx),
        "validation_rows": len(val_idx),
        # JSON has no NaN: an undefined score (one-class validation part) is stored as null.
        "metrics": {m: (None if np.isnan(v) else float(v)) for m, v in scores.items()},
        "seconds": round(time.perf_counter() - started, 3),
    }
    ws.store.put(key, json.dumps(record, sort_keys=True).encode())
    log.info(
        "fold %d of %d of %s: fitted on %d rows, scored %d rows in %.2fs: %s",
        fold + 1,
        len(folds),
        candidate,
        record["fit_rows"],
        record["validation_rows"],
        record["seconds"],
        ", ".join(f"{m} {'n/a' if v is None else format(v, '.3f')}" for m, v in record["metrics"].items()),
    )
    return _result(record, key)


def gather_cross_validation(ws: Workspace, fold_results: Sequence[FoldScores]) -> dict[str, dict[str, Any]]:
    """Per candidate, the fold scores read back from the store and summarized.

    Returns ``{candidate: {"cross_validation": {metric: {mean, std, folds}}, "cv_seconds": s}}``
    (``cv_seconds`` adds up the folds' compute time).  Fails with the missing folds named when a
    candidate's folds are incomplete or disagree about how many there are.
    """
    by_candidate: dict[str, list[FoldScores]] = {}
    for result in fold_results:
        by_candidate.setdefault(result.candidate, []).append(result)
    out: dict[str, dict[str, Any]] = {}
    suite_names = metric_suite(ws.config.dataset).names
    for candidate, results in by_candidate.items():
        counts = {r.folds for r in results}
        if len(counts) != 1:
            raise TrainingError(
                f"the cross_validate tasks of {candidate!r} disagree on the number of folds "
                f"({sorted(counts)}); the snapshot or config changed during the run. Start a new run."
            )
        n = counts.pop()
        keys = {r.fold: r.scores_key for r in results if r.scores_key}
        missing = [k + 1 for k in range(n) if k not in keys]
        if missing:
            raise TrainingError(
                f"cross-validation of {candidate!r} lacks fold(s) {missing} of {n}; every "
                "cross_validate task of the run must succeed (see their logs)"
            )
        records = [json.loads(ws.store.get(keys[k])) for k in range(n)]
        out[candidate] = {
            "cross_validation": summarize_folds([r["metrics"] for r in records], suite_names),
            "cv_seconds": round(sum(float(r.get("seconds") or 0.0) for r in records), 2),
        }
    return out


def training_folds(
    ws: Workspace, train: pd.DataFrame
) -> tuple[pd.DataFrame, np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """Features, target and CV folds of a snapshot's training part (the same in every task)."""
    X, y = features_and_target(train, ws.config.dataset)
    return X, y, cv_folds(train, y, ws.config)


def _training_folds(
    ws: Workspace, snapshot_id: str
) -> tuple[pd.DataFrame, np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """Read the snapshot's training window, drop the holdout and cut the folds."""
    _, frame = training_data(ws, snapshot_id)
    return training_folds(ws, frame.iloc[training_split(frame, ws.config).train_index])


def _result(record: dict[str, Any], key: str) -> FoldScores:
    """What a cross_validate task hands on, from the stored record."""
    return FoldScores(
        candidate=str(record["candidate"]), fold=int(record["fold"]), folds=int(record["folds"]), scores_key=key
    )
