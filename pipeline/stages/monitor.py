"""Monitor: the champion scores new data before training, and the verdict is handed to ct_train."""

from __future__ import annotations

import json
import logging
from typing import Any

from pipeline.batch_scoring import pending_scoring_files, score_pending_batches
from pipeline.label_join import join_pending_labels, pending_label_files
from pipeline.monitoring import score_new_batches
from pipeline.workspace import Workspace, progress

log = logging.getLogger(__name__)


def score_snapshot(ws: Workspace, snapshot_id: str | None) -> dict[str, Any]:
    """Score the new parts of ``snapshot_id`` (default: the newest snapshot) with the champion."""
    if snapshot_id is None:
        latest = ws.meta.latest_snapshot(ws.config.dataset.name)
        if latest is None:
            progress("monitor", "no snapshot yet; nothing to monitor")
            return {"snapshot_id": None, "windows": 0, "new_data": False}
        snapshot_id, new_data = latest.id, False
    else:
        new_data = True
    windows = score_new_batches(ws, snapshot_id)
    mark_checked(ws, snapshot_id)
    return {"snapshot_id": snapshot_id, "windows": len(windows), "new_data": new_data}


def _checked_key(snapshot_id: str) -> str:
    return f"monitoring/checked/{snapshot_id}.json"


def mark_checked(ws: Workspace, snapshot_id: str) -> None:
    """Record that the champion has scored ``snapshot_id``: from now on it may be trained on.

    Test-then-train: a scheduled ct_train run only takes snapshots marked here, so a clock tick
    that lands between an ingest and ct_monitor cannot train on data the champion has not seen.
    """
    if not ws.store.exists(_checked_key(snapshot_id)):
        ws.store.put(_checked_key(snapshot_id), json.dumps({"snapshot_id": snapshot_id}).encode())


def latest_checked_snapshot(ws: Workspace) -> str | None:
    """The newest snapshot ct_monitor has checked, or None."""
    for record in ws.meta.list_snapshots(ws.config.dataset.name):  # newest first
        if ws.store.exists(_checked_key(record.id)):
            return record.id
    return None


def score_unlabelled(ws: Workspace) -> dict[str, Any]:
    """Score the complete files in ``scoring/`` with the champion (see ``pipeline/batch_scoring.py``)."""
    out = score_pending_batches(ws)
    return {"scored": [s["batch_id"] for s in out["scored"]], "quarantined": [q["file"] for q in out["quarantined"]],
            "waiting": out["waiting"], "champion_version": out["champion_version"]}


def join_labels(ws: Workspace) -> dict[str, Any]:
    """Join the complete files in ``labels/`` to stored predictions (see ``pipeline/label_join.py``)."""
    out = join_pending_labels(ws)
    return {"joined": [j["label_file"] for j in out["joined"]], "windows": out["windows"],
            "quarantined": [q["file"] for q in out["quarantined"]], "waiting": out["waiting"]}


def monitor_inputs_waiting(ws: Workspace) -> list[str]:
    """Complete files waiting in ``scoring/`` and ``labels/`` (``ct run`` runs ct_monitor for them)."""
    return [f"scoring/{n}" for n in pending_scoring_files(ws)] + [f"labels/{n}" for n in pending_label_files(ws)]


def trigger_for_training(decision: dict[str, Any]) -> dict[str, Any] | None:
    """The trigger ct_train must record, or None when there is no reason to train."""
    if decision.get("retrain"):
        return {"kind": decision["kind"], "reason": decision["reason"], "evidence": decision["evidence"],
                "champion_version": decision.get("champion_version")}
    if decision.get("new_data") and decision.get("snapshot_id"):
        return {"kind": "new_data", "reason": f"new snapshot {decision['snapshot_id']}"}
    return None
