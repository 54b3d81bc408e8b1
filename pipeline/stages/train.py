"""Train: fit the planned model spec on the training part of a snapshot."""

from __future__ import annotations

import logging
import time
from typing import Any

from pipeline.evaluation import holdout_split
from pipeline.snapshots import (
    load_snapshot,
    read_manifest,
)
from pipeline.training import fit_model
from pipeline.workspace import Workspace, progress

log = logging.getLogger(__name__)


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
