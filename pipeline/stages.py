"""The stages of the loop, each a plain function that a DAG task (or a test) calls once.

Stages take ids and return small JSON-ready dicts, never DataFrames, so they can run on any worker
and be retried: every stage is idempotent (same inputs, same snapshot id, same model version, no
second promotion).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from pipeline.errors import IngestError, NotFound, SnapshotError
from pipeline.evaluation import evaluate_candidate, holdout_split
from pipeline.ingestion import (
    ParsedFile,
    QuarantinedFile,
    archive_file,
    find_ready_files,
    parse_landing_file,
    quarantine_file,
    quarantine_rows,
    tidy_landing,
)
from pipeline.promotion import decide_promotion
from pipeline.registry.base import CHAMPION, NewModelVersion, SnapshotRecord
from pipeline.reports import write_model_report, write_validation_report
from pipeline.snapshots import (
    Snapshot,
    SourceFile,
    create_snapshot,
    load_parts,
    load_snapshot,
    manifest_key,
    new_parts_since,
    read_manifest,
    write_part,
)
from pipeline.training import fit_model
from pipeline.validation.drift import profile_frame, profile_from_dict
from pipeline.validation.report import raise_if_blocked, validate_frames
from pipeline.workspace import Workspace, code_version, progress

log = logging.getLogger(__name__)


# -- ingest --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class IngestOutcome:
    snapshot_id: str | None
    created: bool
    rows: int
    new_rows: int
    accepted: list[str] = field(default_factory=list)
    quarantined: list[dict[str, str]] = field(default_factory=list)
    rejected_rows: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def current_snapshot(ws: Workspace) -> Snapshot | None:
    record = ws.meta.latest_snapshot(ws.config.dataset.name)
    return read_manifest(ws.store, record.id) if record else None


def ready_landing_files(ws: Workspace) -> list[str]:
    """Names of the landing files that are complete and would be ingested now."""
    return [f.name for f in find_ready_files(ws.settings.landing, ws.config.ingest.stable_seconds)]


def ingest_landing(ws: Workspace) -> IngestOutcome:
    """Take every complete landing file in, snapshot the accepted rows, quarantine the rest.

    A file that fails does not stop the others. Accepted files are archived only after the
    snapshot manifest that references them is durable, so a crash never loses data: a rerun
    finds them in the landing area again and reaches the same snapshot id.
    """
    dataset = ws.config.dataset
    parent = current_snapshot(ws)
    seen = set(parent.source_checksums) if parent else set()
    parsed: list[ParsedFile] = []
    quarantined: list[QuarantinedFile] = []
    duplicates = []
    for source in find_ready_files(ws.settings.landing, ws.config.ingest.stable_seconds):
        if source.sha256 in seen:
            duplicates.append(source)
            continue
        seen.add(source.sha256)
        try:
            parsed.append(parse_landing_file(source, dataset, ws.config.ingest))
        except IngestError as err:
            quarantined.append(quarantine_file(source, ws.settings.quarantine, err.code, str(err), err.details))
    parts = [write_part(ws.store, p.frame, dataset, SourceFile(p.source.name, p.source.sha256, p.source.size))
             for p in parsed if not p.frame.empty]
    snapshot = create_snapshot(ws.store, dataset, parent, parts) if parts else parent
    created = snapshot is not None and (parent is None or snapshot.id != parent.id)
    if snapshot is not None:
        ws.meta.record_snapshot(SnapshotRecord(id=snapshot.id, dataset=dataset.name, parent=snapshot.parent,
                                               rows=snapshot.rows, parts=len(snapshot.parts),
                                               manifest_uri=ws.store.uri(manifest_key(snapshot.id)), created_at=""))
    # The manifest is durable now: only from here on may files leave the landing area.
    rejected_rows = 0
    for p in parsed:
        quarantine_rows(p, ws.settings.quarantine)
        rejected_rows += len(p.rejected)
        archive_file(p.source, ws.settings.archive)
    for source in duplicates:
        msg = (f"{source.name}: identical content (sha256 {source.sha256[:12]}…) was already taken in "
               f"(snapshot {snapshot.id if snapshot else '?'}); nothing new to take in")
        quarantined.append(quarantine_file(source, ws.settings.quarantine, "duplicate_file", msg))
    tidy_landing(ws.settings.landing)
    new_rows = sum(p.rows for p in parts) if created else 0
    outcome = IngestOutcome(
        snapshot_id=snapshot.id if snapshot else None, created=created, rows=snapshot.rows if snapshot else 0,
        new_rows=new_rows, accepted=[p.source.name for p in parsed],
        quarantined=[{"file": q.original_name, "code": q.code, "message": q.message, "path": str(q.path)}
                     for q in quarantined], rejected_rows=rejected_rows)
    if created:
        progress("ingest", f"snapshot {snapshot.id}: {new_rows} new rows from {len(parsed)} file(s), "
                           f"{snapshot.rows} rows in total; {len(quarantined)} file(s) and {rejected_rows} row(s) quarantined")
    else:
        progress("ingest", f"no new data (snapshot {outcome.snapshot_id or 'none'} unchanged); "
                           f"{len(quarantined)} file(s) quarantined")
    return outcome


# -- training request ----------------------------------------------------------------------------
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


# -- validate ------------------------------------------------------------------------------------
def _reference_profiles(ws: Workspace, reference: Snapshot) -> dict[str, Any]:
    """Drift statistics of the reference snapshot, computed once and cached beside its manifest."""
    key = f"reports/profiles/{reference.id}.json"
    if ws.store.exists(key):
        return {name: profile_from_dict(d) for name, d in json.loads(ws.store.get(key)).items()}
    frame = load_snapshot(ws.store, reference)
    profiles = profile_frame(frame, ws.config.dataset.numeric_names, ws.config.dataset.categorical_names)
    ws.store.put(key, json.dumps({n: p.to_dict() for n, p in profiles.items()}).encode())
    return profiles


def validate_snapshot(ws: Workspace, snapshot_id: str) -> dict[str, Any]:
    """Validate what is new in ``snapshot_id`` since the champion's training data.

    Stores the result and an HTML report, then raises :class:`ValidationFailed` when a
    ``fail``-severity check did not pass.
    """
    dataset = ws.config.dataset
    snapshot = read_manifest(ws.store, snapshot_id)
    champion = ws.meta.get_alias(ws.config.model.name, CHAMPION)
    reference = read_manifest(ws.store, champion.snapshot_id) if champion else None
    new_parts = new_parts_since(snapshot, reference)
    full = load_snapshot(ws.store, snapshot)
    if not new_parts:
        # Retraining the champion's own data (e.g. another spec): nothing is new, so the whole
        # snapshot is checked against the schema and there is nothing to measure drift against.
        new_data, reference = full, None
    else:
        new_data = load_parts(ws.store, new_parts)
    profiles = _reference_profiles(ws, reference) if reference else None
    reference_labels = load_snapshot(ws.store, reference)[dataset.label] if reference else None
    split = holdout_split(full, ws.config)
    report = validate_frames(ws.config, snapshot.id, new_data, reference.id if reference else None, profiles,
                             reference_labels, full[dataset.label].iloc[split.train_index],
                             full[dataset.label].iloc[split.holdout_index])
    report_uri = write_validation_report(ws.store, report)
    record = ws.meta.record_validation(snapshot.id, report.reference_snapshot_id, report.passed,
                                       report.to_dict(), report_uri)
    drifted = report.drifted_features
    label = report.label_contract
    label_text = label.message if label else "label contract not checked"
    progress("validate", f"{'passed' if report.passed else 'FAILED'} on {report.new_rows} new rows; "
                         f"drifted: {', '.join(drifted) if drifted else 'none'}; {label_text}; report {report_uri}")
    raise_if_blocked(report, report_uri)
    return {"validation_id": record.id, "passed": report.passed, "drifted_features": drifted,
            "label_contract_held": report.label_contract_held, "report_uri": report_uri}


# -- train ---------------------------------------------------------------------------------------
def train_candidate(ws: Workspace, plan: dict[str, Any]) -> dict[str, Any]:
    """Fit the planned spec on the training part of the snapshot and store the artifact."""
    started = time.perf_counter()
    snapshot = read_manifest(ws.store, plan["snapshot_id"])
    frame = load_snapshot(ws.store, snapshot)
    split = holdout_split(frame, ws.config)
    spec = ws.config.model_spec(plan["spec_name"])
    model = fit_model(frame.iloc[split.train_index], ws.config.dataset, spec, ws.config.evaluation.seed)
    key, sha = ws.artifacts.save(model, ws.config.model.name)
    seconds = round(time.perf_counter() - started, 2)
    progress("train", f"{spec.estimator} fitted on {len(split.train_index)} rows in {seconds}s; "
                      f"artifact {key} (sha256 {sha[:12]}…)")
    return {"artifact_key": key, "artifact_sha256": sha, "train_rows": len(split.train_index),
            "holdout_rows": len(split.holdout_index), "fit_seconds": seconds}


# -- evaluate ------------------------------------------------------------------------------------
def evaluate_model(ws: Workspace, plan: dict[str, Any], candidate: dict[str, Any]) -> dict[str, Any]:
    """Score the candidate and the champion on the same holdout; store the evidence."""
    snapshot = read_manifest(ws.store, plan["snapshot_id"])
    frame = load_snapshot(ws.store, snapshot)
    split = holdout_split(frame, ws.config)
    model = ws.artifacts.load(candidate["artifact_key"], candidate["artifact_sha256"])
    champion = ws.meta.get_alias(ws.config.model.name, CHAMPION)
    champion_model = ws.artifacts.load(champion.artifact_uri, champion.artifact_sha256) if champion else None
    evaluation = evaluate_candidate(model, frame, split, ws.config, champion_model,
                                    champion.version if champion else None).to_dict()
    payload = json.dumps(evaluation, sort_keys=True).encode()
    key = f"reports/evaluations/{plan['snapshot_id']}_{candidate['artifact_sha256'][:16]}.json"
    ws.store.put(key, payload)
    primary = ws.config.promotion.primary_metric
    est = evaluation["holdout"][primary]
    versus = ""
    if evaluation["champion"]:
        cmp = evaluation["champion"]["comparison"]
        versus = (f"; vs champion v{evaluation['champion']['version']}: {cmp['difference']:+.3f} "
                  f"[{cmp['lower']:+.3f}, {cmp['upper']:+.3f}]")
    progress("evaluate", f"holdout {primary} {est['value']:.3f} [{est['lower']:.3f}, {est['upper']:.3f}] on "
                         f"{evaluation['holdout_rows']} rows; {ws.config.evaluation.folds}-fold CV "
                         f"{evaluation['cross_validation'][primary]['mean']:.3f} ± "
                         f"{evaluation['cross_validation'][primary]['std']:.3f}{versus}")
    return {"evaluation_key": key}


# -- register ------------------------------------------------------------------------------------
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


# -- promote -------------------------------------------------------------------------------------
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


def snapshot_frame(ws: Workspace, snapshot_id: str) -> pd.DataFrame:
    """The data of one snapshot (time travel by id)."""
    try:
        return load_snapshot(ws.store, read_manifest(ws.store, ws.meta.get_snapshot(snapshot_id).id))
    except NotFound as err:
        raise SnapshotError(str(err)) from None
