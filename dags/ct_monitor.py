"""
### ct_monitor — test, then train: watch the champion on live data

Runs on every new snapshot (the **ct_snapshots** Asset) and on the `CT_MONITOR_CRON` schedule.

1. **score_new_data** — the current champion scores every labelled part it has not seen yet,
   *before* that data is used for training: one live window per part with the primary metric and
   its 95% bootstrap interval, plus drift of the part's features against the champion's training data.
   Which snapshots wait is read from the store (every one newer than the newest checked), not from
   the Asset events, which Airflow coalesces while a run is busy.
2. **score_unlabelled_batches** — the champion scores every complete file in `scoring/` (no label
   yet); predictions are written to `predictions/<batch>/<model>-v<version>.parquet` with a manifest.
3. **collect_served_predictions** — every new prediction-log file of `ct serve`
   (`prediction-logs/<model>/…`) becomes a scored batch per model version that answered or
   shadowed its requests, in the same layout, so late labels join served predictions too.
4. **join_late_labels** — label files in `labels/` are matched by id to those predictions: one live
   window per join and model version, unmatched or repeated labels kept in quarantine, and the
   labelled rows dropped into `landing/` so `ct_ingest` takes them in as training data.
5. **judge_challenger** — with a `challenger` alias (canary or shadow), its answers and the
   champion's on the same labelled live requests are compared (paired bootstrap, 95% interval):
   non-inferior on `serving.challenger.min_samples` rows promotes it (trigger `live_evaluation`),
   clearly worse retires it; a ledger row and an alert either way.
6. **decide** — a retrain is requested only for a sustained, significant drop (or sustained drift):
   enough rows, the whole interval below the tolerated level for `monitoring.consecutive_windows`
   windows in a row, and outside the cooldown since the last promotion.
7. **hand_over** — records each checked snapshot and any retrain decision as a pending training
   request in the store (`ct runs pending` lists them), then updates the **ct_checked_snapshots**
   Asset, which starts `ct_train`; the next ct_train run claims every pending request.

See docs/monitoring.md.
"""

from __future__ import annotations

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, task

from ct_airflow.assets import CHECKED_SNAPSHOTS, SNAPSHOTS
from ct_airflow.defaults import DEFAULT_ARGS, MONITOR_CRON, START_DATE


@dag(
    dag_id="ct_monitor",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable(MONITOR_CRON, timezone="UTC"), assets=SNAPSHOTS),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["ct", "monitor"],
    doc_md=__doc__,
    params={
        "snapshot_id": Param(
            "",
            type="string",
            title="Snapshot",
            description="Score this snapshot's new data (manual runs). Empty: the newest.",
        )
    },
)
def ct_monitor():
    # Each task calls one stage of pipeline/app/stages/monitor.py; run_stage turns XCom's JSON into
    # the contracts the stage takes (SnapshotScoring, LabelJoin, MonitorDecision, ...).
    @task
    def score_new_data(**context) -> dict:
        from ct_airflow.stage import run_stage
        from pipeline.app.stages.monitor import score_snapshot

        # The store, not the (coalesced) Asset events, says which snapshots wait to be checked.
        return run_stage(score_snapshot, context["params"]["snapshot_id"] or None)

    @task
    def score_unlabelled_batches() -> dict:
        from ct_airflow.stage import run_stage
        from pipeline.app.stages.monitor import score_unlabelled

        return run_stage(score_unlabelled)

    @task
    def collect_served_predictions() -> dict:
        from ct_airflow.stage import run_stage
        from pipeline.app.stages.monitor import collect_served_predictions

        return run_stage(collect_served_predictions)

    @task
    def join_late_labels(unlabelled: dict, served: dict) -> dict:
        from ct_airflow.stage import run_stage
        from pipeline.app.stages.monitor import join_labels

        return run_stage(join_labels)  # after scoring: labels may be for a batch scored in this run

    @task
    def judge_challenger(joined: dict, **context) -> dict:
        from ct_airflow.stage import run_stage
        from pipeline.app.stages.monitor import judge_live_challenger

        dag_run = context["dag_run"]
        return run_stage(judge_live_challenger, joined, actor=f"dag_run:{dag_run.dag_id}/{dag_run.run_id}")

    @task
    def decide(scored: dict, joined: dict, judged: dict) -> dict:
        from ct_airflow.stage import run_stage
        from pipeline.app.stages.monitor import decide_on_retrain

        return run_stage(decide_on_retrain, scored, joined)  # after judging: the champion may have moved

    @task(outlets=[CHECKED_SNAPSHOTS])
    def hand_over(decision: dict, outlet_events=None) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        from ct_airflow.stage import run_stage
        from pipeline.app.stages.monitor import MonitorDecision, hand_over_to_training

        trigger = run_stage(hand_over_to_training, decision)  # recorded in the store before the event
        if trigger is None:
            raise AirflowSkipException("no new data and no retrain request: ct_train is not started")
        snapshot_id = MonitorDecision.from_json(decision).snapshot_id
        outlet_events[CHECKED_SNAPSHOTS].extra = {"snapshot_id": snapshot_id, "trigger": trigger}
        return trigger

    joined = join_late_labels(score_unlabelled_batches(), collect_served_predictions())
    hand_over(decide(score_new_data(), joined, judge_challenger(joined)))


ct_monitor()
