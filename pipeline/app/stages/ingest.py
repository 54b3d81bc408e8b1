"""Ingest: take complete landing files and new source-table rows in, and freeze them as a snapshot.

The order of writes is what makes a crash harmless: parts, then the manifest (the commit point),
then the metadata index, then — only once the manifest is durable — rejected rows into
quarantine, files into the archive and table watermarks. A rerun after a crash at any point
reaches the snapshot id a crash-free run reaches, and finishes archiving what an interrupted run
left in the landing area.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

import pandas as pd

from pipeline.app.contracts import Contract
from pipeline.app.workspace import Workspace
from pipeline.core.config import TableSourceConfig
from pipeline.core.errors import IngestError, NotFound, SnapshotConflict, SnapshotError
from pipeline.core.progress import progress
from pipeline.data.inbox import DUPLICATE_FILE, Inbox, Refusal
from pipeline.data.ingestion import (
    LandingFile,
    QuarantinedFile,
    TakenFile,
    commit_left_spools,
    rows_folder,
    sha256_file,
    sweep_spools,
    take_in_file,
)
from pipeline.data.landed_store import landed_store
from pipeline.data.ready_files import scan_landing
from pipeline.data.snapshots import (
    Snapshot,
    create_snapshot,
    load_snapshot,
    manifest_key,
    read_manifest,
)
from pipeline.data.sources import (
    TableRead,
    commit_table_read,
    has_new_rows,
    read_table_source,
)
from pipeline.monitoring.alerts import ingest_rejected_alert
from pipeline.registry.base import SnapshotRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestOutcome(Contract):
    """What one ingest run did: the current snapshot, what was new, taken, quarantined and read from tables."""

    snapshot_id: str | None
    created: bool
    rows: int
    new_rows: int
    accepted: list[str] = field(default_factory=list)
    quarantined: list[dict[str, str]] = field(default_factory=list)
    rejected_rows: int = 0
    sources: list[dict[str, Any]] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    """Files that changed while being read: left in the landing area for the next run."""
    rejected_files: list[dict[str, Any]] = field(default_factory=list)
    """Accepted files that had rows rejected: ``file``, ``rows`` rejected, ``of`` rows read."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def current_snapshot(ws: Workspace) -> Snapshot | None:
    record = ws.meta.latest_snapshot(ws.config.dataset.name)
    return read_manifest(ws.store, record.id) if record else None


def ready_landing_files(ws: Workspace) -> list[str]:
    """What ingest would take now: complete landing files, then table sources with new rows.

    Tables appear as ``<name>:<table>``.
    """
    scan = scan_landing(ws.settings.landing, ws.config.ingest.stable_seconds)
    ready = [p.name for p in (*scan.ready, *scan.links)]  # links too: ingest quarantines them
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
            except Exception as err:  # noqa: BLE001 - a probe only: the ingest run itself reports the error loudly
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
    return {
        "start": scan.settled or bool(tables),
        "ready": [p.name for p in scan.ready],
        "in_progress": [p.name for p in scan.in_progress],
        "tables": tables,
        "landing": str(ws.settings.landing),
        "stable_seconds": ws.config.ingest.stable_seconds,
    }


def _read_sources(
    ws: Workspace, parent: Snapshot | None
) -> tuple[list[tuple[TableSourceConfig, TableRead]], list[Exception]]:
    """Read every configured table; one failing source neither stops the others nor the files."""
    reads: list[tuple[TableSourceConfig, TableRead]] = []
    errors: list[Exception] = []
    for cfg in ws.config.sources.tables:
        try:
            reads.append(
                (
                    cfg,
                    read_table_source(
                        ws.store, cfg, ws.config.dataset, ws.config.ingest, parent, ws.settings.quarantine
                    ),
                )
            )
        except Exception as err:  # noqa: BLE001 - raised after the files are durable, see ingest_landing
            log.error("source %s was not read: %s", cfg.name, err)
            errors.append(err)
    return reads, errors


