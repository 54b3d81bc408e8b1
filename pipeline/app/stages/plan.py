"""Plan: pin the snapshot and the candidates of a training run and notice repeats."""

from __future__ import annotations

import logging
from typing import Any

from pipeline.app.stages.monitor import latest_checked_snapshot
from pipeline.app.stages.register import decide_undecided
from pipeline.app.stages.training_plan import TrainingPlan
from pipeline.app.work_requests import claim_requests, merge_requests, resolve_as_already_trained
from pipeline.app.workspace import Workspace
from pipeline.core.errors import NothingToDo
from pipeline.core.progress import progress
from pipeline.registry.base import ModelVersion, SnapshotRecord

log = logging.getLogger(__name__)


def planned_candidates(ws: Workspace, spec_name: str | None) -> list[str]:
    """The spec names a run trains: the one asked for, else ``model.candidates``, else ``model.spec``."""
    if spec_name:
        ws.config.model_spec(spec_name)  # an unknown name fails here, listing the declared ones
        return [spec_name]
    return list(ws.config.model.candidate_names) or [ws.config.model.spec]


def find_trained_version(ws: Workspace, snapshot_id: str, spec_name: str | None = None) -> ModelVersion | None:
    """The version already trained from this snapshot and config by any of the run's candidates.

    With candidates the winner's spec is not known before training, so every candidate name
    is looked up (``ct run`` and the demo can use this instead of a single-spec lookup).
    """
    config_hash = ws.config.content_hash()
    for name in planned_candidates(ws, spec_name):
        found = ws.meta.find_model_version(ws.config.model.name, snapshot_id, config_hash, name)
        if found is not None:
            return found
    return None


AUTOMATIC = ("new_data", "performance_drop", "drift", "schedule")
"""Kinds of run that train what the store says is waiting (the newest checked snapshot)."""


def _snapshot_to_train(ws: Workspace, snapshot_id: str | None, trigger: dict[str, Any]) -> SnapshotRecord:
    """The snapshot a run trains: the one a person named, else the newest the champion has checked.

    An automatic run (Asset event or clock) never trusts the snapshot named in its own event, since
    Airflow hands a run only some of the events that arrived while the previous one was busy.
    """
    if snapshot_id and trigger.get("kind") not in AUTOMATIC:
        return ws.meta.get_snapshot(snapshot_id)
    if trigger.get("kind") in AUTOMATIC:
        checked = latest_checked_snapshot(ws)
        if checked is not None:
            return ws.meta.get_snapshot(checked)
        if trigger.get("kind") == "schedule" or not snapshot_id:
            raise NothingToDo(
                "no snapshot has been checked by ct_monitor yet; an automatic run trains only data "
                "the champion has already scored (test, then train)"
            )
        return ws.meta.get_snapshot(snapshot_id)
    latest = ws.meta.latest_snapshot(ws.config.dataset.name)
    if latest is None:
        raise NothingToDo("there is no snapshot to train on yet; drop files into the landing area and run ct_ingest")
    return latest


def plan_training(
    ws: Workspace, snapshot_id: str | None, spec_name: str | None, trigger: dict[str, Any], force: bool = False
) -> TrainingPlan:
    """Pin the snapshot and candidates of a run, claim the training requests it answers, and notice
    when these inputs were trained already (a version left undecided by a killed run is decided here)."""
    snap = _snapshot_to_train(ws, snapshot_id, trigger)
    claimed = claim_requests(ws, str(trigger.get("run_id") or "unknown run"), snap.id)
    merged = merge_requests(
        str(trigger.get("kind")), str(trigger.get("reason") or ""), trigger.get("evidence"), claimed
    )
    trigger = {
        **trigger,
        "kind": merged.kind,
        "reason": merged.reason,
        "evidence": merged.evidence,
        "snapshot_id": snap.id,
        "covers": list(merged.covers),
        "kinds": sorted({merged.kind, *(c["kind"] for c in merged.covers)}),
    }
    candidates = planned_candidates(ws, spec_name)
    existing = find_trained_version(ws, snap.id, spec_name)
    plan = TrainingPlan(
        snapshot_id=snap.id,
        spec_name=candidates[0] if len(candidates) == 1 else "",
        config_hash=ws.config.content_hash(),
        trigger=trigger,
        force=force,
        existing_version=existing.version if existing else None,
        candidates=tuple(candidates),
    )
    what = (
        f"spec {candidates[0]!r}" if len(candidates) == 1 else f"{len(candidates)} candidates ({', '.join(candidates)})"
    )
    answers = (
        f"; answers {len(claimed)} pending request(s): "
        + ", ".join(f"#{r.id} {r.kind} ({r.snapshot_id})" for r in claimed)
        if claimed
        else ""
    )
    if existing and not force:
        resolve_as_already_trained(ws, trigger, snap.id, existing.version)
        if existing.decision is None:
            decide_undecided(ws, existing, actor=f"dag_run:{trigger.get('dag_id', 'ct_train')}/{trigger.get('run_id')}")
        progress(
            "plan",
            f"snapshot {snap.id} with {what} was already trained as "
            f"{ws.config.model.name} v{existing.version}; nothing to do (set force to retrain){answers}",
        )
    else:
        progress(
            "plan",
            f"train {ws.config.model.name} {what} on snapshot {snap.id} "
            f"({snap.rows} rows), trigger {merged.kind}{answers}",
        )
    return plan
