"""Register and promote: record the model with its lineage, then apply the promotion policy."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from typing import Any

from pipeline.promotion import decide_promotion
from pipeline.registry.base import CHAMPION, NewModelVersion
from pipeline.reports import write_model_report
from pipeline.snapshots import (
    read_manifest,
)
from pipeline.workspace import Workspace, code_version, progress

log = logging.getLogger(__name__)


def register_model(ws: Workspace, plan: dict[str, Any], candidate: dict[str, Any], evaluation_key: str,
                   validation_id: int | None) -> dict[str, Any]:
    """Register the candidate with its full lineage; a rerun returns the same version."""
    evaluation = json.loads(ws.store.get(evaluation_key))
    snapshot = read_manifest(ws.store, plan["snapshot_id"])
    spec = ws.config.model_spec(plan["spec_name"])
    lineage = {
        "snapshot_parts": [p.id for p in snapshot.parts],
        "source_files": [asdict(p.source) for p in snapshot.parts],
        "evaluation_uri": ws.store.uri(evaluation_key),
        "config_path": str(ws.settings.config_path),
    }
    new = NewModelVersion(
        name=ws.config.model.name, snapshot_id=snapshot.id, config_hash=plan["config_hash"],
        spec_name=plan["spec_name"], params={"estimator": spec.estimator, **spec.params, "seed": ws.config.evaluation.seed},
        metrics=evaluation["holdout"], evaluation=evaluation, artifact_uri=candidate["artifact_key"],
        artifact_sha256=candidate["artifact_sha256"], validation_id=validation_id, trigger=plan["trigger"],
        code_version=code_version(), lineage=lineage)
    version, created = ws.meta.register_model(new)
    write_model_report(ws.store, version)
    progress("register", f"{version.name} v{version.version} {'registered' if created else 'already registered'} "
                         f"(snapshot {version.snapshot_id}, config {version.config_hash})")
    return {"name": version.name, "version": version.version, "created": created}


def promote_if_better(ws: Workspace, name: str, version: int, *, force: bool = False, reason: str = "",
                      actor: str = "ct") -> dict[str, Any]:
    """Apply the promotion policy to a registered version; move ``champion`` when it holds."""
    mv = ws.meta.get_model_version(name, version)
    decision = decide_promotion(mv.evaluation, ws.config.promotion, force=force, force_reason=reason)
    ws.meta.record_decision(name, version, decision.to_dict())
    moved = False
    if decision.promote:
        record = ws.meta.set_alias(name, CHAMPION, version, decision.reason,
                                   {"evaluation_uri": mv.lineage.get("evaluation_uri"), "checks": list(decision.checks)},
                                   actor)
        moved = record is not None
    current = ws.meta.get_alias(name, CHAMPION)
    write_model_report(ws.store, ws.meta.get_model_version(name, version))
    verdict = "promoted to champion" if decision.promote else "not promoted"
    progress("promote", f"{name} v{version} {verdict}: {decision.reason}"
                        f"{'' if moved or not decision.promote else ' (already champion)'}")
    return {"name": name, "version": version, "promoted": decision.promote, "moved": moved,
            "reason": decision.reason, "champion": current.version if current else None}
