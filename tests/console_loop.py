"""The churn demo's three batches, run through the loop in this process: a store for console tests.

What ``ct demo`` does through Airflow, done with the stages themselves (no Airflow, about a minute):
each batch is dropped into the landing area as the demo drops it (a broken file beside batch 2,
covariate drift and a 70/30 label in batch 3), ingested, scored by the champion (live windows)
and trained with a ``new_data`` trigger whose run id is ``demo-run-<n>``. The result is the
state the console shows after the demo: three versions, a champion, drift and a broken label
contract on batch 3, live windows and alerts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.app.demo_home import demo_settings
from pipeline.app.stages.ingest import ingest_landing
from pipeline.app.stages.monitor import score_snapshot
from pipeline.app.training_flow import run_training
from pipeline.app.workspace import Workspace, open_workspace
from pipeline.cli.demo_run import BATCH_NOTES, drop_churn_batch
from pipeline.core.errors import ValidationFailed


@dataclass(frozen=True)
class ConsoleLoop:
    """The workspace after the three batches, and what each batch produced."""

    ws: Workspace
    snapshots: tuple[str, ...]
    """Snapshot id after each batch."""
    run_ids: tuple[str, ...]
    """The run id each batch was trained under (``demo-run-1`` …)."""


def run_console_loop(home: Path) -> ConsoleLoop:
    """Run the three demo batches in ``home`` (a fresh directory) and return the workspace."""
    settings = demo_settings(home)
    snapshots, run_ids = [], []
    for index in range(len(BATCH_NOTES)):
        ws = open_workspace(settings)
        drop_churn_batch(settings, index)
        outcome = ingest_landing(ws)
        snapshot_id = outcome.snapshot_id
        assert snapshot_id, f"batch {index + 1} made no snapshot: {outcome}"
        score_snapshot(ws, snapshot_id)
        run_id = f"demo-run-{index + 1}"
        trigger = {"kind": "new_data", "run_id": run_id, "run_type": "asset_triggered", "snapshot_id": snapshot_id}
        try:
            run_training(ws, snapshot_id=snapshot_id, trigger=trigger)
        except ValidationFailed:
            pass  # a blocking check stopped the run, as it stops ct_train: recorded, no version
        snapshots.append(snapshot_id)
        run_ids.append(run_id)
    return ConsoleLoop(ws=open_workspace(settings), snapshots=tuple(snapshots), run_ids=tuple(run_ids))
