"""Validate: check what is new in a snapshot since the champion's training data."""

from __future__ import annotations

import json
import logging
from typing import Any

from pipeline.evaluation import holdout_split
from pipeline.registry.base import CHAMPION
from pipeline.reports import write_validation_report
from pipeline.snapshots import (
    Snapshot,
    load_parts,
    load_snapshot,
    new_parts_since,
    read_manifest,
)
from pipeline.validation.drift import profile_frame, profile_from_dict
from pipeline.validation.report import raise_if_blocked, validate_frames
from pipeline.workspace import Workspace, progress

log = logging.getLogger(__name__)


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
