"""Data and live evidence start the loop by themselves in a real Airflow.

One ``airflow standalone`` (scheduler, dag-processor, triggerer, api-server) for the module, with a
config that has no retrain cooldown and a single model spec (to keep it quick). The story:

1. A burst of files, one of them still being written, lands at once: the deferrable sensor waits in
   the triggerer until the landing area settles, so there is one ingest run and the slow file is
   read whole. A champion follows with no other action.
2. A noisy dip: one batch whose labels are partly wrong, then a normal one. The champion's live
   window really drops, but not for ``consecutive_windows`` in a row: no retrain is requested, and
   the next model records plain new data as its reason (hysteresis).
3. The concept changes: two batches with the relation between features and label reversed. Both
   windows fall below the tolerated level, ct_monitor requests a retrain and ct_train starts by
   itself; the new model version records ``performance_drop`` with the evidence.
"""

from __future__ import annotations

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from airflow_server import AirflowServer, free_port, wait_for

from pipeline.app.demo_data import BatchSpec, generate_batch
from pipeline.app.workspace import Workspace, open_workspace
from pipeline.core.settings import BUNDLED_CONFIG, load_settings
from pipeline.monitoring.live_performance import live_windows
from pipeline.registry.base import ModelVersion

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MODEL = "churn-classifier"
ROWS = 1000


def _config(path: Path) -> Path:
    cfg = yaml.safe_load(BUNDLED_CONFIG.read_text())
    cfg["model"].pop("candidates", None)
    cfg["ingest"]["stable_seconds"] = 3
    cfg["monitoring"].update({"cooldown_hours": 0, "min_samples": 300, "consecutive_windows": 2})
    cfg.setdefault("schedules", {})["landing_poke_seconds"] = 1
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


class Webhook:
    """A chat-style webhook on localhost that keeps every JSON body posted to it."""

    def __init__(self) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/ct"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def kinds(self) -> list[str]:
        return [body["kind"] for body in self.received]


@pytest.fixture(scope="module")
def webhook():
    hook = Webhook()
    yield hook
    hook.server.shutdown()


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory, webhook: Webhook):
    root = tmp_path_factory.mktemp("e2e-triggers")
    server = AirflowServer(
        root=root,
        config_path=_config(root / "pipeline.yaml"),
        extra_env={"CT_LANDING_POKE_SECONDS": "1", "CT_ALERT_WEBHOOK_URL": webhook.url},
    ).start()
    yield server
    server.stop()


def _workspace(server: AirflowServer) -> Workspace:
    return open_workspace(load_settings({"CT_HOME": str(server.ct_home), "CT_CONFIG": str(server.config_path)}))


def _versions(server: AirflowServer) -> list[ModelVersion]:
    if not (server.ct_home / "ct.db").exists():
        return []  # nothing ingested yet
    return wait_for(lambda: _read_versions(server), 30, interval=0.5, what="a readable store")[1]


def _read_versions(server: AirflowServer) -> tuple[bool, list[ModelVersion]] | None:
    try:
        return True, sorted(_workspace(server).meta.list_model_versions(MODEL), key=lambda v: v.version)
    except Exception:  # the schema is being created by the first ingest: look again
        return None


def _batch(seed: int, first_id: int, flip_share: float = 0.0) -> pd.DataFrame:
    """A batch from the demo generator; ``flip_share`` of its labels swapped (1.0: the concept reversed)."""
    frame = generate_batch(BatchSpec(rows=ROWS, seed=seed, first_id=first_id))
    flip = np.random.default_rng(seed).random(len(frame)) < flip_share
    frame.loc[flip, "churned"] = np.where(frame.loc[flip, "churned"] == "yes", "no", "yes")
    return frame


def _land(server: AirflowServer, folder: str, frames: dict[str, pd.DataFrame]) -> None:
    """Write a batch folder the way a producer does: files first (oldest first), then ``_SUCCESS``."""
    target = server.ct_home / "landing" / folder
    target.mkdir(parents=True)
    for i, (name, frame) in enumerate(frames.items()):
        frame.to_csv(target / name, index=False)
        stamp = time.time() - 10 + i  # explicit order: parts, hence live windows, follow the file order
        os.utime(target / name, (stamp, stamp))
    (target / "_SUCCESS").touch()


def _new_version(server: AirflowServer, known: int, timeout: float = 420) -> ModelVersion:
    return wait_for(lambda: next(iter(_versions(server)[known:]), None), timeout, what=f"model version {known + 1}")


