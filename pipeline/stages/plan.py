"""Plan: pin the snapshot and spec of a training run and notice repeats."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

from pipeline.errors import SnapshotError
from pipeline.workspace import Workspace, progress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingPlan:
    snapshot_id: str
    spec_name: str
    config_hash: str
    trigger: dict[str, Any]
    force: bool
    existing_version: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan_training(ws: Workspace, snapshot_id: str | None, spec_name: str | None, trigger: dict[str, Any],
                  force: bool = False) -> TrainingPlan:
    """Pin the snapshot and spec of a run; notice when these inputs were already trained."""
    if snapshot_id:
        snap = ws.meta.get_snapshot(snapshot_id)
    else:
        snap = ws.meta.latest_snapshot(ws.config.dataset.name)
        if snap is None:
            raise SnapshotError("there is no snapshot to train on yet; drop files into the landing area and run ct_ingest")
    spec = spec_name or ws.config.model.spec
    ws.config.model_spec(spec)
    config_hash = ws.config.content_hash()
    existing = ws.meta.find_model_version(ws.config.model.name, snap.id, config_hash, spec)
    plan = TrainingPlan(snapshot_id=snap.id, spec_name=spec, config_hash=config_hash,
                        trigger={**trigger, "snapshot_id": trigger.get("snapshot_id") or snap.id},
                        force=force, existing_version=existing.version if existing else None)
    if existing and not force:
        progress("plan", f"snapshot {snap.id} with spec {spec!r} was already trained as "
                         f"{ws.config.model.name} v{existing.version}; nothing to do (set force to retrain)")
    else:
        progress("plan", f"train {ws.config.model.name} spec {spec!r} on snapshot {snap.id} "
                         f"({snap.rows} rows), trigger {trigger.get('kind')}")
    return plan
