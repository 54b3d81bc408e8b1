"""The loop runs by itself in a real Airflow: files land, a champion appears; the REST API starts runs.

Runs in the shared ``airflow standalone`` (scheduler, dag-processor, triggerer, api-server) of
``airflow_loop`` (tests/e2e/conftest.py), fed once by ``first_batch``. Slow by nature (a few minutes);
run by default and in CI.
"""

from __future__ import annotations

import pytest
from airflow_server import AirflowServer, wait_for
from shared_airflow import LandedBatch

from pipeline.registry.sql import SqlMetadataStore
from scripts.airflow_rest import parse_time, union_length

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _store(server: AirflowServer) -> SqlMetadataStore:
    return SqlMetadataStore(f"sqlite:///{server.ct_home / 'ct.db'}")


def test_landing_files_produce_a_champion_with_no_other_action(
    airflow_loop: AirflowServer, first_batch: LandedBatch, record_property
) -> None:
    airflow = airflow_loop
    landed = first_batch.landed_at

    def champion():
        try:
            return _store(airflow).get_alias("churn-classifier")
        except Exception:  # the store may not exist before the first ingest
            return None

    champ = wait_for(champion, timeout=420, what="a champion after files landed")
    store = _store(airflow)
    promoted_at = parse_time(store.promotion_history("churn-classifier")[-1].created_at)
    snapshot = store.latest_snapshot("churn")
    assert snapshot is not None and snapshot.rows == first_batch.rows
    assert champ.snapshot_id == snapshot.id
    assert champ.trigger["kind"] == "new_data" and champ.trigger["run_type"] == "asset_triggered"
    assert champ.validation_id is not None and store.get_validation(champ.validation_id).passed

    # Time from landing to champion, split into task work and Airflow's own share (detection by the
    # sensor, scheduling, queueing, process start): work is the union of the chain's task intervals.
    tasks = airflow.client.task_intervals(("ct_ingest", "ct_monitor", "ct_train"), landed, promoted_at)
    work = union_length([(a, b) for _task, a, b in tasks])
    total = promoted_at - landed
    record_property("landing_to_champion_seconds", round(total, 1))
    record_property("task_work_seconds", round(work, 1))
    print(
        f"\nlanding -> champion: {total:.1f}s; task work {work:.1f}s; Airflow detection + scheduling "
        f"{total - work:.1f}s ({(total - work) / total:.0%})"
    )
    assert 0 < work <= total


def test_rest_api_run_with_conf_is_recorded_as_manual(airflow_loop: AirflowServer, first_batch: LandedBatch) -> None:
    airflow = airflow_loop
    store = wait_for(lambda: _store(airflow) if (airflow.ct_home / "ct.db").exists() else None, 60, what="the store")
    snapshot = wait_for(lambda: store.latest_snapshot("churn"), 420, what="a first snapshot")
    run = airflow.post(
        "/api/v2/dags/ct_train/dagRuns",
        {
            "logical_date": None,
            "conf": {"snapshot_id": snapshot.id, "model_spec": "gradient_boosting", "reason": "e2e: REST API"},
        },
    )
    run_id = run["dag_run_id"]

    def finished():
        state = airflow.get(f"/api/v2/dags/ct_train/dagRuns/{run_id}")["state"]
        return state if state in ("success", "failed") else None

    assert wait_for(finished, timeout=300, what="the API-triggered ct_train run") == "success"
    versions = [v for v in store.list_model_versions("churn-classifier") if v.trigger.get("run_id") == run_id]
    assert len(versions) == 1
    mv = versions[0]
    assert mv.spec_name == "gradient_boosting"
    assert mv.trigger["kind"] == "manual" and mv.trigger["reason"] == "e2e: REST API"
    assert mv.trigger["user"] == "admin"
