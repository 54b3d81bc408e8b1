"""Evaluate: pick the best candidate by cross-validation, then score it and the champion on the
same holdout and store the evidence."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.app.contracts import Contract
from pipeline.app.stages.data import training_data
from pipeline.app.stages.folds import FoldScores, gather_cross_validation, score_fold, training_folds
from pipeline.app.stages.train import CandidateChoice, FittedCandidate, choose_candidate
from pipeline.app.stages.training_plan import TrainingPlan
from pipeline.app.workspace import Workspace
from pipeline.core.errors import TrainingError
from pipeline.core.hashing import json_sha256
from pipeline.core.progress import progress
from pipeline.modeling.evaluation import evaluate_candidate, training_split
from pipeline.registry.base import CHAMPION

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Evaluation(Contract):
    """The stored evidence of a run's chosen candidate: its key, the plan with the winner as its
    spec, and the winner (what registration needs)."""

    evaluation_key: str
    plan: TrainingPlan
    candidate: FittedCandidate


def evaluate_model(ws: Workspace, choice: CandidateChoice) -> Evaluation:
    """Score the chosen candidate and the champion on the same holdout; store the evidence as JSON.

    The search record (every candidate with its cross-validation) is stored with it; the
    candidate's cross-validation scores are reused, not recomputed.
    """
    plan, candidate = choice.plan, choice.candidate
    _snapshot, frame = training_data(ws, plan.snapshot_id)
    split = training_split(frame, ws.config)
    model = ws.artifacts.load(candidate.artifact_key, candidate.artifact_sha256)
    champion = ws.meta.get_alias(ws.config.model.name, CHAMPION)
    champion_model = ws.artifacts.load(champion.artifact_uri, champion.artifact_sha256) if champion else None
    evaluation = evaluate_candidate(
        model,
        frame,
        split,
        ws.config,
        champion_model,
        champion.version if champion else None,
        cross_validation=candidate.cross_validation,
        candidates=choice.search["candidates"],
        selection=choice.search["selection"],
        threads=ws.thread_budget,
    ).to_dict()
    # Keyed by the evidence itself (timing aside): the same evidence is stored once, and new
    # evidence for the same artifact (say, against a newer champion) never hides behind old.
    evidence_sha = json_sha256(_without_timings(evaluation), compact=False)
    key = f"reports/evaluations/{plan.snapshot_id}_{candidate.artifact_sha256[:16]}_{evidence_sha[:12]}.json"
    ws.store.put(key, json.dumps(evaluation, sort_keys=True).encode())
    progress("evaluate", _summary(evaluation, ws))
    return Evaluation(evaluation_key=key, plan=plan, candidate=candidate)


def choose_and_evaluate(
    ws: Workspace,
    plan: TrainingPlan,
    trained: Sequence[FittedCandidate],
    folds: Sequence[FoldScores] = (),
) -> Evaluation:
    """The DAG's evaluate task: choose among the trained candidates, then evaluate the winner.

    ``folds`` are the results of the cross_validate tasks (ids and store keys); their scores are
    gathered per candidate (mean and std over the folds) before choosing.  With no fold results
    (the search was small enough that ``list_folds`` started no fold tasks), candidates that do
    not carry their cross-validation already are cross-validated here, fold by fold with the fold
    tasks' own function, so the numbers are the same.
    """
    trained = list(trained)
    if folds:
        trained = with_cross_validation(ws, trained, folds)
    elif any(t.cross_validation is None for t in trained):
        trained = cross_validate_in_process(ws, plan, trained)
    return evaluate_model(ws, choose_candidate(ws, plan, trained))


def cross_validate_in_process(
    ws: Workspace, plan: TrainingPlan, trained: Sequence[FittedCandidate]
) -> list[FittedCandidate]:
    """The fitted candidates, each with its cross-validation computed here, one fold after the
    other (the snapshot is read and the folds cut once for all candidates)."""
    started = time.perf_counter()
    _, frame = training_data(ws, plan.snapshot_id)
    X, y, cv = training_folds(ws, frame.iloc[training_split(frame, ws.config).train_index])
    out = []
    for t in trained:
        if t.cross_validation is not None:
            out.append(t)
            continue
        scored = [score_fold(ws, plan.snapshot_id, t.candidate, k, X, y, cv) for k in range(len(cv))]
        out.append(t.with_cross_validation(gather_cross_validation(ws, scored)[t.candidate]))
    log.info(
        "cross-validated %d candidate(s) x %d folds of %d training rows in this task in %.1fs (%s)",
        len(trained),
        len(cv),
        len(y),
        time.perf_counter() - started,
        ws.thread_budget.describe(),
    )
    return out


def with_cross_validation(
    ws: Workspace, trained: Sequence[FittedCandidate], folds: Sequence[FoldScores]
) -> list[FittedCandidate]:
    """The fitted candidates, each with its cross-validation gathered from the fold tasks' results."""
    gathered = gather_cross_validation(ws, list(folds))
    names = [t.candidate for t in trained]
    unscored = [n for n in names if n not in gathered]
    if unscored:
        raise TrainingError(
            f"no cross-validation results for candidate(s) {unscored}; the run's "
            "cross_validate tasks must cover every trained candidate"
        )
    unfitted = sorted(set(gathered) - set(names))
    if unfitted:
        raise TrainingError(
            f"cross-validation results for candidate(s) {unfitted} that were not trained in "
            "this run; the train tasks must cover every planned candidate"
        )
    return [t.with_cross_validation(gathered[t.candidate]) for t in trained]


def _without_timings(value: Any) -> Any:
    """``value`` without the keys that measure time (``seconds``, ``fit_seconds``, ...)."""
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if not k.endswith("seconds")}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def _summary(evaluation: dict[str, Any], ws: Workspace) -> str:
    """One line for the task log: the primary metric with its interval, CV, champion, slices."""
    primary = ws.config.promotion.primary_metric
    est = evaluation["holdout"][primary]
    cv = evaluation["cross_validation"][primary]
    cv_text = "n/a" if cv["mean"] is None else f"{cv['mean']:.3f} ± {cv['std']:.3f}"
    text = (
        f"holdout {primary} {_num(est['value'])} [{_num(est['lower'])}, {_num(est['upper'])}] on "
        f"{evaluation['holdout_rows']} rows ({evaluation['split'].get('kind', 'hash')} split); "
        f"{cv['folds']}-fold CV {cv_text}"
    )
    if evaluation["champion"]:
        cmp = evaluation["champion"]["comparison"]
        text += (
            f"; vs champion v{evaluation['champion']['version']}: {_num(cmp['difference'], '+.3f')} "
            f"[{_num(cmp['lower'], '+.3f')}, {_num(cmp['upper'], '+.3f')}]"
        )
    slices = [(col, s) for col, entries in evaluation["slices"].items() for s in entries]
    if slices:
        small = sum(1 for _, s in slices if s["small"])
        worst = [
            (s["comparison"]["difference"], f"{col}={s['value']}")
            for col, s in slices
            if not s["small"] and (s.get("comparison") or {}).get("difference") is not None
        ]
        text += f"; {len(slices)} slices ({small} small)"
        if worst:
            diff, where = min(worst)
            text += f", largest drop vs champion {_num(diff, '+.3f')} in {where}"
    return text


def _num(x: float | None, fmt: str = ".3f") -> str:
    """A number for the log line, or n/a when undefined."""
    return "n/a" if x is None else format(x, fmt)
