"""Compute the validation of a snapshot from the stores: what the stage runs and ``ct validate`` shows.

Only the parts new since the reference are read. Everything about older data comes from the
per-part statistics cache (:mod:`pipeline.quality.part_stats`), which this fills for the new
parts, so validating an append reads the append and a few small JSON documents.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from pipeline.core.errors import SnapshotError
from pipeline.data.ingestion import missing_label_reason
from pipeline.data.landed_store import count_set_aside, landed_store
from pipeline.data.snapshots import Part, Snapshot, new_parts_since, read_manifest
from pipeline.quality.part_stats import (
    HOLDOUT,
    TRAIN,
    StatisticsCache,
    label_profile_from_stats,
    label_totals,
    summarise,
)
from pipeline.quality.suite import (
    Suite,
    SuiteLocation,
    apply_overrides,
    bind_to_batch,
    generate_suite,
    load_suite,
    suite_location,
)
from pipeline.quality.validation_report import (
    ReferenceFacts,
    ValidationReport,
    report_new_rows,
    summarise_chunks,
    summarise_frame,
)
from pipeline.registry.base import CHAMPION, ValidationRecord
from pipeline.registry.context import StoreContext

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ValidationRun:
    """A computed (not yet stored) validation, with the suite it used and where that suite lives."""

    report: ValidationReport
    suite: Suite
    location: SuiteLocation
    suite_source: str | None
    """Snapshot a newly generated suite came from (None when the suite was read from its file)."""


def champion_snapshot(ws: StoreContext) -> Snapshot | None:
    """The training snapshot of the current champion, the default reference."""
    champion = ws.meta.get_alias(ws.config.model.name, CHAMPION)
    return read_manifest(ws.store, champion.snapshot_id) if champion else None


def resolve_suite(
    ws: StoreContext, cache: StatisticsCache, source: Snapshot
) -> tuple[Suite, SuiteLocation, str | None]:
    """The suite of the dataset: the stored one, else one generated from ``source``'s statistics."""
    location = suite_location(ws.settings, ws.config)
    suite = load_suite(location, ws.config)
    if suite is not None:
        return suite, location, None
    summary = summarise(cache.for_parts(source.parts), ws.config)
    generated = replace(generate_suite(ws.config, summary, source.id), path=location.target)
    log.info(
        "no expectation suite at %s yet: generated one from snapshot %s (%d rows)",
        location.target,
        source.id,
        summary.rows,
    )
    return apply_overrides(generated, location.overrides), location, source.id


def missing_labels_at_ingest(ws: StoreContext, parts: list[Part]) -> int | None:
    """Rows of the files behind ``parts`` that ingest set aside for having no label.

    Read from the quarantined rows files (the ingest record of set-aside rows, by file checksum).
    None when it cannot be known: a part read from a table source (its rows are kept per read,
    not per file), or a file whose set-aside rows are not committed.
    """
    if any(p.source.watermark is not None for p in parts):
        return None
    return count_set_aside(
        ws.settings.quarantine,
        (p.source.sha256 for p in parts),
        missing_label_reason(ws.config.dataset),
        landed_store(ws.settings, ws.store),
    )


def chunk_parts(parts: Sequence[Part], chunk_rows: int) -> list[list[Part]]:
    """Consecutive parts grouped into chunks of at most ``chunk_rows`` rows (a bigger part is a chunk alone)."""
    chunks: list[list[Part]] = []
    rows = 0
    for part in parts:
        if chunks and rows + part.rows <= chunk_rows:
            chunks[-1].append(part)
            rows += part.rows
        else:
            chunks.append([part])
            rows = part.rows
    return chunks


