"""
### ct_ingest — take new data in and freeze it as a snapshot

Runs on `schedules.ingest` (config; `CT_INGEST_CRON` overrides), one run at a time.

1. **wait_for_landing_files** — a deferrable sensor: while nothing is ready it holds no worker slot
   (the triggerer polls `$CT_HOME/landing/` every `schedules.landing_poke_seconds`). It passes once
   the landing area has *settled* — complete files (a `_SUCCESS` marker in their folder, or unchanged
   for `ingest.stable_seconds`) and nothing still being written — so a burst of files is one run and
   a half-written file is never read. A source table with new rows also passes it. After
   `schedules.landing_wait_minutes` with nothing to take the run is skipped.
2. **ingest_and_snapshot** — parses every file against the declared schema. A file that is unreadable,
   empty, not UTF-8, missing columns or mostly mistyped goes to `$CT_HOME/quarantine/` with a
   `.reason.json`; bad single rows go there too, with a reason per row. Accepted rows become an
   immutable, content-addressed Parquet part and a new snapshot manifest (same data, same id).
   A new snapshot updates the **ct_snapshots** Asset with its id, which starts `ct_train`.

Nothing that arrives is deleted: accepted files are archived by checksum after the snapshot is durable.
"""

from __future__ import annotations

from airflow.sdk import dag, task

from ct_airflow.assets import SNAPSHOTS
from ct_airflow.defaults import DEFAULT_ARGS, INGEST_CRON, LANDING_POKE_SECONDS, LANDING_WAIT, START_DATE
from ct_airflow.landing import LandingFilesSensor


@dag(
    dag_id="ct_ingest",
    schedule=INGEST_CRON,
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["ct", "ingest"],
    doc_md=__doc__,
)
def ct_ingest():
    wait_for_landing_files = LandingFilesSensor(
        task_id="wait_for_landing_files", poke_seconds=LANDING_POKE_SECONDS, wait=LANDING_WAIT
    )

    @task(outlets=[SNAPSHOTS])
    def ingest_and_snapshot(outlet_events=None) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        from ct_airflow.stage import run_stage
        from pipeline.app.stages.ingest import IngestOutcome, ingest_landing

        outcome = IngestOutcome.from_json(run_stage(ingest_landing))
        if not outcome.created:
            raise AirflowSkipException(
                f"no new snapshot (current: {outcome.snapshot_id}); {len(outcome.quarantined)} file(s) quarantined"
            )
        outlet_events[SNAPSHOTS].extra = {
            "snapshot_id": outcome.snapshot_id,
            "rows": outcome.rows,
            "new_rows": outcome.new_rows,
        }
        return outcome.to_json()

    wait_for_landing_files >> ingest_and_snapshot()


ct_ingest()
