"""Monitor: the champion scores new data before training, served predictions and late labels give live
windows, a challenger is judged on live evidence, and the retrain verdict is handed to ct_train."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.app.contracts import Contract
from pipeline.app.work_requests import request_new_data, request_retrain
from pipeline.app.workspace import Workspace
from pipeline.core.progress import progress
from pipeline.monitoring.batch_scoring import pending_scoring_files, score_pending_batches
from pipeline.monitoring.label_join import join_pending_labels, pending_label_files
from pipeline.monitoring.live_evaluation import judge_challenger
from pipeline.monitoring.live_performance import check_for_retrain, score_new_batches
from pipeline.monitoring.served_batches import collect_served, pending_log_files
from pipeline.registry.base import SnapshotRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SnapshotScoring(Contract):
    """What the champion scored before training: the newest snapshot, its live windows, whether it
    was new data, and every snapshot that scoring covered (oldest first)."""

    snapshot_id: str | None
    windows: int
    new_data: bool
    checked: tuple[str, ...] = ()


@dataclass(frozen=True)
class BatchScoring(Contract):
    """Unlabelled batches scored now, files quarantined, files waiting for a champion, and which one scored."""

    scored: tuple[str, ...]
    quarantined: tuple[str, ...]
    waiting: int
    champion_version: int | None


@dataclass(frozen=True)
class LabelJoin(Contract):
    """Label files joined to stored predictions, the live windows they made, and what was held back."""

    joined: tuple[str, ...]
    windows: int
    quarantined: tuple[str, ...]
    waiting: int


@dataclass(frozen=True)
class ServedCollection(Contract):
    """Prediction-log files of ``ct serve`` taken as scored batches now, the batches, and files refused."""

    taken: tuple[str, ...]
    batches: tuple[str, ...]
    request_rows: int
    refused: tuple[str, ...]


@dataclass(frozen=True)
class ChallengerVerdict(Contract):
    """The live judgement of the challenger: ``action`` none / promoted / retired / cleared, and why."""

    action: str
    reason: str
    challenger_version: int | None
    champion_version: int | None
    verdict: str | None = None
    rows: int = 0
    ledger_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class MonitorDecision(Contract):
    """The retrain verdict on the champion's live windows, with what this monitor run checked."""

    retrain: bool
    kind: str | None
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)
    champion_version: int | None = None
    snapshot_id: str | None = None
    new_data: bool = False
    checked: tuple[str, ...] = ()
    joined_windows: int = 0


@dataclass(frozen=True)
class TrainingTrigger(Contract):
    """Why ct_train should run, as the Asset event hands it over (``ct_airflow.provenance`` reads it)."""

    kind: str
    reason: str
    evidence: dict[str, Any] | None = None
    champion_version: int | None = None


def score_snapshot(ws: Workspace, snapshot_id: str | None) -> SnapshotScoring:
    """Score with the champion the new parts of ``snapshot_id``, or of every snapshot not checked yet.

    Without an id the store says what is waiting, not the Asset events that started the run
    (Airflow coalesces those): every snapshot newer than the newest checked one. The newest of them
    holds all their parts, so scoring it scores them all; :func:`hand_over_to_training` marks them checked.
    With nothing waiting the newest snapshot is scored again (a no-op unless the champion changed).
    """
    if snapshot_id is not None:
        waiting = [snapshot_id]
    else:
        waiting = [s.id for s in unchecked_snapshots(ws)]
        if not waiting:
            latest = ws.meta.latest_snapshot(ws.config.dataset.name)
            if latest is None:
                progress("monitor", "no snapshot yet; nothing to monitor")
                return SnapshotScoring(snapshot_id=None, windows=0, new_data=False)
            windows = score_new_batches(ws, latest.id)
            return SnapshotScoring(snapshot_id=latest.id, windows=len(windows), new_data=False)
    newest = waiting[0]
    windows = score_new_batches(ws, newest)  # marked checked by the hand-over, once the requests are stored
    if len(waiting) > 1:
        progress(
            "monitor",
            f"{len(waiting)} snapshots were waiting to be checked; scoring the newest, {newest}, "
            f"covered them all ({', '.join(reversed(waiting))})",
        )
    return SnapshotScoring(snapshot_id=newest, windows=len(windows), new_data=True, checked=tuple(reversed(waiting)))


def unchecked_snapshots(ws: Workspace) -> list[SnapshotRecord]:
    """Snapshots newer than the newest one ct_monitor has checked, newest first."""
    waiting = []
    for record in ws.meta.list_snapshots(ws.config.dataset.name):  # newest first
        if ws.store.exists(_checked_key(record.id)):
            break
        waiting.append(record)
    return waiting


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


def score_unlabelled(ws: Workspace) -> BatchScoring:
    """Score the complete files in ``scoring/`` with the champion (see ``pipeline/monitoring/batch_scoring.py``)."""
    out = score_pending_batches(ws)
    return BatchScoring(
        scored=tuple(s["batch_id"] for s in out["scored"]),
        quarantined=tuple(q["file"] for q in out["quarantined"]),
        waiting=out["waiting"],
        champion_version=out["champion_version"],
    )