def _read_chunks(cache: StatisticsCache, chunks: list[list[Part]]) -> Iterator[pd.DataFrame]:
    """Each chunk's rows, one chunk in memory at a time; each part's statistics cached on the way."""
    for chunk in chunks:
        frames = []
        for part in chunk:
            frame = cache.read_part(part)
            cache.remember(part.id, frame)
            frames.append(frame)
        yield pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def compute_validation(
    ws: StoreContext, snapshot_id: str, reference: Snapshot | None, *, chunk_rows: int | None = None
) -> ValidationRun:
    """Validate the parts of ``snapshot_id`` that ``reference`` does not have; store nothing but caches.

    With no new parts (retraining the reference's own data) the whole snapshot is checked against
    the suite, with nothing to measure drift against. The new rows are read in chunks of at most
    ``chunk_rows`` rows (default ``ingest.chunk_rows``, the part size; a bigger part is a chunk of
    its own), so memory follows the chunk, not the batch: a single chunk is checked as one frame,
    several are checked one after the other and their findings merged
    (:func:`~pipeline.quality.validation_report.summarise_chunks`). The statistics say how many
    chunks there were. When the suite must first be generated from the new parts (no stored suite,
    no reference), their statistics are computed first, so a batch of several chunks is read twice.
    """
    snapshot = read_manifest(ws.store, snapshot_id)
    new_parts = new_parts_since(snapshot, reference)
    if not new_parts:
        new_parts, reference = list(snapshot.parts), None
    limit = chunk_rows or ws.config.ingest.chunk_rows
    chunks = chunk_parts(new_parts, limit)
    rows = sum(p.rows for p in new_parts)
    cache = StatisticsCache(ws.store, ws.config)
    held = next(_read_chunks(cache, chunks)) if len(chunks) == 1 else None
    suite, location, suite_source = resolve_suite(ws, cache, reference or snapshot)
    # learned ranges tolerate what chance allows at this batch size (docs/validation.md)
    suite = bind_to_batch(suite, rows, ws.config.validation.expectations.range_alarm_rate)
    profiles = cache.profiles(reference) if reference is not None else None
    if held is not None:
        new = summarise_frame(ws.config, held, suite)
        del held
    else:
        new = summarise_chunks(ws.config, _read_chunks(cache, chunks), rows, suite, profiles, limit)
    whole = cache.for_parts(snapshot.parts)  # the new parts' statistics were cached while reading them
    facts = ReferenceFacts(snapshot_id=reference.id if reference else None, profiles=profiles)
    if ws.config.dataset.is_classification:
        facts = replace(
            facts,
            label_counts=label_totals(cache.for_parts(reference.parts)) if reference is not None else None,
            train_label_counts=label_totals(whole, TRAIN),
            holdout_label_counts=label_totals(whole, HOLDOUT),
        )
    else:
        whole = cache.for_parts(snapshot.parts, label_samples=True)
        facts = replace(
            facts,
            label_profile=cache.label_profile(reference) if reference is not None else None,
            train_label_profile=label_profile_from_stats(whole, ws.config, TRAIN),
            holdout_label_profile=label_profile_from_stats(whole, ws.config, HOLDOUT),
            missing_labels=missing_labels_at_ingest(ws, new_parts),
        )
    report = report_new_rows(ws.config, snapshot.id, suite, facts, new)
    statistics = {
        "new_parts": len(new_parts),
        "snapshot_parts": len(snapshot.parts),
        "chunks": len(chunks),
        "chunk_rows": limit,
        **cache.describe(),
    }
    return ValidationRun(
        report=replace(report, statistics=statistics), suite=suite, location=location, suite_source=suite_source
    )


# -- recomputing a stored result -------------------------------------------------------------------


@dataclass(frozen=True)
class Recomputation:
    """A validation computed now, with what it reproduces and, in plain words, what it could not."""

    run: ValidationRun
    stored: ValidationRecord | None
    """The stored result this recomputes (None when there is none for this snapshot)."""
    notes: tuple[str, ...]
    reproduced: bool | None
    """Same verdict and same failed checks per severity as ``stored`` (None: nothing to compare)."""


def _failed_by_severity(summary: dict[str, Any]) -> dict[str, list[str]]:
    failed: dict[str, list[str]] = {}
    for check in summary.get("checks", []):
        if not check.get("passed"):
            failed.setdefault(check["severity"], []).append(check["name"])
    return {k: sorted(v) for k, v in sorted(failed.items())}


