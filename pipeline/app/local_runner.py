"""``ct run``: process the landing area through the real DAGs on the embedded default.

When unlabelled batches wait in ``scoring/`` or late labels in ``labels/`` (and a champion exists),
``ct_monitor`` runs first: it scores the batches and joins the labels, whose rows land in
``landing/`` as training data. Then ``ct_ingest``; then, when the newest snapshot has not been
trained with the current config, ``ct_monitor`` (the champion scores the new data first) and
``ct_train`` with the trigger the monitor hands over — what the scheduler does on the Asset
events and the monitor's schedule, done in one command.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pipeline.app.airflow_runner import run_dag
from pipeline.app.stages.monitor import (
    SnapshotScoring,
    monitor_inputs_waiting,
    retrain_decision,
    trigger_for_training,
)
from pipeline.app.stages.plan import find_trained_version
from pipeline.app.workspace import open_workspace
from pipeline.core.settings import Settings
from pipeline.monitoring.live_performance import check_for_retrain
from pipeline.registry.base import CHAMPION

log = logging.getLogger(__name__)

SETTLE_POLL_SECONDS = 0.5


def settle_timeout_for(stable_seconds: float) -> float:
    """How long ``ct run`` waits for young files at most: the Airflow landing trigger's bound."""
    return max(60.0, 10 * stable_seconds)


def _being_written(paths: tuple[Path, ...], within: float) -> list[Path]:
    """The incomplete files changed in the last ``within`` seconds: those worth waiting for.

    A temporary file (``.part``, ``.tmp``) left untouched for longer by a crashed producer will
    not complete while we wait, so it does not hold the run up.
    """
    now, fresh = time.time(), []
    for path in paths:
        try:
            if now - path.lstat().st_mtime < within:
                fresh.append(path)
        except FileNotFoundError:  # renamed into place or moved away: the next scan sees it
            continue
    return fresh