MAX_APPEND_ATTEMPTS = 20
"""How often one run rebases on a snapshot another ingest appended first before it gives up."""


def _unchanged(source: LandingFile) -> bool:
    """Whether the file still holds the bytes that were checksummed when it was listed."""
    try:
        return source.path.lstat().st_size == source.size and sha256_file(source.path) == source.sha256
    except FileNotFoundError:
        return False


def _landing_inbox(ws: Workspace) -> Inbox:
    """The landing area; accepted files are archived by checksum under ``archive/<sha[:2]>/<sha>/<name>``."""
    settings = ws.settings
    return Inbox(
        settings.landing,
        settings.archive,
        settings.quarantine,
        ws.config.ingest.stable_seconds,
        landed_store(settings, ws.store),
    )


def _take(ws: Workspace, inbox: Inbox, source: LandingFile, quarantined: list[QuarantinedFile]) -> TakenFile | None:
    """Take one file in; a bad one quarantines itself and nothing else; a vanished one is another run's."""
    try:
        return take_in_file(ws.store, source, ws.config.dataset, ws.config.ingest, inbox.quarantine)
    except IngestError as err:
        q = inbox.refuse_error(source, err)
        if q is not None:
            quarantined.append(q)
    except FileNotFoundError:
        log.info("%s: gone from the landing area while being read (another run took it)", source.name)
    return None


def _commit_file(inbox: Inbox, source: LandingFile, taken: TakenFile | None) -> None:
    """After the manifest is the latest: rejected rows to quarantine (exactly once), the file to the archive."""
    stem = source.path.stem
    if taken is not None and taken.spool is not None:
        taken.spool.commit(rows_folder(source.sha256), stem)
    commit_left_spools(inbox.quarantine, source.sha256, rows_folder(source.sha256), stem)
    inbox.archive_file(source)