def _reference_for(
    ws: StoreContext, snapshot_id: str, stored: ValidationRecord | None, reference_id: str | None
) -> tuple[Snapshot | None, list[str]]:
    """The reference to recompute against, and notes saying where it came from."""
    notes: list[str] = []
    if reference_id is not None:
        if stored is not None and stored.reference_snapshot_id != reference_id:
            notes.append(
                f"stored result #{stored.id} used reference {stored.reference_snapshot_id or 'none'}; "
                f"this computes against {reference_id} instead, so its verdict may differ"
            )
        return read_manifest(ws.store, reference_id), notes
    if stored is None:
        reference = champion_snapshot(ws)
        notes.append(
            f"no stored result for snapshot {snapshot_id}: computed against "
            + (
                f"the champion's training snapshot {reference.id}"
                if reference
                else "no reference (there is no champion yet)"
            )
        )
        return reference, notes
    if stored.reference_snapshot_id is None:
        return None, notes
    try:
        return read_manifest(ws.store, stored.reference_snapshot_id), notes
    except SnapshotError as err:
        raise SnapshotError(
            f"cannot recompute validation #{stored.id} of snapshot {snapshot_id}: its reference snapshot "
            f"{stored.reference_snapshot_id} no longer exists ({err}). Without it the same new rows and the same "
            f"drift baseline cannot be rebuilt; pass --reference SNAPSHOT to validate against another snapshot "
            f"(the verdict may then differ from the stored one)"
        ) from None


def recompute_validation(ws: StoreContext, snapshot_id: str, reference_id: str | None = None) -> Recomputation:
    """Compute the validation of ``snapshot_id`` again, against the stored result's reference.

    Without ``reference_id`` the reference is the one the latest stored result used (not today's
    champion), so the new rows are the same and the verdict is reproduced; the result says when
    that is not so: another reference was asked for, the snapshot is its own reference (no new
    rows: the whole snapshot is checked, nothing is compared for drift), or the verdict differs
    (the suite or the config changed since). A stored reference that no longer exists is a
    :class:`SnapshotError` naming it.
    """
    stored = ws.meta.latest_validation(snapshot_id)
    reference, notes = _reference_for(ws, snapshot_id, stored, reference_id)
    if reference is not None and not new_parts_since(read_manifest(ws.store, snapshot_id), reference):
        which = (
            "is its own reference"
            if reference.id == snapshot_id
            else f"has no rows that its reference {reference.id} does not have"
        )
        notes.append(
            f"snapshot {snapshot_id} {which}: there are no new rows, so the whole snapshot was checked "
            "against the suite and nothing was compared for drift or the label contract"
        )
    run = compute_validation(ws, snapshot_id, reference)
    reproduced = None
    if stored is not None and stored.reference_snapshot_id == run.report.reference_snapshot_id:
        now, then = run.report.to_dict(), stored.summary
        reproduced = (
            now["passed"] == then.get("passed")
            and now["new_rows"] == then.get("new_rows")
            and _failed_by_severity(now) == _failed_by_severity(then)
        )
        if reproduced:
            notes.append(
                f"reproduces stored result #{stored.id}: same reference, same {now['new_rows']} new rows, "
                "same verdict and same failed checks"
            )
        else:
            was, got = (then.get("suite") or {}), (now.get("suite") or {})
            suite_note = (
                ""
                if was.get("generated_at") == got.get("generated_at")
                else f"; the expectation suite changed since (was generated {was.get('generated_at')} from "
                f"{was.get('generated_from')}, now {got.get('generated_at')} from "
                f"{got.get('generated_from')})"
            )
            notes.append(
                f"does NOT reproduce stored result #{stored.id}: it was "
                f"{'passed' if then.get('passed') else 'failed'} on {then.get('new_rows')} new rows with "
                f"failed checks {_failed_by_severity(then)}, now {'passed' if now['passed'] else 'failed'} "
                f"on {now['new_rows']} with {_failed_by_severity(now)}{suite_note}"
            )
    return Recomputation(run=run, stored=stored, notes=tuple(notes), reproduced=reproduced)
