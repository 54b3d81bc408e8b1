"""
### ct_ingest — take new data in and freeze it as a snapshot

1. **wait_for_landing_files** — a sensor (reschedule mode, so no worker slot is held while waiting)
   that passes once a complete file is in `$CT_HOME/landing/`: a `_SUCCESS` marker in its folder, or
   a size that has not changed for `ingest.stable_seconds`.
2. **ingest_and_snapshot** — parses every file against the declared schema. A file that is unreadable,
   empty, not UTF-8, missing columns or mostly mistyped goes to `$CT_HOME/quarantine/` with a
   `.reason.json`; bad single rows go there too, with a reason per row. Accepted rows become an
   immutable, content-addressed Parquet part and a new snapshot manifest (same data, same id).
   A new snapshot updates the **ct_snapshots** Asset with its id, which starts `ct_train`.

Nothing that arrives is deleted: accepted files are archived by checksum after the snapshot is durable.
"""

from __future__ import annotations

from airflow.sdk import PokeReturnValue, dag, task
from ct_airflow.assets import SNAPSHOTS
from ct_airflow.defaults import DEFAULT_ARGS, INGEST_CRON, LANDING_POKE_SECONDS, START_DATE


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
    @task.sensor(poke_interval=LANDING_POKE_SECONDS, timeout=9 * 60, mode="reschedule", soft_fail=True)
    def wait_for_landing_files() -> PokeReturnValue:
        from ct_airflow.stage import run_stage
        from pipeline.stages import ready_landing_files

        files = run_stage(ready_landing_files)
        return PokeReturnValue(is_done=bool(files), xcom_value=files)

    @task(outlets=[SNAPSHOTS])
    def ingest_and_snapshot(outlet_events=None) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException
        from ct_airflow.stage import run_stage
        from pipeline.stages import ingest_landing

        outcome = run_stage(ingest_landing)
        if not outcome.created:
            raise AirflowSkipException(f"no new snapshot (current: {outcome.snapshot_id}); "
                                       f"{len(outcome.quarantined)} file(s) quarantined")
        outlet_events[SNAPSHOTS].extra = {"snapshot_id": outcome.snapshot_id, "rows": outcome.rows,
                                          "new_rows": outcome.new_rows}
        return outcome.to_dict()

    wait_for_landing_files() >> ingest_and_snapshot()


ct_ingest()
