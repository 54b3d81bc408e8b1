"""The training topology, written down once: one step function per ct_train task, and
:func:`run_training`, which runs the same steps in the DAG's order in this process.

``dags/ct_train.py`` calls each step from its task of the same name (through
``ct_airflow.stage.run_stage``, which turns XCom's JSON into the contracts the step takes);
``ct``'s tests, benchmarks and scripts call :func:`run_training`. :data:`STEPS` names the steps in
that order, and a test checks that the DAG's tasks and their dependencies agree with it, so the
two can never drift apart (kedro's idea: a pipeline is defined once and run in-process or handed
to an orchestrator).

    plan -> validate -> folds -> train (each candidate) -> cross_validate (each candidate x fold)
         -> evaluate -> register -> promote
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pipeline.app.contracts import Contract
from pipeline.app.stages.evaluate import Evaluation, choose_and_evaluate
from pipeline.app.stages.folds import FoldScores, cross_validate_fold, list_folds
from pipeline.app.stages.plan import plan_training
from pipeline.app.stages.register import PromotionOutcome, Registration, promote_if_better, register_model
from pipeline.app.stages.train import FittedCandidate, fit_candidate
from pipeline.app.stages.training_plan import TrainingPlan
from pipeline.app.stages.validate import ValidationOutcome, validate_snapshot
from pipeline.app.workspace import Workspace
from pipeline.core.errors import NothingToDo

log = logging.getLogger(__name__)

STEPS = ("plan", "validate", "folds", "train", "cross_validate", "evaluate", "register", "promote")
"""The ct_train tasks in the order :func:`run_training` runs them (a topological order of the DAG)."""


class AlreadyTrained(NothingToDo):
    """The plan's snapshot, config and spec already have a model version and the run was not forced."""

    def __init__(self, plan: TrainingPlan) -> None:
        super().__init__(f"already trained as version {plan.existing_version}")
        self.plan = plan


@dataclass(frozen=True)
class TrainingRun(Contract):
    """What an in-process training run did, step by step (None or empty: the step did not run).

    ``plan`` is the run's plan (with several candidates its spec is empty); ``plans`` has one plan
    per candidate, as the DAG maps over them. A run on inputs trained already stops after ``plan``.
    """

    plan: TrainingPlan
    plans: tuple[TrainingPlan, ...] = ()
    validation: ValidationOutcome | None = None
    folds: tuple[int, ...] = ()
    trained: tuple[FittedCandidate, ...] = ()
    scored: tuple[FoldScores, ...] = ()
    evaluation: Evaluation | None = None
    registration: Registration | None = None
    promotion: PromotionOutcome | None = None

    @property
    def already_trained(self) -> bool:
        """True when the plan found these inputs trained already and nothing else ran."""
        return not self.plans


# -- the steps: one per ct_train task -----------------------------------------------------------------
def plan(
    ws: Workspace, snapshot_id: str | None, spec: str | None, trigger: Mapping[str, Any], force: bool = False
) -> tuple[TrainingPlan, ...]:
    """Pin the snapshot and candidates; one plan per candidate (train and cross_validate map over them).

    Without ``snapshot_id`` the one the trigger names (an Asset event's) is the run's request.
    Raises :class:`AlreadyTrained` when these inputs have a version already and ``force`` is off.
    """
    planned = plan_training(ws, snapshot_id or trigger.get("snapshot_id"), spec, dict(trigger), force)
    if planned.existing_version is not None and not force:
        raise AlreadyTrained(planned)
    return planned.per_candidate()


def validate(ws: Workspace, plans: Sequence[TrainingPlan]) -> ValidationOutcome:
    """Validate the planned snapshot (a ``fail`` check raises ``ValidationFailed``)."""
    return validate_snapshot(ws, plans[0].snapshot_id, plans[0].trigger.get("run_id"))


def folds(ws: Workspace, plans: Sequence[TrainingPlan]) -> list[int]:
    """The fold numbers cross_validate maps over (none when evaluate cross-validates in process)."""
    return list_folds(ws, plans[0])


def train(ws: Workspace, plan: TrainingPlan) -> FittedCandidate:
    """Fit one candidate (the plan's spec) and store its artifact."""
    return fit_candidate(ws, plan)


def cross_validate(ws: Workspace, plan: TrainingPlan, fold: int) -> FoldScores:
    """Score one candidate on one fold and store the scores."""
    return cross_validate_fold(ws, plan, fold)


def evaluate(
    ws: Workspace, plans: Sequence[TrainingPlan], trained: Sequence[FittedCandidate], scored: Sequence[FoldScores]
) -> Evaluation:
    """Choose the best candidate by CV, then score it and the champion on the holdout."""
    return choose_and_evaluate(ws, plans[0], trained, scored)


def register(ws: Workspace, evaluated: Evaluation, validation: ValidationOutcome) -> Registration:
    """Register the chosen candidate with its lineage and evidence."""
    return register_model(ws, evaluated.plan, evaluated.candidate, evaluated.evaluation_key, validation.validation_id)


def promote(
    ws: Workspace, registered: Registration, *, override: bool = False, reason: str = "", actor: str = "ct"
) -> PromotionOutcome:
    """Apply the promotion policy (or a recorded manual override) to the registered version."""
    return promote_if_better(ws, registered.name, registered.version, force=override, reason=reason, actor=actor)


# -- the same steps, in this process ------------------------------------------------------------------
def run_training(
    ws: Workspace,
    *,
    snapshot_id: str | None = None,
    spec: str | None = None,
    trigger: Mapping[str, Any] | None = None,
    force: bool = False,
    override: bool = False,
    reason: str = "",
    actor: str = "ct",
    until: str = "promote",
) -> TrainingRun:
    """Run ct_train's steps in :data:`STEPS` order in this process and say what each one returned.

    The arguments are the DAG's trigger form (``trigger`` is the provenance a task reads from the
    Airflow context; default a manual run). ``until`` stops after that step, as a run killed there
    would (say ``"register"``: registered, never decided). Inputs trained already end the run after
    ``plan`` (see :attr:`TrainingRun.already_trained`); pipeline errors propagate as in a task.
    """
    if until not in STEPS:
        raise ValueError(f"until={until!r} is not a ct_train step; the steps are {', '.join(STEPS)}")
    last = STEPS.index(until)
    try:
        plans = plan(ws, snapshot_id, spec, trigger or {"kind": "manual"}, force)
    except AlreadyTrained as done:
        return TrainingRun(plan=done.plan)
    whole = plans[0] if len(plans) == 1 else replace(plans[0], spec_name="")
    run = TrainingRun(plan=whole, plans=plans)
    if last >= STEPS.index("validate"):
        run = replace(run, validation=validate(ws, plans))
    if last >= STEPS.index("folds"):
        run = replace(run, folds=tuple(folds(ws, plans)))
    if last >= STEPS.index("train"):
        run = replace(run, trained=tuple(train(ws, p) for p in plans))
    if last >= STEPS.index("cross_validate"):
        run = replace(run, scored=tuple(cross_validate(ws, p, k) for p in plans for k in run.folds))
    if last >= STEPS.index("evaluate"):
        run = replace(run, evaluation=evaluate(ws, plans, run.trained, run.scored))
    if last >= STEPS.index("register") and run.evaluation is not None and run.validation is not None:
        run = replace(run, registration=register(ws, run.evaluation, run.validation))
    if last >= STEPS.index("promote") and run.registration is not None:
        run = replace(run, promotion=promote(ws, run.registration, override=override, reason=reason, actor=actor))
    return run
