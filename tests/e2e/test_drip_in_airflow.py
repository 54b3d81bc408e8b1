"""Batches dripped faster than ct_train finishes lose nothing, in a real Airflow.

One ``airflow standalone`` of its own, ingest ``@continuous`` (a snapshot per batch whenever
ingest keeps up), the demo's two candidates and no retrain cooldown. After a first champion, six
batches are dripped a few seconds apart, faster than ct_train finishes; once a ct_train run has
claimed its work (its plan task succeeded) and still runs, two batches with the concept reversed
land, so ct_monitor raises a performance-drop request that only a following run can take. Airflow
coalesces the Asset events that arrive meanwhile (one queued run per DAG with ``max_active_runs=1``);
the store's training requests must make up for it.

Afterwards, with no run started by hand: every checked snapshot was trained or is recorded as
covered by a named ct_train run, the newest snapshot is trained, and the drop request is in a
version's provenance.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from airflow_server import AirflowServer, wait_for

from pipeline.app.demo_data import BatchSpec, generate_batch
from pipeline.app.workspace import Workspace, open_workspace
from pipeline.core.settings import BUNDLED_CONFIG, load_settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MODEL = "churn-classifier"
ROWS = 800
DAGS = ("ct_ingest", "ct_monitor", "ct_train")


def _config(path: Path) -> Path:
    cfg = yaml.safe_load(BUNDLED_CONFIG.read_text())
    cfg["ingest"]["stable_seconds"] = 2
    # A search as big data would make it: folds as mapped tasks and boosting without early stopping,
    # so a ct_train run lasts well beyond ct_monitor's turn-around (the test's premise, see below).
    cfg.setdefault("resources", {})["cv_in_process_max_rows"] = 0
    cfg["model"]["specs"]["gradient_boosting"]["params"].update({"max_iter": 400, "early_stopping": False})
    cfg["monitoring"].update({"cooldown_hours": 0, "min_samples": 300, "consecutive_windows": 2})
    cfg.setdefault("schedules", {})["landing_poke_seconds"] = 1
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("e2e-drip")
    server = AirflowServer(
        root=root,
        config_path=_config(root / "pipeline.yaml"),
        extra_env={"CT_LANDING_POKE_SECONDS": "1", "CT_INGEST_CRON": "@continuous"},
    ).start()
    yield server
    server.stop()


def _workspace(server: AirflowServer) -> Workspace:
    return open_workspace(load_settings({"CT_HOME": str(server.ct_home), "CT_CONFIG": str(server.config_path)}))


def _batch(seed: int, reversed_concept: bool = False, rows: int = ROWS) -> pd.DataFrame:
    frame = generate_batch(BatchSpec(rows=rows, seed=seed, first_id=seed * 10_000))
    if reversed_concept:
        frame["churned"] = np.where(frame["churned"] == "yes", "no", "yes")
    return frame


def _land(server: AirflowServer, folder: str, frames: dict[str, pd.DataFrame]) -> None:
    """Files in order, then ``_SUCCESS``: parts (hence live windows) follow the order files were written,
    so a batch landed later is always scored later."""
    target = server.ct_home / "landing" / folder
    target.mkdir(parents=True)
    for name, frame in frames.items():
        frame.to_csv(target / name, index=False)
        time.sleep(0.05)  # distinct modification times even on coarse file systems
    (target / "_SUCCESS").touch()


def _champion(server: AirflowServer) -> Any:
    try:
        return _workspace(server).meta.get_alias(MODEL)
    except Exception:  # the store is being created by the first ingest
        return None


def _busy(server: AirflowServer) -> list[str]:
    """Runs queued or running, except ct_ingest's continuous run waiting on an empty landing area."""
    busy = []
    for dag_id in DAGS:
        for run in server.dag_runs(dag_id):
            if run["state"] not in ("queued", "running"):
                continue
            if dag_id == "ct_ingest":
                states = {ti["task_id"]: ti["state"] for ti in server.task_instances(dag_id, run["dag_run_id"])}
                if states.get("wait_for_landing_files") == "deferred":
                    continue
            busy.append(f"{dag_id}/{run['dag_run_id']}")
    return busy


def _landing_files(server: AirflowServer) -> list[Path]:
    return [p for p in (server.ct_home / "landing").rglob("*") if p.is_file() and p.name != "_SUCCESS"]


def _settled(server: AirflowServer, since: list[float]) -> bool:
    """Nothing waiting and nothing running, twice in a row 20 s apart (events become runs meanwhile)."""
    from pipeline.cli.runs import pending_work

    quiet = not _landing_files(server) and not _busy(server) and not pending_work(_workspace(server))
    if not quiet:
        since.clear()
        return False
    since.append(time.monotonic())
    return since[-1] - since[0] >= 20


