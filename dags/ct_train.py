"""
### ct_train — validate, retrain, evaluate, register, and promote only on evidence

Starts on every new snapshot once the champion has scored it (the **ct_checked_snapshots** Asset
from `ct_monitor`, which also says whether a performance drop or drift asked for the run), on the `CT_TRAIN_CRON`
schedule, or by hand with the trigger form (snapshot id, model spec, force, reason).

1. **plan** — pins the snapshot (the one named on the form, else the newest the champion has
   checked) and the candidates (`model.candidates` in pipeline.yaml, a spec or a small grid;
   otherwise the single spec), and claims every pending training request in the store that this
   run answers (new data, a performance drop, drift), so a coalesced Asset event loses nothing;
   they are recorded in the version's trigger and resolved at register. Skips the rest when these
   exact inputs were trained already (set *force* to retrain); a version left without a promotion
   decision by a killed run gets its decision here.
2. **validate** — great-expectations schema suite on the new data, per-feature drift against the
   champion's training snapshot, the label contract and train/holdout label parity. A `fail` check
   stops the run here with the failed checks listed; drift is recorded as a reason to retrain.
3. **folds** — how many cross-validation folds the training part allows (`evaluation.folds`, fewer
   when a class is too rare): stratified k-fold, or forward-chaining folds with a time column.
4. **train** — one mapped task per candidate: fits its scikit-learn pipeline on the training part
   (fixed seed) and stores the artifact. **cross_validate** — at the same time, one mapped task per
   candidate × fold: fits a fresh copy on the fold's fitting rows and stores the fold's scores under
   `reports/cv/` (a retry finds them and does nothing). Only above `resources.cv_in_process_max_rows`
   (training rows × candidates): below it a process per fold costs more than it saves, so `folds`
   returns none and **evaluate** cross-validates in process, with the same numbers and keys. Every
   fit runs within the worker's thread budget (`resources`, `CT_THREADS`).
5. **evaluate** — gathers (or computes) the fold scores, keeps the candidate with the best mean CV score of the
   primary metric, then scores it on the holdout with 95% bootstrap intervals (overall and per
   slice), and the champion on the same rows with a paired bootstrap. Every candidate is recorded
   with the evidence.
6. **register** — a new model version with artifact checksum, snapshot, config hash, code version,
   metrics, validation, trigger and the HTML model report.
7. **promote** — moves `champion` only when the policy holds (floors, non-inferiority margin, minimum
   improvement, slice gates), or on a recorded manual override; every move is a ledger row.

Setting *model spec* on the trigger form trains that one spec instead of the candidates. Tasks hand
each other only ids, store keys and paths; frames and models stay on the shared data root.
"""

from __future__ import annotations

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, task

from ct_airflow.assets import CHECKED_SNAPSHOTS
from ct_airflow.defaults import DEFAULT_ARGS, START_DATE, TRAIN_CRON


@dag(
    dag_id="ct_train",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable(TRAIN_CRON, timezone="UTC"), assets=CHECKED_SNAPSHOTS),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["ct", "train"],
    doc_md=__doc__,
    # Optional text fields allow null: the UI trigger form sends a cleared field as null and, for a
    # plain "string" type, marks it required and disables Trigger until every field is filled.
    params={
        "snapshot_id": Param(
            "",
            type=["null", "string"],
            title="Snapshot",
            description="Snapshot id (or a unique prefix) to train on. Empty: the newest snapshot.",
        ),
        "model_spec": Param(
            "",
            type=["null", "string"],
            title="Model spec",
            description="Train only this spec from model.specs in pipeline.yaml. Empty: the "
            "candidates of model.candidates, or model.spec when there are none.",
        ),
        "force": Param(
            False,
            type="boolean",
            title="Force retrain",
            description="Train even if this snapshot and spec were trained already.",
        ),
        "override_promotion": Param(
            False,
            type="boolean",
            title="Promote regardless of the policy",
            description="Make the new version champion even if the evidence says no "
            "(recorded in the ledger as a manual override with the reason).",
        ),
        "reason": Param(
            "",
            type=["null", "string"],
            title="Reason",
            description="Why you are starting this run; recorded with the model version.",
        ),
    },
)
def ct_train():
    # Each task calls its step of pipeline/app/training_flow.py, which also runs the same steps in
    # order in one process (run_training); run_stage turns XCom's JSON into the steps' contracts.
    @task
    def plan(**context) -> list:
        from ct_airflow.provenance import trigger_from_context
        from ct_airflow.stage import run_stage
        from pipeline.app import training_flow

        params = context["params"]
        # one plan per candidate: train and cross_validate map over them; trained already: skipped
        return run_stage(
            training_flow.plan,
            params["snapshot_id"] or None,
            params["model_spec"] or None,
            trigger_from_context(context),
            bool(params["force"]),
        )

    @task
    def validate(plans: list) -> dict:
        from ct_airflow.stage import run_stage
        from pipeline.app import training_flow

        return run_stage(training_flow.validate, plans)

    @task
    def folds(plans: list) -> list:
        from ct_airflow.stage import run_stage
        from pipeline.app import training_flow

        return run_stage(training_flow.folds, plans)  # [0, 1, ..., k-1]: cross_validate maps over these

    @task(map_index_template="{{ candidate }}")  # the grid shows the candidate, not 0, 1, ...
    def train(planned: dict) -> dict:
        from airflow.sdk import get_current_context

        from ct_airflow.stage import run_stage
        from pipeline.app import training_flow
        from pipeline.app.stages.training_plan import TrainingPlan

        get_current_context()["candidate"] = TrainingPlan.from_json(planned).spec_name
        return run_stage(training_flow.train, planned)

    @task(map_index_template="{{ candidate }} fold {{ fold }}")
    def cross_validate(planned: dict, fold: int) -> dict:
        from airflow.sdk import get_current_context

        from ct_airflow.stage import run_stage
        from pipeline.app import training_flow
        from pipeline.app.stages.training_plan import TrainingPlan

        context = get_current_context()
        context["candidate"], context["fold"] = TrainingPlan.from_json(planned).spec_name, fold + 1
        return run_stage(training_flow.cross_validate, planned, fold)

    # Runs when cross_validate was mapped over no folds (the evaluate task cross-validates small
    # searches itself, so that task is skipped), but still not after a failure or a skipped plan.
    @task(trigger_rule="none_failed_min_one_success")
    def evaluate(plans: list, trained: list, scored: list) -> dict:
        from ct_airflow.stage import run_stage
        from pipeline.app import training_flow

        return run_stage(training_flow.evaluate, plans, trained, scored)

    @task
    def register(evaluated: dict, validation: dict) -> dict:
        from ct_airflow.stage import run_stage
        from pipeline.app import training_flow

        return run_stage(training_flow.register, evaluated, validation)

    @task
    def promote(registered: dict, **context) -> dict:
        from ct_airflow.stage import run_stage
        from pipeline.app import training_flow

        params, dag_run = context["params"], context["dag_run"]
        actor = getattr(dag_run, "triggering_user_name", None) or f"dag_run:{dag_run.dag_id}/{dag_run.run_id}"
        return run_stage(
            training_flow.promote,
            registered,
            override=bool(params["override_promotion"]),
            reason=params["reason"],
            actor=actor,
        )

    plans = plan()
    checked = validate(plans)
    trained = train.expand(planned=plans)  # mapped: one task instance per candidate
    scored = cross_validate.expand(planned=plans, fold=folds(plans))  # mapped: one per candidate x fold
    checked >> [trained, scored]
    evaluated = evaluate(plans, trained, scored)
    promote(register(evaluated, checked))


ct_train()