def ingest_landing(ws: Workspace) -> IngestOutcome:
    """Take every complete landing file and every table source in; snapshot accepted rows, quarantine the rest.

    Files are streamed in chunks of ``ingest.chunk_rows`` rows (one part per chunk). A file that
    fails does not stop the others; a source table that cannot be read does not stop the files,
    but its error is raised once everything else is durable.

    Appending to the snapshot chain is compare-and-set: the new snapshot is recorded only if the
    latest is still the parent it was built on. A run that loses the race rebases: it re-reads the
    latest, steps aside for files the winner took, re-reads table sources, and tries again. A file
    whose checksum changed after it was listed (still being written) is left in the landing area.
    """
    dataset, settings = ws.config.dataset, ws.settings
    inbox = _landing_inbox(ws)
    sweep_spools(settings.quarantine)
    quarantined: list[QuarantinedFile] = inbox.quarantine_links()
    parent = current_snapshot(ws)
    listed = inbox.ready_files()
    taken: dict[str, TakenFile] = {}
    settled: set[str] = set()  # quarantined, gone, left waiting or taken by another run: not ours to commit
    waiting: list[str] = []
    unfinished: list[LandingFile] = []
    duplicates: list[LandingFile] = []
    for attempt in range(MAX_APPEND_ATTEMPTS):
        in_parent = parent.source_checksums if parent else set()
        seen: set[str] = set()
        for source in listed:
            if source.sha256 in seen:
                if attempt == 0:
                    duplicates.append(source)
                continue
            seen.add(source.sha256)
            if source.sha256 in settled:
                continue
            if source.sha256 in in_parent:
                if attempt == 0:
                    # In the latest snapshot but not archived: a run stopped after its manifest (or is
                    # finishing right now). Finish it; every step tolerates the other run doing the same.
                    (duplicates if inbox.is_archived(source) else unfinished).append(source)
                else:
                    mine = taken.pop(source.sha256, None)
                    if mine is not None and mine.spool is not None:
                        mine.spool.discard()
                    log.info(
                        "%s: taken in by a concurrent ingest (snapshot %s); stepping aside",
                        source.name,
                        parent.id if parent else "?",
                    )
                settled.add(source.sha256)
                continue
            if source.sha256 not in taken:
                got = _take(ws, inbox, source, quarantined)
                if got is None:
                    settled.add(source.sha256)
                    continue
                taken[source.sha256] = got
        for sha, t in list(taken.items()):  # the checksum at read must still hold now
            if not _unchanged(t.source):
                if t.spool is not None:
                    t.spool.discard()
                del taken[sha]
                settled.add(sha)
                waiting.append(t.source.name)
                log.warning(
                    "%s: changed while it was being taken in (still being written?); left in %s for the next run",
                    t.source.name,
                    settings.landing,
                )
        reads, source_errors = _read_sources(ws, parent)
        parts = [p for t in taken.values() for p in t.parts] + [p for _, r in reads for p in r.parts]
        snapshot = create_snapshot(ws.store, dataset, parent, parts) if parts else parent
        if snapshot is None or (parent is not None and snapshot.id == parent.id):
            break
        try:
            ws.meta.append_snapshot(
                SnapshotRecord(
                    id=snapshot.id,
                    dataset=dataset.name,
                    parent=snapshot.parent,
                    rows=snapshot.rows,
                    parts=len(snapshot.parts),
                    manifest_uri=ws.store.uri(manifest_key(snapshot.id)),
                    created_at="",
                )
            )
            break
        except SnapshotConflict as err:
            for _, read in reads:
                read.discard()
            log.warning("ingest: %s; rebasing (attempt %d of %d)", err, attempt + 2, MAX_APPEND_ATTEMPTS)
            parent = current_snapshot(ws)
    else:
        for t in taken.values():
            if t.spool is not None:
                t.spool.discard()
        raise SnapshotError(
            f"ingest gave up after {MAX_APPEND_ATTEMPTS} attempts to append to the snapshot chain "
            f"of {dataset.name!r}: other ingests kept appending first. Nothing was lost (the files "
            "are still in the landing area); run ingest again."
        )
    created = snapshot is not None and (parent is None or snapshot.id != parent.id)
    # The manifest is the latest now: only from here on may files leave the landing area.
    for sha, t in taken.items():
        if not _unchanged(t.source):
            msg = (
                f"{t.source.name}: changed after it was taken in (sha256 {sha[:12]}… is in snapshot "
                f"{snapshot.id if snapshot else '?'}, the file now differs); kept here instead of archived. "
                "Check the producer; drop any new rows as a new file."
            )
            q = inbox.refuse(t.source, "changed_after_ingest", msg)
            if t.spool is not None:
                t.spool.commit(rows_folder(sha), t.source.path.stem)
            if q is not None:
                quarantined.append(q)
            continue
        _commit_file(inbox, t.source, t)
    for source in unfinished:
        _commit_file(inbox, source, None)
        log.warning(
            "%s: already in snapshot %s; archived now (an earlier run stopped before archiving it)",
            source.name,
            parent.id if parent else "?",
        )
    for cfg, read in reads:
        commit_table_read(ws.store, cfg, read, snapshot.id if snapshot else None, settings.quarantine)
    for source in duplicates:
        msg = (
            f"{source.name}: identical content (sha256 {source.sha256[:12]}…) was already taken in "
            f"(snapshot {snapshot.id if snapshot else '?'}); nothing new to take in"
        )
        q = inbox.refuse(source, DUPLICATE_FILE, msg)
        if q is not None:
            quarantined.append(q)
    inbox.tidy()
    inbox.settle()

    accepted = list(taken.values())
    rejected_rows = sum(t.rejected_rows for t in accepted) + sum(r.rejected_rows for _, r in reads)
    new_rows = snapshot.rows - (parent.rows if parent else 0) if created and snapshot else 0
    outcome = IngestOutcome(
        snapshot_id=snapshot.id if snapshot else None,
        created=created,
        rows=snapshot.rows if snapshot else 0,
        new_rows=new_rows,
        accepted=[t.source.name for t in accepted],
        quarantined=[Refusal.of(q).to_dict() for q in quarantined],
        rejected_rows=rejected_rows,
        sources=[r.to_dict() for _, r in reads],
        waiting=waiting,
        rejected_files=[
            {"file": t.source.name, "rows": t.rejected_rows, "of": t.rows} for t in accepted if t.rejected_rows
        ],
    )
    from_sources = f" and {len(reads)} table source(s)" if reads else ""
    if created and snapshot is not None:
        progress(
            "ingest",
            f"snapshot {snapshot.id}: {new_rows} new rows in {len(parts)} part(s) from {len(accepted)} "
            f"file(s){from_sources}, {snapshot.rows} rows in total; {len(quarantined)} file(s) and "
            f"{rejected_rows} row(s) quarantined",
        )
    else:
        progress(
            "ingest",
            f"no new data (snapshot {outcome.snapshot_id or 'none'} unchanged); "
            f"{len(quarantined)} file(s) and {rejected_rows} row(s) quarantined",
        )
    if waiting:
        progress(
            "ingest",
            f"{len(waiting)} file(s) changed while being read and wait in the landing area: {', '.join(waiting)}",
        )
    notify_rejections(ws, outcome)
    if source_errors:
        raise source_errors[0]
    return outcome


