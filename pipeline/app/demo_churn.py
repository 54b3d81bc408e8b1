"""The churn demo's batches as ``ct demo`` drops them, and the same loop run in one process.

``drop_churn_batch`` writes a batch the way a producer should (files, then ``_SUCCESS``), with a
broken file beside batch 2. ``run_churn_demo_in_process`` takes the three batches through ingest,
champion scoring and training with the stages themselves (no Airflow, about 25 s): the state the
console tests and the console bench start from, the same state ``ct demo`` reaches through the DAGs.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.app.demo_data import DEMO_BATCHES, generate_batch
from pipeline.app.demo_home import demo_settings
from pipeline.app.stages.ingest import ingest_landing
from pipeline.app.stages.monitor import score_snapshot
from pipeline.app.training_flow import run_training
from pipeline.app.workspace import open_workspace
from pipeline.core.errors import SnapshotError, ValidationFailed
from pipeline.core.settings import Settings
from pipeline.core.storage import atomic_write_bytes

BATCH_NOTES = ("first batch, 50/50", "normal second batch", "covariate drift, label 70/30")


def drop_churn_batch(settings: Settings, index: int) -> list[str]:
    """Write one demo batch into the landing area the way a producer should: files, then ``_SUCCESS``."""
    spec = DEMO_BATCHES[index]
    frame = generate_batch(spec)
    folder = settings.landing / f"batch-{index + 1:03d}"
    half = len(frame) // 2
    names = [f"customers-{index + 1}a.csv", f"customers-{index + 1}b.parquet"]
    atomic_write_bytes(folder / names[0], frame.iloc[:half].to_csv(index=False).encode())
    frame.iloc[half:].to_parquet(folder / names[1], index=False)
    if index == 1:
        # A producer bug: a file with a renamed column. It must end in quarantine, the rest must go on.
        broken = frame.head(50).rename(columns={"monthly_charges": "monthly_charge"})
        atomic_write_bytes(folder / "customers-2-broken.csv", broken.to_csv(index=False).encode())
        names.append("customers-2-broken.csv")
    (folder / "_SUCCESS").touch()
    return names


def run_churn_demo_in_process(home: Path) -> tuple[Settings, tuple[str, ...]]:
    """The three batches in ``home`` (a fresh directory); its settings and the snapshot after each batch.

    Each batch is trained with a ``new_data`` trigger whose run id is ``demo-run-<n>``; a blocking
    validation check stops that batch's training, as it stops ``ct_train`` (recorded, no version).
    """
    settings = demo_settings(home)
    snapshots = []
    for index in range(len(BATCH_NOTES)):
        ws = open_workspace(settings)
        drop_churn_batch(settings, index)
        snapshot_id = ingest_landing(ws).snapshot_id
        if not snapshot_id:
            raise SnapshotError(f"demo batch {index + 1} made no snapshot in {home}")
        score_snapshot(ws, snapshot_id)
        trigger = {
            "kind": "new_data",
            "run_id": f"demo-run-{index + 1}",
            "run_type": "asset_triggered",
            "snapshot_id": snapshot_id,
        }
        try:
            run_training(ws, snapshot_id=snapshot_id, trigger=trigger)
        except ValidationFailed:
            pass
        snapshots.append(snapshot_id)
    return settings, tuple(snapshots)
