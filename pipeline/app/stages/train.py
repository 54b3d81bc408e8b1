"""Train: fit one candidate spec on the training part of a snapshot; choose: keep the candidate
with the best mean cross-validation score.

In the DAG, :func:`fit_candidate` runs once per candidate and
:func:`pipeline.app.stages.folds.cross_validate_fold` once per candidate x fold (mapped tasks, in
parallel on the workers); the evaluate step gathers the fold scores and calls
:func:`choose_candidate`.  :func:`pipeline.app.training_flow.run_training` runs the same steps one
after the other in this process.  Each result is a small contract (artifact key and checksum, CV
scores), never a model or a frame.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from pipeline.app.contracts import Contract
from pipeline.app.stages.data import training_data
from pipeline.app.stages.training_plan import TrainingPlan
from pipeline.app.workspace import Workspace
from pipeline.core.errors import TrainingError
from pipeline.core.metric_names import higher_is_better
from pipeline.core.progress import progress
from pipeline.modeling.evaluation import choose_best, training_split
from pipeline.modeling.splits import Split
from pipeline.modeling.training import fit_model

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FittedCandidate(Contract):
    """One candidate fitted on the training part: its spec, the stored artifact and, once gathered,
    its cross-validation (``{metric: {mean, std, folds}}``) and the folds' compute time."""

    candidate: str
    estimator: str
    params: dict[str, Any]
    seed: int
    artifact_key: str
    artifact_sha256: str
    train_rows: int
    holdout_rows: int
    fit_seconds: float
    cross_validation: dict[str, Any] | None = None
    cv_seconds: float | None = None

    def with_cross_validation(self, gathered: dict[str, Any]) -> FittedCandidate:
        """This candidate with its gathered CV (an entry of ``gather_cross_validation``'s result)."""
        return replace(self, cross_validation=gathered["cross_validation"], cv_seconds=gathered["cv_seconds"])


@dataclass(frozen=True)
class CandidateChoice:
    """The chosen candidate, the plan with it as its spec, and the search record evaluation stores."""

    plan: TrainingPlan
    candidate: FittedCandidate
    search: dict[str, Any]


def fit_candidate(ws: Workspace, plan: TrainingPlan) -> FittedCandidate:
    """Fit the plan's candidate on the training part and store the artifact (the DAG's train task;
    cross-validation is left to the cross_validate tasks)."""
    name = plan.spec_name
    if not name:
        raise TrainingError(
            f"the plan lists {len(plan.candidates)} candidates; train needs one "
            "of them by name (the DAG maps over TrainingPlan.per_candidate())"
        )
    started = time.perf_counter()
    _, frame = training_data(ws, plan.snapshot_id)
    split = training_split(frame, ws.config)
    spec = ws.config.model_spec(name)
    seed = ws.config.evaluation.seed
    train = frame.iloc[split.train_index]
    model = fit_model(train, ws.config.dataset, spec, seed, ws.thread_budget, ws.config.model.output)
    key, sha = ws.artifacts.save(model, ws.config.model.name)
    fit_seconds = round(time.perf_counter() - started, 2)
    progress(
        "train",
        f"{name} ({spec.estimator}) fitted on {split.n_train} rows{_sampled(split)} in {fit_seconds}s; "
        f"artifact {key} (sha256 {sha[:12]}…)",
    )
    return FittedCandidate(
        candidate=name,
        estimator=spec.estimator,
        params=dict(spec.params),
        seed=seed,
        artifact_key=key,
        artifact_sha256=sha,
        train_rows=split.n_train,
        holdout_rows=split.n_holdout,
        fit_seconds=fit_seconds,
    )


def choose_candidate(ws: Workspace, plan: TrainingPlan, trained: Sequence[FittedCandidate]) -> CandidateChoice:
    """Pick the candidate with the best mean CV score of the primary metric.

    Returns the plan with the winner as its spec, the winner, and the search record (every
    candidate with its spec, params, CV mean/std and artifact) that evaluation stores with
    the model version.
    """
    primary = ws.config.promotion.primary_metric
    scored = [c.to_json() for c in trained]
    chosen = choose_best(scored, primary)
    best = next(c for c, d in zip(trained, scored, strict=True) if d is chosen)
    rule = f"{'highest' if higher_is_better(primary) else 'lowest'} mean {primary} over the CV folds"
    record = [
        {
            "candidate": c.candidate,
            "estimator": c.estimator,
            "params": c.params,
            "artifact_key": c.artifact_key,
            "artifact_sha256": c.artifact_sha256,
            "fit_seconds": c.fit_seconds,
            "cv_seconds": c.cv_seconds,
            "cross_validation": c.cross_validation,
            "chosen": c is best,
        }
        for c in trained
    ]
    if len(trained) > 1:
        ranked = sorted(trained, key=lambda c: c is not best)
        progress(
            "choose",
            f"{best.candidate} chosen among {len(trained)} candidates by {rule}: "
            + "; ".join(f"{c.candidate} {_mean_std((c.cross_validation or {})[primary])}" for c in ranked),
        )
    return CandidateChoice(
        plan=replace(plan, spec_name=best.candidate),
        candidate=best,
        search={"candidates": record, "selection": {"metric": primary, "rule": rule, "chosen": best.candidate}},
    )


def _sampled(split: Split) -> str:
    """ ", a sample of N rows ..." when the training part was capped, else nothing."""
    if split.sample is None:
        return ""
    sample = split.sample
    return f" (a sample of {sample.from_rows} stratified on the {sample.stratified_on}: model.max_train_rows)"


def _mean_std(cv: dict[str, Any]) -> str:
    """``0.812 ± 0.011`` (or ``n/a`` when no fold defined the metric)."""
    mean, std = cv.get("mean"), cv.get("std")
    if mean is None or math.isnan(mean):
        return "n/a"
    return f"{mean:.3f} ± {std:.3f}"