def quarantine_location(ws: Workspace) -> str:
    """Where quarantined files are kept: ``CT_HOME/quarantine``, or the data root's when they settle there."""
    landed = landed_store(ws.settings, ws.store)
    return landed.uri(ws.settings.quarantine) if landed is not None else str(ws.settings.quarantine)


def rejected_since(ws: Workspace, names: list[str], since: str) -> list[dict[str, Any]]:
    """Reasons of the files among ``names`` quarantined at or after ``since`` (ISO time), oldest first.

    Lets a caller that ran ingest elsewhere (an Airflow task) tell which files it refused and why.
    """
    found: list[dict[str, Any]] = []
    quarantine = ws.settings.quarantine
    landed = landed_store(ws.settings, ws.store)
    texts: list[Callable[[], bytes]] = [p.read_bytes for p in quarantine.glob("*/*.reason.json")]
    if landed is not None:  # settled on the data root (by this run or by a worker on another host)
        texts += [partial(landed.store.get, k) for k in landed.files(quarantine, ".reason.json") if k.count("/") == 2]
    wanted = set(names)
    for text in texts:
        try:
            reason = json.loads(text())
        except (OSError, ValueError):
            continue
        try:
            when = datetime.fromisoformat(str(reason.get("quarantined_at")))
        except ValueError:
            continue
        if reason.get("file") in wanted and when >= datetime.fromisoformat(since) and reason not in found:
            found.append(reason)  # (a reason both here and settled, by a run stopped mid-move, counts once)
    return sorted(found, key=lambda r: str(r.get("quarantined_at", "")))


def notify_rejections(ws: Workspace, outcome: IngestOutcome) -> None:
    """Raise one ``ingest_rejected`` alert when files were quarantined or rows rejected (never fails ingest)."""
    table_rows = [
        {"file": s["source"], "rows": s["rejected_rows"], "of": s["rows"]}
        for s in outcome.sources
        if s.get("rejected_rows")
    ]
    alert = ingest_rejected_alert(
        ws.config.dataset.name,
        outcome.quarantined,
        [*outcome.rejected_files, *table_rows],
        snapshot_id=outcome.snapshot_id,
    )
    if alert is not None:
        ws.notifier.notify(alert)


def snapshot_frame(ws: Workspace, snapshot_id: str) -> pd.DataFrame:
    """The data of one snapshot (time travel by id)."""
    try:
        return load_snapshot(ws.store, read_manifest(ws.store, ws.meta.get_snapshot(snapshot_id).id))
    except NotFound as err:
        raise SnapshotError(str(err)) from None