def _successful_ingests(server: AirflowServer) -> list[dict[str, Any]]:
    done = []
    for run in server.dag_runs("ct_ingest"):
        states = {ti["task_id"]: ti["state"] for ti in server.task_instances("ct_ingest", run["dag_run_id"])}
        if states.get("ingest_and_snapshot") == "success":
            done.append(run)
    return done


def test_a_burst_with_a_file_still_being_written_is_one_ingest_run(airflow: AirflowServer) -> None:
    landing = airflow.ct_home / "landing"
    for i in range(3):
        _batch(seed=100 + i, first_id=i * ROWS).to_csv(landing / f"burst-{i}.csv", index=False)
    slow = _batch(seed=103, first_id=3 * ROWS)
    with open(landing / "slow.csv", "w") as fh:  # a large upload: rows keep arriving for ~8 s
        for start in range(0, ROWS, ROWS // 8):
            slow.iloc[start : start + ROWS // 8].to_csv(fh, index=False, header=start == 0)
            fh.flush()
            time.sleep(1.0)

    champion = wait_for(
        lambda: _workspace(airflow).meta.get_alias(MODEL) if _versions(airflow) else None,
        timeout=420,
        what="a champion after the burst",
    )
    ws = _workspace(airflow)
    snapshot = ws.meta.get_snapshot(champion.snapshot_id)
    assert snapshot.rows == 4 * ROWS  # the slow file whole, not the part written when the burst began
    assert len(_successful_ingests(airflow)) == 1
    assert champion.version == 1 and champion.trigger["kind"] == "new_data"
    sensor_states = {
        ti["state"]
        for run in airflow.dag_runs("ct_ingest")
        for ti in airflow.task_instances("ct_ingest", run["dag_run_id"])
        if ti["task_id"] == "wait_for_landing_files"
    }
    assert sensor_states <= {"success", "deferred", "skipped", "scheduled", "queued", "running"}


def test_a_noisy_dip_is_seen_but_does_not_start_a_retrain(airflow: AirflowServer) -> None:
    wait_for(lambda: _versions(airflow), 420, what="the first model")  # the burst test ran first
    known = len(_versions(airflow))
    champion = _workspace(airflow).meta.get_alias(MODEL)
    _land(
        airflow,
        "dip",
        {
            "a-noisy.csv": _batch(seed=200, first_id=10_000, flip_share=0.3),
            "b-normal.csv": _batch(seed=201, first_id=11_000),
        },
    )

    version = _new_version(airflow, known)
    assert version.trigger["kind"] == "new_data", version.trigger
    ws = _workspace(airflow)
    dip, after = live_windows(ws, champion)  # oldest first: the noisy file, then the normal one
    floor = champion.metrics["roc_auc"]["value"] - ws.config.monitoring.max_drop
    assert dip.upper < floor  # the dip was real and measured...
    assert after.upper >= floor  # ...but the next window was fine: not sustained, so no request


def test_a_reversed_concept_makes_ct_monitor_start_ct_train_with_the_evidence(
    airflow: AirflowServer, webhook: Webhook
) -> None:
    wait_for(lambda: len(_versions(airflow)) >= 2, 420, what="the model after the dip")
    known = len(_versions(airflow))
    _land(
        airflow,
        "concept-change",
        {
            "a.csv": _batch(seed=300, first_id=20_000, flip_share=1.0),
            "b.csv": _batch(seed=301, first_id=21_000, flip_share=1.0),
        },
    )

    version = _new_version(airflow, known)
    trigger = version.trigger
    assert trigger["kind"] == "performance_drop", trigger
    assert "fell below" in trigger["reason"]
    windows = trigger["evidence"]["windows"]
    assert len(windows) == 2 and all(w["upper"] < trigger["evidence"]["tolerated_floor"] for w in windows)
    assert trigger["run_type"] == "asset_triggered"  # nobody started it
    runs = [r for r in airflow.dag_runs("ct_train") if r["dag_run_id"] == trigger["run_id"]]
    assert runs and runs[0]["run_type"] == "asset_triggered"

    # ct_monitor alerted once: in the alerts table and on the webhook, with the same evidence
    drops = _workspace(airflow).meta.list_alerts(kind="performance_drop")
    assert len(drops) == 1 and drops[0].delivery_status == "delivered"
    posted = [body for body in webhook.received if body["kind"] == "performance_drop"]
    assert len(posted) == 1 and posted[0]["id"] == drops[0].id
    assert "promoted" in webhook.kinds()  # the first champion was announced too
