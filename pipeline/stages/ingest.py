"""Ingest: take complete landing files and new source-table rows in, and freeze them as a snapshot.

The order of writes is what makes a crash harmless: parts, then the manifest (the commit point),
then the metadata index, then — only once the manifest is durable — rejected rows into
quarantine, files into the archive and table watermarks. A rerun after a crash at any point
reaches the snapshot id a crash-free run reaches, and finishes archiving what an interrupted run
left in the landing area.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from pipeline.config import TableSourceConfig
from pipeline.errors import IngestError, NotFound, SnapshotError
from pipeline.ingestion import (
    LandingFile,
    QuarantinedFile,
    TakenFile,
    archive_file,
    commit_rejected_rows,
    find_ready_files,
    is_archived,
    pending_rows_path,
    quarantine_file,
    take_in_file,
    tidy_landing,
)
from pipeline.landing import scan_landing
from pipeline.registry.base import SnapshotRecord
from pipeline.snapshots import (
    Snapshot,
    create_snapshot,
    load_snapshot,
    manifest_key,
    read_manifest,
)
from pipeline.sources import (
    TableRead,
    commit_table_read,
    has_new_rows,
    read_table_source,
)
from pipeline.workspace import Workspace, progress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestOutcome:
    """What one ingest run did: the current snapshot, what was new, taken, quarantined and read from tables."""

    snapshot_id: str | None
    created: bool
    rows: int
    new_rows: int
    accepted: list[str] = field(default_factory=list)
    quarantined: list[dict[str, str]] = field(default_factory=list)
    rejected_rows: int = 0
    sources: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def current_snapshot(ws: Workspace) -> Snapshot | None:
    record = ws.meta.latest_snapshot(ws.config.dataset.name)
    return read_manifest(ws.store, record.id) if record else None


def ready_landing_files(ws: Workspace) -> list[str]:
    """What ingest would take now: complete landing files, then table sources with new rows.

    Tables appear as ``<name>:<table>``.
    """
    ready = [p.name for p in scan_landing(ws.settings.landing, ws.config.ingest.stable_seconds).ready]
    return ready + source_tables_with_new_rows(ws)


def source_tables_with_new_rows(ws: Workspace) -> list[str]:
    """Configured source tables with rows newer than the current snapshot, as ``<name>:<table>``.

    A source that cannot be probed is logged and left out, so an unreachable database never hides
    waiting files.
    """
    ready: list[str] = []
    tables = ws.config.sources.tables
    if tables:
        parent = current_snapshot(ws)
        for cfg in tables:
            try:
                if has_new_rows(ws.store, cfg, parent):
                    ready.append(f"{cfg.name}:{cfg.table}")
            except Exception as err:  # a probe only: the ingest run itself reports the error loudly
                log.warning("source %s could not be checked for new rows: %s", cfg.name, err)
    return ready


def landing_status(ws: Workspace) -> dict[str, Any]:
    """Whether ingest should start now, and what a watcher needs to wait for the landing area.

    ``start`` is true when the landing area has settled (complete files and nothing half-written)
    or a table source has new rows. ``landing`` and ``stable_seconds`` let a watcher that cannot
    open the workspace (Airflow's triggerer) poll the folder by itself.
    """
    scan = scan_landing(ws.settings.landing, ws.config.ingest.stable_seconds)
    tables = source_tables_with_new_rows(ws)
    return {"start": scan.settled or bool(tables), "ready": [p.name for p in scan.ready],
            "in_progress": [p.name for p in scan.in_progress], "tables": tables,
            "landing": str(ws.settings.landing), "stable_seconds": ws.config.ingest.stable_seconds}


def _read_sources(ws: Workspace, parent: Snapshot | None) -> tuple[list[tuple[TableSourceConfig, TableRead]],
                                                                    list[Exception]]:
    """Read every configured table; one failing source neither stops the others nor the files."""
    reads: list[tuple[TableSourceConfig, TableRead]] = []
    errors: list[Exception] = []
    for cfg in ws.config.sources.tables:
        try:
            reads.append((cfg, read_table_source(ws.store, cfg, ws.config.dataset, ws.config.ingest, parent,
                                                 ws.settings.quarantine)))
        except Exception as err:  # raised after the files are durable, see ingest_landing
            log.error("source %s was not read: %s", cfg.name, err)
            errors.append(err)
    return reads, errors


def ingest_landing(ws: Workspace) -> IngestOutcome:
    """Take every complete landing file and every table source in; snapshot accepted rows, quarantine the rest.

    Files are streamed in chunks of ``ingest.chunk_rows`` rows (one part per chunk). A file that
    fails does not stop the others; a source table that cannot be read does not stop the files,
    but its error is raised once everything else is durable.
    """
    dataset, settings = ws.config.dataset, ws.settings
    parent = current_snapshot(ws)
    taken_before = parent.source_checksums if parent else set()
    seen: set[str] = set()
    taken: list[TakenFile] = []
    unfinished: list[LandingFile] = []
    quarantined: list[QuarantinedFile] = []
    duplicates: list[LandingFile] = []
    for source in find_ready_files(settings.landing, ws.config.ingest.stable_seconds):
        if source.sha256 in seen:
            duplicates.append(source)
            continue
        seen.add(source.sha256)
        if source.sha256 in taken_before:
            # In the latest snapshot but never archived: a run stopped after its manifest. Finish it.
            (duplicates if is_archived(source.sha256, settings.archive) else unfinished).append(source)
            continue
        try:
            taken.append(take_in_file(ws.store, source, dataset, ws.config.ingest, settings.quarantine))
        except IngestError as err:
            quarantined.append(quarantine_file(source, settings.quarantine, err.code, str(err), err.details))
    reads, source_errors = _read_sources(ws, parent)
    parts = [p for t in taken for p in t.parts] + [p for _, r in reads for p in r.parts]
    snapshot = create_snapshot(ws.store, dataset, parent, parts) if parts else parent
    created = snapshot is not None and (parent is None or snapshot.id != parent.id)
    if snapshot is not None:
        ws.meta.record_snapshot(SnapshotRecord(id=snapshot.id, dataset=dataset.name, parent=snapshot.parent,
                                               rows=snapshot.rows, parts=len(snapshot.parts),
                                               manifest_uri=ws.store.uri(manifest_key(snapshot.id)), created_at=""))
    # The manifest is durable now: only from here on may files leave the landing area.
    for t in taken:
        if t.pending_rows:
            commit_rejected_rows(t.pending_rows, settings.quarantine, t.source.sha256[:8], t.source.path.stem)
        archive_file(t.source, settings.archive)
    for source in unfinished:
        pending = pending_rows_path(settings.quarantine, source.sha256)
        if pending.exists():
            commit_rejected_rows(pending, settings.quarantine, source.sha256[:8], source.path.stem)
        archive_file(source, settings.archive)
        log.warning("%s: already in snapshot %s; archived now (an earlier run stopped before archiving it)",
                    source.name, parent.id if parent else "?")
    for cfg, read in reads:
        commit_table_read(ws.store, cfg, read, snapshot.id if snapshot else None, settings.quarantine)
    for source in duplicates:
        msg = (f"{source.name}: identical content (sha256 {source.sha256[:12]}…) was already taken in "
               f"(snapshot {snapshot.id if snapshot else '?'}); nothing new to take in")
        quarantined.append(quarantine_file(source, settings.quarantine, "duplicate_file", msg))
    tidy_landing(settings.landing)

    rejected_rows = sum(t.rejected_rows for t in taken) + sum(r.rejected_rows for _, r in reads)
    new_rows = snapshot.rows - (parent.rows if parent else 0) if created and snapshot else 0
    outcome = IngestOutcome(
        snapshot_id=snapshot.id if snapshot else None, created=created, rows=snapshot.rows if snapshot else 0,
        new_rows=new_rows, accepted=[t.source.name for t in taken],
        quarantined=[{"file": q.original_name, "code": q.code, "message": q.message, "path": str(q.path)}
                     for q in quarantined], rejected_rows=rejected_rows, sources=[r.to_dict() for _, r in reads])
    from_sources = f" and {len(reads)} table source(s)" if reads else ""
    if created:
        progress("ingest", f"snapshot {snapshot.id}: {new_rows} new rows in {len(parts)} part(s) from {len(taken)} "
                           f"file(s){from_sources}, {snapshot.rows} rows in total; {len(quarantined)} file(s) and "
                           f"{rejected_rows} row(s) quarantined")
    else:
        progress("ingest", f"no new data (snapshot {outcome.snapshot_id or 'none'} unchanged); "
                           f"{len(quarantined)} file(s) and {rejected_rows} row(s) quarantined")
    if source_errors:
        raise source_errors[0]
    return outcome


def snapshot_frame(ws: Workspace, snapshot_id: str) -> pd.DataFrame:
    """The data of one snapshot (time travel by id)."""
    try:
        return load_snapshot(ws.store, read_manifest(ws.store, ws.meta.get_snapshot(snapshot_id).id))
    except NotFound as err:
        raise SnapshotError(str(err)) from None
