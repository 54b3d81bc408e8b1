"""Pending training work, recorded in the metadata store: Airflow's events are only hints.

Airflow coalesces Asset events: with ``max_active_runs=1`` the events that arrive while a run is
busy start one later run, and that run is told about only some of them. So every reason to train
(a snapshot the champion has checked, a performance drop, drift) is written here, as a
:class:`~pipeline.registry.base.WorkRequest`, before any event announces it. A ct_train run claims
every pending request whose snapshot is no newer than the one it trains (the newest checked
snapshot, unless a person named one), records them all in the version's trigger, and resolves them
when the version is registered: the request of the trained snapshot as ``trained``, the older ones
as ``covered``. A run that fails resolves nothing, so the next run claims the same requests again;
nothing that was asked for is lost, and ``ct runs pending`` shows what is waiting and why.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipeline.registry.alert import make_dedupe_key
from pipeline.registry.base import NewWorkRequest, WorkRequest

if TYPE_CHECKING:
    from pipeline.app.workspace import Workspace

log = logging.getLogger(__name__)

REQUEST_KINDS = ("new_data", "performance_drop", "drift")
"""What can ask for a training run by itself (a person's run and the clock are runs, not requests)."""

_WEIGHT = {"performance_drop": 3, "drift": 2, "new_data": 1}
"""Which claimed request names an automatic run: a drop outranks drift, drift outranks new data."""


def request_new_data(ws: Workspace, snapshot_ids: Sequence[str]) -> list[WorkRequest]:
    """One ``new_data`` request per snapshot the champion has just checked (a rerun adds none)."""
    model = ws.config.model.name
    made = []
    for snapshot_id in snapshot_ids:
        made.append(
            ws.meta.record_work_request(
                NewWorkRequest(
                    model=model,
                    kind="new_data",
                    snapshot_id=snapshot_id,
                    reason=f"new snapshot {snapshot_id}",
                    dedupe_key=make_dedupe_key("train", model, "new_data", snapshot_id),
                )
            )[0]
        )
    return made


def request_retrain(ws: Workspace, decision: dict[str, Any], snapshot_id: str | None) -> WorkRequest | None:
    """The request of a retrain decision (``performance_drop`` or ``drift``), or None when it holds none.

    The key names the champion and the live windows behind the verdict, so the same evidence seen
    again (a rerun, ``ct run`` after ct_monitor) is one request.
    """
    if not decision.get("retrain") or decision.get("kind") not in ("performance_drop", "drift"):
        return None
    model = ws.config.model.name
    windows = [str(w.get("window_id")) for w in (decision.get("evidence") or {}).get("windows", [])]
    key = make_dedupe_key("train", model, decision["kind"], f"v{decision.get('champion_version')}", *windows)
    evidence = {**(decision.get("evidence") or {}), "champion_version": decision.get("champion_version")}
    request, _ = ws.meta.record_work_request(
        NewWorkRequest(
            model=model,
            kind=decision["kind"],
            snapshot_id=snapshot_id,
            reason=str(decision.get("reason", "")),
            evidence=evidence,
            dedupe_key=key,
        )
    )
    return request


def _position(ws: Workspace) -> dict[str, int]:
    """Snapshot id -> position in the chain (0 = oldest)."""
    newest_first = ws.meta.list_snapshots(ws.config.dataset.name)
    return {record.id: len(newest_first) - i - 1 for i, record in enumerate(newest_first)}


def pending_requests(ws: Workspace) -> list[WorkRequest]:
    """The model's unresolved requests, oldest first."""
    return list(reversed(ws.meta.list_work_requests(ws.config.model.name, pending=True)))


def claim_requests(ws: Workspace, run_id: str, snapshot_id: str) -> list[WorkRequest]:
    """Claim for ``run_id`` every pending request a run training ``snapshot_id`` answers.

    That is every request on this snapshot or an older one (a snapshot holds its ancestors' parts),
    and requests naming no snapshot; requests on newer snapshots wait for a later run.
    """
    position = _position(ws)
    here = position.get(snapshot_id, len(position))
    answered = [r.id for r in pending_requests(ws) if r.snapshot_id is None or position.get(r.snapshot_id, -1) <= here]
    return ws.meta.claim_work_requests(answered, run_id)


@dataclass(frozen=True)
class MergedTrigger:
    """A run's trigger with the requests it answers: kind, reason and evidence, and what it covers."""

    kind: str
    reason: str
    evidence: Any
    covers: tuple[dict[str, Any], ...]


def merge_requests(kind: str, reason: str, evidence: Any, claimed: Sequence[WorkRequest]) -> MergedTrigger:
    """What a run records as its trigger once it has claimed ``claimed``.

    An automatic run (started by an Asset event) is named after its weightiest request, since the
    event that started it may be an older one; a person's run or the clock keeps its own kind. Every
    claimed request is listed, so a version started by new data that also answered a performance
    drop says both.
    """
    covers = tuple(
        {
            "request_id": r.id,
            "kind": r.kind,
            "snapshot_id": r.snapshot_id,
            "reason": r.reason,
            "raised_at": r.created_at,
            "evidence": r.evidence or None,
        }
        for r in claimed
    )
    if kind in REQUEST_KINDS and claimed:
        lead = max(claimed, key=lambda r: (_WEIGHT.get(r.kind, 0), r.id))
        return MergedTrigger(kind=lead.kind, reason=lead.reason, evidence=lead.evidence or None, covers=covers)
    return MergedTrigger(kind=kind, reason=reason, evidence=evidence, covers=covers)


def resolve_requests(ws: Workspace, trigger: dict[str, Any], snapshot_id: str, version: int) -> int:
    """Resolve the requests a run's trigger covers: ``trained`` for its snapshot, ``covered`` for older ones."""
    run_id = str(trigger.get("run_id") or "unknown run")
    covers = trigger.get("covers") or []
    same = [c["request_id"] for c in covers if c.get("snapshot_id") in (snapshot_id, None)]
    older = [c["request_id"] for c in covers if c.get("snapshot_id") not in (snapshot_id, None)]
    done = ws.meta.resolve_work_requests(same, run_id, version, f"trained: snapshot {snapshot_id}")
    done += ws.meta.resolve_work_requests(
        older, run_id, version, f"covered: newer snapshot {snapshot_id} trained instead"
    )
    if done:
        log.info("resolved %d training request(s) for run %s (version %s)", done, run_id, version)
    return done


def resolve_as_already_trained(ws: Workspace, trigger: dict[str, Any], snapshot_id: str, version: int) -> int:
    """Resolve a run's requests when its inputs were trained before: covered by that version.

    Retraining the same snapshot with the same config gives the same version, so the request is
    answered by it; the version carries a ``covered_request:<id>`` tag for each, so its lineage
    shows every request it answered, including those raised after it was made.
    """
    run_id = str(trigger.get("run_id") or "unknown run")
    covers = trigger.get("covers") or []
    ids = [c["request_id"] for c in covers]
    done = ws.meta.resolve_work_requests(
        ids,
        run_id,
        version,
        f"covered: snapshot {snapshot_id} was already trained as v{version}; nothing new to train on",
    )
    for c in covers:
        ws.meta.set_tag(
            ws.config.model.name,
            version,
            f"covered_request:{c['request_id']}",
            json.dumps({"kind": c["kind"], "reason": c["reason"], "run_id": run_id}, sort_keys=True),
        )
    return done
