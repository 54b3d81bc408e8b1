"""Evaluate: score the candidate and the champion on the same holdout."""

from __future__ import annotations

import json
import logging
from typing import Any

from pipeline.evaluation import evaluate_candidate, holdout_split
from pipeline.registry.base import CHAMPION
from pipeline.snapshots import (
    load_snapshot,
    read_manifest,
)
from pipeline.workspace import Workspace, progress

log = logging.getLogger(__name__)


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