def wait_for_landing(
    settings: Settings,
    stable_seconds: float,
    timeout: float | None = None,
    echo: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Wait until files still being written in the landing area have settled; return those that never did.

    ``ct run`` is an explicit request to take what was dropped, even a file copied a second ago:
    a file younger than ``stable_seconds`` is waited for, not skipped. The wait is bounded
    (``timeout``, default :func:`settle_timeout_for`) so a file that keeps changing never hangs
    the command; the complete files then go ahead without it, and it is named on screen.
    """
    from pipeline.data.ready_files import scan_landing

    limit = settle_timeout_for(stable_seconds) if timeout is None else timeout
    scan = scan_landing(settings.landing, stable_seconds)
    waiting = _being_written(scan.in_progress, limit)
    if not waiting:
        return [p.name for p in scan.in_progress]
    echo(
        f"ingest: waiting for {len(waiting)} file(s) still being written to settle (unchanged for "
        f"{stable_seconds:g} s), at most {limit:g} s: {', '.join(p.name for p in waiting)}"
    )
    deadline = time.monotonic() + limit
    while waiting and time.monotonic() < deadline:
        sleep(min(SETTLE_POLL_SECONDS, max(0.0, deadline - time.monotonic())))
        scan = scan_landing(settings.landing, stable_seconds)
        waiting = _being_written(scan.in_progress, limit)
    if scan.in_progress:
        left = [p.name for p in scan.in_progress]
        echo(
            f"ingest: still being written after {limit:g} s, left for the next run: {', '.join(left)}"
            + ("; going on with the complete files" if scan.ready else "")
        )
        return left
    echo("ingest: every file has settled")
    return []


Status = Literal["no_files", "failed", "rejected", "no_data", "already_trained", "trained"]
"""How a ``ct run`` ended: nothing to do, a failed or rejecting DAG, no data, trained before, or trained now."""


@dataclass
class RunOutcome:
    status: Status
    snapshot_id: str | None = None
    model_version: int | None = None
    ingest_seconds: float = 0.0
    train_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    still_written: list[str] = field(default_factory=list)
    """Landing files that had not settled when the bounded wait ended (left for the next run)."""

    @property
    def ok(self) -> bool:
        """False when a DAG failed, or when every file found was rejected (nothing new was taken in)."""
        return self.status not in ("failed", "rejected")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_landing(
    settings: Settings,
    *,
    spec: str | None = None,
    force: bool = False,
    reason: str = "",
    trigger: str = "new_data",
    echo: Callable[[str], None] = print,
    settle_timeout: float | None = None,
) -> RunOutcome:
    """Ingest what is in the landing area, then train on a snapshot that has no model yet.

    Files still being written are waited for first (at most ``settle_timeout``, see
    :func:`wait_for_landing`): the person who typed ``ct run`` asked for them to be taken.
    """
    from pipeline.app.stages import ready_landing_files
    from pipeline.app.stages.ingest import quarantine_location, rejected_since

    ws = open_workspace(settings)
    outcome = RunOutcome(status="no_files")
    if monitor_inputs_waiting(ws) and ws.meta.get_alias(ws.config.model.name, CHAMPION) is not None:
        monitor = run_dag(settings, "ct_monitor", echo=echo)  # batch scoring and late labels
        outcome.logs.append(str(monitor.log_path))
        if not monitor.succeeded:
            outcome.status, outcome.errors = "failed", monitor.errors or [f"ct_monitor failed; see {monitor.log_path}"]
            return outcome
    outcome.still_written = wait_for_landing(settings, ws.config.ingest.stable_seconds, settle_timeout, echo)
    ready = ready_landing_files(ws)
    if ready:
        since = datetime.now(UTC).isoformat(timespec="microseconds")
        ingest = run_dag(settings, "ct_ingest", echo=echo)
        outcome.ingest_seconds = ingest.seconds
        outcome.logs.append(str(ingest.log_path))
        if not ingest.succeeded:
            outcome.status, outcome.errors = "failed", ingest.errors or [f"ct_ingest failed; see {ingest.log_path}"]
            return outcome
        refused = rejected_since(ws, ready, since)
        if refused and {r["file"] for r in refused} >= set(ready):  # tables (``name:table``) never match
            outcome.status = "rejected"
            outcome.errors = [f"{r['file']}: quarantined ({r['code']}): {r['message']}" for r in refused] + [
                f"every file found in {settings.landing} was rejected; nothing new was taken in. Each one is in "
                f"{quarantine_location(ws)} beside a .reason.json; fix them and drop them again."
            ]
            for line in outcome.errors:
                echo(f"ingest: {line}")
            return outcome
    else:
        echo(f"ingest: no complete files in {settings.landing}")
    latest = ws.meta.latest_snapshot(ws.config.dataset.name)
    if latest is None:
        outcome.status = "no_data"
        echo("nothing to train on: no snapshot exists yet")
        return outcome
    outcome.snapshot_id = latest.id
    existing = find_trained_version(ws, latest.id, spec)
    if existing and not force:
        outcome.status, outcome.model_version = "already_trained", existing.version
        echo(f"snapshot {latest.id} is already trained as {existing.name} v{existing.version}; nothing to do")
        return outcome
    monitor = run_dag(settings, "ct_monitor", {"snapshot_id": latest.id}, echo=echo)
    outcome.logs.append(str(monitor.log_path))
    if not monitor.succeeded:
        outcome.status, outcome.errors = "failed", monitor.errors or [f"ct_monitor failed; see {monitor.log_path}"]
        return outcome
    scored = SnapshotScoring(snapshot_id=latest.id, windows=0, new_data=True)
    handed = trigger_for_training(retrain_decision(check_for_retrain(ws), scored))
    kind = trigger if trigger == "manual" or handed is None else handed.kind
    handed_reason = handed.reason if handed else ""
    # ct_trigger: what the embedded runner may record as the kind (a person's run is always manual).
    conf: dict[str, Any] = {
        "snapshot_id": latest.id,
        "force": force,
        "reason": reason or handed_reason,
        "ct_trigger": {"kind": kind, "reason": handed_reason, "evidence": handed.evidence if handed else None},
    }
    if spec:
        conf["model_spec"] = spec
    train = run_dag(settings, "ct_train", conf, echo=echo)
    outcome.train_seconds = train.seconds
    outcome.logs.append(str(train.log_path))
    if not train.succeeded:
        outcome.status, outcome.errors = "failed", train.errors or [f"ct_train failed; see {train.log_path}"]
        return outcome
    trained = find_trained_version(ws, latest.id, spec)
    outcome.status, outcome.model_version = "trained", trained.version if trained else None
    return outcome
