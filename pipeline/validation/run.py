"""Compute the validation of a snapshot from the stores: what the stage runs and ``ct validate`` shows.

Only the parts new since the reference are read. Everything about older data comes from the
per-part statistics cache (:mod:`pipeline.validation.part_stats`), which this fills for the new
parts, so validating an append reads the append and a few small JSON documents.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import pandas as pd

from pipeline.registry.base import CHAMPION
from pipeline.snapshots import Snapshot, new_parts_since, read_manifest
from pipeline.validation.part_stats import (
    HOLDOUT,
    TRAIN,
    StatisticsCache,
    label_totals,
    summarise,
)
from pipeline.validation.report import ValidationReport, validate_frames
from pipeline.validation.suite import (
    Suite,
    SuiteLocation,
    apply_overrides,
    bind_to_batch,
    generate_suite,
    load_suite,
    suite_location,
)
from pipeline.workspace import Workspace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ValidationRun:
    """A computed (not yet stored) validation, with the suite it used and where that suite lives."""

    report: ValidationReport
    suite: Suite
    location: SuiteLocation
    suite_source: str | None
    """Snapshot a newly generated suite came from (None when the suite was read from its file)."""


def champion_snapshot(ws: Workspace) -> Snapshot | None:
    """The training snapshot of the current champion, the default reference."""
    champion = ws.meta.get_alias(ws.config.model.name, CHAMPION)
    return read_manifest(ws.store, champion.snapshot_id) if champion else None


def resolve_suite(ws: Workspace, cache: StatisticsCache, source: Snapshot) -> tuple[Suite, SuiteLocation, str | None]:
    """The suite of the dataset: the stored one, else one generated from ``source``'s statistics."""
    location = suite_location(ws.settings, ws.config)
    suite = load_suite(location, ws.config)
    if suite is not None:
        return suite, location, None
    summary = summarise(cache.for_parts(source.parts), ws.config)
    generated = replace(generate_suite(ws.config, summary, source.id), path=location.target)
    log.info("no expectation suite at %s yet: generated one from snapshot %s (%d rows)",
             location.target, source.id, summary.rows)
    return apply_overrides(generated, location.overrides), location, source.id


def compute_validation(ws: Workspace, snapshot_id: str, reference: Snapshot | None) -> ValidationRun:
    """Validate the parts of ``snapshot_id`` that ``reference`` does not have; store nothing but caches.

    With no new parts (retraining the reference's own data) the whole snapshot is checked against
    the suite, with nothing to measure drift against.
    """
    snapshot = read_manifest(ws.store, snapshot_id)
    new_parts = new_parts_since(snapshot, reference)
    if not new_parts:
        new_parts, reference = list(snapshot.parts), None
    cache = StatisticsCache(ws.store, ws.config)
    frames = []
    for part in new_parts:
        frame = cache.read_part(part)
        cache.remember(part.id, frame)
        frames.append(frame)
    new_data = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    whole = cache.for_parts(snapshot.parts)  # new parts were just cached; older ones usually are
    suite, location, suite_source = resolve_suite(ws, cache, reference or snapshot)
    suite = bind_to_batch(suite, len(new_data))  # learned ranges tolerate what chance allows at this size
    profiles = reference_counts = None
    if reference is not None:
        profiles = cache.profiles(reference)
        reference_counts = label_totals(cache.for_parts(reference.parts))
    report = validate_frames(
        ws.config, snapshot.id, new_data, suite, reference_snapshot_id=reference.id if reference else None,
        reference_profiles=profiles, reference_label_counts=reference_counts,
        train_label_counts=label_totals(whole, TRAIN), holdout_label_counts=label_totals(whole, HOLDOUT))
    statistics = {"new_parts": len(new_parts), "snapshot_parts": len(snapshot.parts), **cache.describe()}
    return ValidationRun(report=replace(report, statistics=statistics), suite=suite, location=location,
                         suite_source=suite_source)