def join_labels(ws: Workspace) -> LabelJoin:
    """Join the complete files in ``labels/`` to stored predictions (see ``pipeline/monitoring/label_join.py``)."""
    out = join_pending_labels(ws)
    return LabelJoin(
        joined=tuple(j["label_file"] for j in out["joined"]),
        windows=out["windows"],
        quarantined=tuple(q["file"] for q in out["quarantined"]),
        waiting=out["waiting"],
    )


def collect_served_predictions(ws: Workspace) -> ServedCollection:
    """Take the new prediction-log files of ``ct serve`` as scored batches (see ``monitoring/served_batches.py``)."""
    out = collect_served(ws)
    return ServedCollection(
        taken=tuple(r["log_file"] for r in out["taken"]),
        batches=tuple(out["batches"]),
        request_rows=out["request_rows"],
        refused=tuple(r["log_file"] for r in out["refused"]),
    )


def judge_live_challenger(ws: Workspace, joined: LabelJoin, actor: str = "ct_monitor") -> ChallengerVerdict:
    """After the label join: promote or retire the challenger on paired live evidence
    (``pipeline/monitoring/live_evaluation.py``); ``joined`` only orders this after the join."""
    judged = judge_challenger(ws, actor)
    if judged.action in ("promoted", "retired"):
        from pipeline.reporting.pages import write_model_report  # the pages show aliases and the decision

        for version in (judged.challenger_version, judged.champion_version):
            if version is not None:
                write_model_report(ws.store, ws.meta.get_model_version(ws.config.model.name, version))
    return ChallengerVerdict(
        action=judged.action,
        reason=judged.reason,
        challenger_version=judged.challenger_version,
        champion_version=judged.champion_version,
        verdict=judged.comparison.verdict if judged.comparison else None,
        rows=judged.comparison.rows if judged.comparison else 0,
        ledger_ids=judged.ledger_ids,
    )


def retrain_decision(check: Mapping[str, Any], scored: SnapshotScoring, joined_windows: int = 0) -> MonitorDecision:
    """A retrain check (``check_for_retrain``'s result) together with what the run scored."""
    return MonitorDecision(
        retrain=bool(check["retrain"]),
        kind=check.get("kind"),
        reason=str(check.get("reason", "")),
        evidence=dict(check.get("evidence") or {}),
        champion_version=check.get("champion_version"),
        snapshot_id=scored.snapshot_id,
        new_data=scored.new_data,
        checked=scored.checked,
        joined_windows=joined_windows,
    )


def decide_on_retrain(ws: Workspace, scored: SnapshotScoring, joined: LabelJoin) -> MonitorDecision:
    """ct_monitor's decide task: whether the champion's live windows ask for a retrain, and why."""
    return retrain_decision(check_for_retrain(ws), scored, joined.windows)


def monitor_inputs_waiting(ws: Workspace) -> list[str]:
    """Complete files waiting in ``scoring/`` and ``labels/``, and prediction logs of ``ct serve`` not taken
    yet (``ct run`` runs ct_monitor for them)."""
    return (
        [f"scoring/{n}" for n in pending_scoring_files(ws)]
        + [f"labels/{n}" for n in pending_label_files(ws)]
        + pending_log_files(ws)
    )


def hand_over_to_training(ws: Workspace, decision: MonitorDecision) -> TrainingTrigger | None:
    """Record in the store why ct_train should run, then say what to announce (None: nothing to ask).

    Every snapshot just checked becomes a ``new_data`` request and a retrain decision becomes a
    ``performance_drop`` or ``drift`` request, before the Asset event that announces them: the
    event may be coalesced by Airflow, the rows are claimed by whichever ct_train run comes next.
    """
    checked = list(decision.checked) or ([decision.snapshot_id] if decision.new_data and decision.snapshot_id else [])
    if decision.new_data:
        request_new_data(ws, checked)
    for snapshot_id in checked:  # only now: a clock-started ct_train run finds the requests with the mark
        mark_checked(ws, snapshot_id)
    raised = request_retrain(ws, decision.to_json(), decision.snapshot_id or latest_checked_snapshot(ws))
    if raised is not None:
        progress("monitor", f"retrain request #{raised.id} recorded ({raised.kind}); ct_train claims it")
    return trigger_for_training(decision)


def trigger_for_training(decision: MonitorDecision) -> TrainingTrigger | None:
    """The trigger ct_train must record, or None when there is no reason to train."""
    if decision.retrain and decision.kind:
        return TrainingTrigger(
            kind=decision.kind,
            reason=decision.reason,
            evidence=decision.evidence,
            champion_version=decision.champion_version,
        )
    if decision.new_data and decision.snapshot_id:
        return TrainingTrigger(kind="new_data", reason=f"new snapshot {decision.snapshot_id}")
    return None
