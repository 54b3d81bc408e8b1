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
from collections.abc import Callable
from datetime import UTC, datetime
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pipeline.airflow_runner import run_dag
from pipeline.monitoring import check_for_retrain
from pipeline.registry.base import CHAMPION
from pipeline.stages.monitor import monitor_inputs_waiting, trigger_for_training
from pipeline.stages.plan import find_trained_version
from pipeline.settings import Settings
from pipeline.workspace import open_workspace

log = logging.getLogger(__name__)

Status = Literal["no_files", "no_data", "already_trained", "trained", "failed", "rejected"]


@dataclass
class RunOutcome:
    status: Status
    snapshot_id: str | None = None
    model_version: int | None = None
    ingest_seconds: float = 0.0
    train_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """False when a DAG failed, or when every file found was rejected (nothing new was taken in)."""
        return self.status not in ("failed", "rejected")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_landing(settings: Settings, *, spec: str | None = None, force: bool = False, reason: str = "",
                trigger: str = "new_data", echo: Callable[[str], None] = print) -> RunOutcome:
    """Ingest what is in the landing area, then train on a snapshot that has no model yet."""
    from pipeline.stages import ready_landing_files
    from pipeline.stages.ingest import rejected_since

    ws = open_workspace(settings)
    outcome = RunOutcome(status="no_files")
    if monitor_inputs_waiting(ws) and ws.meta.get_alias(ws.config.model.name, CHAMPION) is not None:
        monitor = run_dag(settings, "ct_monitor", echo=echo)  # batch scoring and late labels
        outcome.logs.append(str(monitor.log_path))
        if not monitor.succeeded:
            outcome.status, outcome.errors = "failed", monitor.errors or [f"ct_monitor failed; see {monitor.log_path}"]
            return outcome
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
                f"{settings.quarantine} beside a .reason.json; fix them and drop them again."]
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
    handed = trigger_for_training({**check_for_retrain(ws), "snapshot_id": latest.id, "new_data": True}) or {}
    kind = trigger if trigger == "manual" else handed.get("kind", trigger)
    # ct_trigger: what the embedded runner may record as the kind (a person's run is always manual).
    conf = {"snapshot_id": latest.id, "force": force, "reason": reason or handed.get("reason", ""),
            "ct_trigger": {"kind": kind, "reason": handed.get("reason", ""), "evidence": handed.get("evidence")}}
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
