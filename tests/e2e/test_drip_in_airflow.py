"""Batches dripped faster than ct_train finishes lose nothing, in a real Airflow.

One ``airflow standalone`` of its own, ingest ``@continuous`` (a snapshot per batch whenever
ingest keeps up), a single model spec and no retrain cooldown. After a first champion, seven
batches are dripped a few seconds apart while ct_train is busy; once a ct_train run is seen running,
two batches with the concept reversed land, so ct_monitor raises a performance-drop request while
ct_train is still running. Airflow coalesces the Asset events that arrive meanwhile (one queued run
per DAG with ``max_active_runs=1``); the store's training requests must make up for it.

Afterwards, with no run started by hand: every checked snapshot was trained or is recorded as
covered by a named ct_train run, the newest snapshot is trained, and the drop request is in a
version's provenance.
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline.demo import BatchSpec, generate_batch
from pipeline.settings import BUNDLED_CONFIG, load_settings
from pipeline.workspace import Workspace, open_workspace

from airflow_server import AirflowServer, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MODEL = "churn-classifier"
ROWS = 800
DAGS = ("ct_ingest", "ct_monitor", "ct_train")


def _config(path: Path) -> Path:
    cfg = yaml.safe_load(BUNDLED_CONFIG.read_text())
    cfg["model"].pop("candidates", None)
    cfg["ingest"]["stable_seconds"] = 2
    cfg["monitoring"].update({"cooldown_hours": 0, "min_samples": 300, "consecutive_windows": 2})
    cfg.setdefault("schedules", {})["landing_poke_seconds"] = 1
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("e2e-drip")
    server = AirflowServer(root=root, config_path=_config(root / "pipeline.yaml"),
                           extra_env={"CT_LANDING_POKE_SECONDS": "1", "CT_INGEST_CRON": "@continuous"}).start()
    yield server
    server.stop()


def _workspace(server: AirflowServer) -> Workspace:
    return open_workspace(load_settings({"CT_HOME": str(server.ct_home), "CT_CONFIG": str(server.config_path)}))


def _batch(seed: int, reversed_concept: bool = False) -> pd.DataFrame:
    frame = generate_batch(BatchSpec(rows=ROWS, seed=seed, first_id=seed * 10_000))
    if reversed_concept:
        frame["churned"] = np.where(frame["churned"] == "yes", "no", "yes")
    return frame


def _land(server: AirflowServer, folder: str, frames: dict[str, pd.DataFrame]) -> None:
    target = server.ct_home / "landing" / folder
    target.mkdir(parents=True)
    for i, (name, frame) in enumerate(frames.items()):
        frame.to_csv(target / name, index=False)
        stamp = time.time() - 10 + i  # parts, hence live windows, follow the file order
        os.utime(target / name, (stamp, stamp))
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


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_batches_faster_than_training_are_all_trained_or_covered(airflow: AirflowServer) -> None:
    _land(airflow, "batch-00", {"customers.csv": _batch(1)})
    wait_for(lambda: _champion(airflow), 420, interval=2, what="a first champion")

    saw_train_running = False
    for i in range(1, 8):
        _land(airflow, f"batch-{i:02d}", {"customers.csv": _batch(10 + i)})
        time.sleep(4)
        if not saw_train_running and any(r["state"] == "running" for r in airflow.dag_runs("ct_train")):
            saw_train_running = True
            _land(airflow, "concept-change", {"a.csv": _batch(50, reversed_concept=True),
                                              "b.csv": _batch(51, reversed_concept=True)})
    if not saw_train_running:
        wait_for(lambda: any(r["state"] == "running" for r in airflow.dag_runs("ct_train")), 300, interval=1,
                 what="a running ct_train run")
        _land(airflow, "concept-change", {"a.csv": _batch(50, reversed_concept=True),
                                          "b.csv": _batch(51, reversed_concept=True)})

    quiet: list[float] = []
    wait_for(lambda: _settled(airflow, quiet), 900, interval=5, what="the loop to finish every batch by itself")

    ws = _workspace(airflow)
    snapshots = ws.meta.list_snapshots(ws.config.dataset.name)  # newest first
    versions = ws.meta.list_model_versions(MODEL)
    requests = ws.meta.list_work_requests(MODEL)
    train_runs = {r["dag_run_id"]: r for r in airflow.dag_runs("ct_train")}
    assert len(snapshots) >= 4, f"the drip made only {len(snapshots)} snapshots"

    # Nobody started a run by hand.
    for dag_id in DAGS:
        kinds = {r["run_type"] for r in airflow.dag_runs(dag_id)}
        assert kinds <= {"asset_triggered", "scheduled"}, (dag_id, kinds)

    # Every checked snapshot is trained, or covered by a named ct_train run that exists.
    trained = {v.snapshot_id for v in versions}
    new_data = {r.snapshot_id: r for r in requests if r.kind == "new_data"}
    for snap in snapshots:
        if snap.id in trained:
            continue
        request = new_data.get(snap.id)
        assert request is not None, f"snapshot {snap.id} was neither trained nor requested"
        assert request.status == "done" and request.resolution.startswith("covered"), request
        assert request.resolved_by in train_runs, request
    assert snapshots[0].id in trained, "the newest snapshot was not trained"
    assert all(r.status == "done" for r in requests), [r for r in requests if r.status != "done"]

    # The drop was raised while ct_train was running, and a version answers for it.
    (drop,) = [r for r in requests if r.kind == "performance_drop"]
    raised = _when(drop.created_at)
    during = [r for r in train_runs.values()
              if r.get("start_date") and _when(r["start_date"]) <= raised
              and (r.get("end_date") is None or raised <= _when(r["end_date"]))]
    assert during, f"the drop request ({drop.created_at}) was not raised while ct_train ran: the premise failed"
    answering = [v for v in versions if drop.id in [c["request_id"] for c in v.trigger.get("covers", [])]]
    assert len(answering) == 1 and drop.resolved_version == answering[0].version
    assert "performance_drop" in answering[0].trigger["kinds"]
    # one version per trained snapshot: no run trained the same inputs twice
    assert len(versions) == len(trained)
