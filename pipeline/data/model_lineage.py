"""The lineage of one model version: everything between the data that landed and the ledger.

Assembled from the registry (version, validation, ledger) and the object store (the snapshot
manifest). A piece that cannot be read (a manifest deleted by hand, say) is reported under
``problems`` instead of hiding the rest of the chain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.core.errors import CTError, NotFound
from pipeline.registry.base import ModelVersion
from pipeline.registry.versioning import VersionInputs, derive_semver

if TYPE_CHECKING:
    from pipeline.registry.context import StoreContext


def _inputs(mv: ModelVersion) -> VersionInputs:
    return VersionInputs(mv.snapshot_id, mv.spec_name, mv.params, mv.feature_schema)


def semver_reason(ws: StoreContext, mv: ModelVersion) -> str:
    """Why this version got its semantic version (re-derived from the previous version)."""
    if mv.version <= 1:
        return "first version of this model"
    try:
        previous = ws.meta.get_model_version(mv.name, mv.version - 1)
    except NotFound:
        return "previous version not found"
    return derive_semver(previous.semver, _inputs(previous), _inputs(mv)).reason


def _snapshot_chain(ws: StoreContext, mv: ModelVersion, problems: list[str]) -> dict[str, Any]:
    from pipeline.data.landed_store import archived_location
    from pipeline.data.snapshots import read_manifest

    out: dict[str, Any] = {"snapshot": {"id": mv.snapshot_id}, "parts": [], "landing_files": []}
    try:
        out["snapshot"] = ws.meta.get_snapshot(mv.snapshot_id).to_dict()
    except NotFound as err:
        problems.append(str(err))
    try:
        manifest = read_manifest(ws.store, mv.snapshot_id)
    except CTError as err:
        problems.append(f"snapshot manifest unreadable: {err}")
        return out
    out["snapshot"]["schema"] = [list(c) for c in manifest.schema]
    out["parts"] = [p.to_dict() for p in manifest.parts]
    files: dict[str, dict[str, Any]] = {}  # one landing file may be split into several parts
    for part in manifest.parts:
        src = part.source
        if src.sha256 not in files:
            files[src.sha256] = {
                "name": src.name,
                "sha256": src.sha256,
                "size": src.size,
                "part_ids": [],
                "archived_path": archived_location(ws.settings, ws.store, src),
            }
        files[src.sha256]["part_ids"].append(part.id)
    out["landing_files"] = list(files.values())
    return out


def _validation(ws: StoreContext, mv: ModelVersion, problems: list[str]) -> dict[str, Any] | None:
    if mv.validation_id is None:
        return None
    try:
        v = ws.meta.get_validation(mv.validation_id)
    except NotFound as err:
        problems.append(str(err))
        return None
    s = v.summary or {}
    return {
        "id": v.id,
        "passed": v.passed,
        "snapshot_id": v.snapshot_id,
        "reference_snapshot_id": v.reference_snapshot_id,
        "report_uri": v.report_uri,
        "created_at": v.created_at,
        "new_rows": s.get("new_rows"),
        "drifted_features": s.get("drifted_features", []),
        "label_contract_held": s.get("label_contract_held"),
        "failed_checks": [
            {"name": c.get("name"), "severity": c.get("severity"), "message": c.get("message")}
            for c in s.get("checks", [])
            if not c.get("passed")
        ],
    }


def model_lineage(ws: StoreContext, name: str, version: int) -> dict[str, Any]:
    """The chain of one version, JSON-ready: trigger, run, snapshot, parts, landing files, validation,
    config, code, environment, candidates, evaluation evidence, decision and ledger rows."""
    mv = ws.meta.get_model_version(name, version)
    problems: list[str] = []
    trigger = mv.trigger or {}
    ev = mv.evaluation or {}
    ledger = [r.to_dict() for r in ws.meta.promotion_history(name) if version in (r.from_version, r.to_version)]
    return {
        "name": mv.name,
        "version": mv.version,
        "semver": mv.semver,
        "semver_reason": semver_reason(ws, mv),
        "aliases": list(mv.aliases),
        "tags": mv.tags,
        "created_at": mv.created_at,
        "trigger": trigger,
        "dag_run": (
            {
                "dag_id": trigger.get("dag_id"),
                "run_id": trigger.get("run_id"),
                "run_type": trigger.get("run_type"),
                "user": trigger.get("user"),
            }
            if trigger.get("run_id")
            else None
        ),
        **_snapshot_chain(ws, mv, problems),
        "validation": _validation(ws, mv, problems),
        "config_hash": mv.config_hash,
        "config_path": mv.lineage.get("config_path"),
        "spec_name": mv.spec_name,
        "params": mv.params,
        "code_version": mv.code_version,
        "environment": mv.environment,
        "artifact": {"uri": ws.store.uri(mv.artifact_uri), "key": mv.artifact_uri, "sha256": mv.artifact_sha256},
        "candidates": ev.get("candidates"),
        "evaluation": {
            "uri": mv.lineage.get("evaluation_uri"),
            "train_rows": ev.get("train_rows"),
            "holdout_rows": ev.get("holdout_rows"),
            "holdout": ev.get("holdout", mv.metrics),
            "cross_validation": ev.get("cross_validation"),
            "champion": ev.get("champion"),
        },
        "decision": mv.decision,
        "ledger": ledger,
        "problems": problems,
    }
