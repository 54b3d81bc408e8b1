"""Ingest: take complete landing files in and freeze them as a snapshot."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from pipeline.errors import IngestError, NotFound, SnapshotError
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
from pipeline.registry.base import SnapshotRecord
from pipeline.snapshots import (
    Snapshot,
    SourceFile,
    create_snapshot,
    load_snapshot,
    manifest_key,
    read_manifest,
    write_part,
)
from pipeline.workspace import Workspace, progress

log = logging.getLogger(__name__)


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


def snapshot_frame(ws: Workspace, snapshot_id: str) -> pd.DataFrame:
    """The data of one snapshot (time travel by id)."""
    try:
        return load_snapshot(ws.store, read_manifest(ws.store, ws.meta.get_snapshot(snapshot_id).id))
    except NotFound as err:
        raise SnapshotError(str(err)) from None