def _when(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _train_run_past_plan(server: AirflowServer) -> dict[str, Any] | None:
    """A ct_train run that is still running and has already claimed its work (plan succeeded)."""
    for run in server.dag_runs("ct_train"):
        if run["state"] != "running":
            continue
        states = {ti["task_id"]: ti for ti in server.task_instances("ct_train", run["dag_run_id"])}
        plan = states.get("plan") or {}
        if plan.get("state") == "success" and plan.get("end_date"):
            return {**run, "plan_end": _when(plan["end_date"])}
    return None


def _drop_requests(server: AirflowServer) -> list[Any]:
    try:
        return [r for r in _workspace(server).meta.list_work_requests(MODEL) if r.kind == "performance_drop"]
    except Exception:
        return []


def _raise_a_drop_while_training(server: AirflowServer, attempt: int) -> tuple[Any, dict[str, Any]]:
    """Land two concept-reversed batches once a ct_train run has claimed its work, and wait for the
    performance-drop request they cause; returns (request, the run that was busy) when it was raised
    while that run still ran, else (request, {})."""
    busy = wait_for(lambda: _train_run_past_plan(server), 420, interval=1, what="a ct_train run past its plan")
    known = {r.id for r in _drop_requests(server)}
    _land(
        server,
        f"concept-change-{attempt}",
        {
            "a.csv": _batch(50 + 2 * attempt, reversed_concept=True),
            "b.csv": _batch(51 + 2 * attempt, reversed_concept=True),
        },
    )
    drop = wait_for(
        lambda: next((r for r in _drop_requests(server) if r.id not in known), None),
        420,
        interval=2,
        what="ct_monitor to raise a performance-drop request",
    )
    run = server.client.dag_run("ct_train", busy["dag_run_id"])
    ended = _when(run["end_date"]) if run.get("end_date") else float("inf")
    return drop, (busy if busy["plan_end"] < _when(drop.created_at) < ended else {})


def test_batches_faster_than_training_are_all_trained_or_covered(airflow: AirflowServer) -> None:
    # big enough for a first champion: its holdout must clear promotion.min_holdout_rows (200)
    _land(airflow, "batch-00", {"customers.csv": _batch(1, rows=1500)})
    wait_for(lambda: _champion(airflow), 420, interval=2, what="a first champion")

    for i in range(1, 7):  # six batches, a few seconds apart: far faster than ct_train
        _land(airflow, f"batch-{i:02d}", {"customers.csv": _batch(10 + i)})
        time.sleep(3)
    # The drop must arrive after a busy run has claimed its work, so only a following run can take it.
    # The race with that run's end is the test's premise, not its subject: when the run finishes
    # first, one more normal batch starts another run and the reversed batches come again.
    for attempt in range(3):
        drop, busy = _raise_a_drop_while_training(airflow, attempt)
        if busy:
            break
        _land(airflow, f"batch-again-{attempt}", {"customers.csv": _batch(30 + attempt)})
    assert busy, "no performance drop was raised while a ct_train run was busy in 3 attempts"

    quiet: list[float] = []
    wait_for(lambda: _settled(airflow, quiet), 900, interval=5, what="the loop to finish every batch by itself")

    ws = _workspace(airflow)
    snapshots = ws.meta.list_snapshots(ws.config.dataset.name)  # newest first
    versions = ws.meta.list_model_versions(MODEL)
    requests = {r.id: r for r in ws.meta.list_work_requests(MODEL)}
    train_runs = {r["dag_run_id"]: r for r in airflow.dag_runs("ct_train")}
    assert len(snapshots) >= 3, f"the drip made only {len(snapshots)} snapshots"

    # Nobody started a run by hand.
    for dag_id in DAGS:
        kinds = {r["run_type"] for r in airflow.dag_runs(dag_id)}
        assert kinds <= {"asset_triggered", "scheduled"}, (dag_id, kinds)

    # Every checked snapshot is trained, or covered by a named ct_train run that exists.
    trained = {v.snapshot_id for v in versions}
    new_data = {r.snapshot_id: r for r in requests.values() if r.kind == "new_data"}
    for snap in snapshots:
        if snap.id in trained:
            continue
        request = new_data.get(snap.id)
        assert request is not None, f"snapshot {snap.id} was neither trained nor requested"
        assert request.status == "done" and request.resolution.startswith("covered"), request
        assert request.resolved_by in train_runs, request
    assert snapshots[0].id in trained, "the newest snapshot was not trained"
    assert all(r.status == "done" for r in requests.values()), [r for r in requests.values() if r.status != "done"]

    # The drop raised while a run was busy was taken by a following run, and a version answers for it.
    drop = requests[drop.id]
    assert drop.resolved_by != busy["dag_run_id"] and drop.resolved_by in train_runs
    assert train_runs[drop.resolved_by]["run_type"] == "asset_triggered"
    answering = [v for v in versions if drop.id in [c["request_id"] for c in v.trigger.get("covers", [])]]
    assert len(answering) == 1 and drop.resolved_version == answering[0].version
    assert "performance_drop" in answering[0].trigger["kinds"]
    # one version per trained snapshot: no run trained the same inputs twice
    assert len(versions) == len(trained)
