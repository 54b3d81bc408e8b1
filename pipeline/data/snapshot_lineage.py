"""Lineage over snapshots: from a snapshot to its parts and landing files, and back from a file to models.

Forward: a model version names its snapshot; the snapshot's manifest lists its parts, each with
the source file (name, checksum) it came from; accepted files sit in ``archive/<sha[:2]>/<sha>/``.
Backward: :func:`models_trained_on` scans the registered versions' manifests for a file, so no
extra index has to be kept in sync. A version whose lineage lists ``snapshot_parts`` (its training
window) counts as trained on a file only when one of those parts came from it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pipeline.core.errors import NotFound, SnapshotError
from pipeline.data.ingestion import sha256_file
from pipeline.data.landed_store import archived_location
from pipeline.data.snapshots import (
    Part,
    Snapshot,
    SourceFile,
    list_manifest_ids,
    manifest_key,
    read_manifest,
)
from pipeline.registry.context import StoreContext

log = logging.getLogger(__name__)

_HEX = set("0123456789abcdef")


def resolve_snapshot(ws: StoreContext, snapshot_id: str) -> Snapshot:
    """A snapshot by id or unique prefix: from the metadata index, else from the manifests in the store."""
    try:
        return read_manifest(ws.store, ws.meta.get_snapshot(snapshot_id).id)
    except NotFound:
        pass
    matches = [m for m in list_manifest_ids(ws.store) if m.startswith(snapshot_id)]
    if len(matches) == 1:
        return read_manifest(ws.store, matches[0])
    if len(matches) > 1:
        raise SnapshotError(
            f"snapshot prefix {snapshot_id!r} is ambiguous: {sorted(matches)[:5]}; give more characters"
        )
    return read_manifest(ws.store, snapshot_id)  # raises the not-found error with its advice


def _archived(ws: StoreContext, source: SourceFile) -> str | None:
    if source.watermark is not None:
        return None  # rows of a table: there is no file
    return archived_location(ws.settings, ws.store, source)


def snapshot_lineage(ws: StoreContext, snapshot_id: str) -> dict[str, Any]:
    """A snapshot's parts and the landing files (checksums, archive paths) or table reads they came from."""
    snap = resolve_snapshot(ws, snapshot_id)
    sources: dict[tuple[str, str], dict[str, Any]] = {}
    parts = []
    for part in snap.parts:
        src = part.source
        parts.append(
            {
                "id": part.id,
                "uri": ws.store.uri(part.key),
                "rows": part.rows,
                "ingested_at": part.ingested_at,
                "source": src.to_dict(),
            }
        )
        entry = sources.setdefault(
            (src.name, src.sha256 if src.watermark is None else src.name),
            {
                "name": src.name,
                "sha256": src.sha256 if src.watermark is None else None,
                "size": src.size,
                "kind": "file" if src.watermark is None else "table",
                "archive_path": _archived(ws, src),
                "parts": 0,
                "rows": 0,
            },
        )
        entry["parts"] += 1
        entry["rows"] += part.rows
        if src.watermark is not None:
            entry["watermark"] = src.watermark  # parts are in manifest order: the last one is the highest
    models = [
        {"name": mv.name, "version": mv.version, "aliases": list(mv.aliases)}
        for mv in ws.meta.list_model_versions()
        if mv.snapshot_id == snap.id
    ]
    return {
        "snapshot_id": snap.id,
        "dataset": snap.dataset,
        "parent": snap.parent,
        "created_at": snap.created_at,
        "rows": snap.rows,
        "manifest_uri": ws.store.uri(manifest_key(snap.id)),
        "parts": parts,
        "sources": list(sources.values()),
        "models": models,
    }


def _matcher(file_name_or_sha256: str) -> tuple[str, Any]:
    """How to recognise the file: an existing path is hashed; else a checksum (prefix) or a name."""
    query = file_name_or_sha256.strip()
    path = Path(query)
    if path.is_file():
        sha = sha256_file(path)
        return f"{path.name} (sha256 {sha[:12]}…)", lambda s: s.sha256 == sha
    lowered = query.lower()
    if len(lowered) >= 8 and set(lowered) <= _HEX:
        return f"sha256 {lowered[:12]}…", lambda s: s.watermark is None and s.sha256.startswith(lowered)
    return query, lambda s: s.name == query or s.name.split(":", 1)[0] == query


def models_trained_on(ws: StoreContext, file_name_or_sha256: str) -> list[dict[str, Any]]:
    """Registered model versions whose training data holds rows of the given landing file.

    The argument is a path to a file (hashed), a SHA-256 (or a prefix of at least 8 hex digits),
    a file name as it was landed, or a table source name. Newest versions first per model.
    """
    _, matches = _matcher(file_name_or_sha256)
    manifests: dict[str, Snapshot | None] = {}
    found = []
    for mv in ws.meta.list_model_versions():
        if mv.snapshot_id not in manifests:
            try:
                manifests[mv.snapshot_id] = read_manifest(ws.store, mv.snapshot_id)
            except SnapshotError as err:
                log.warning("%s v%d: its snapshot cannot be read (%s); skipped", mv.name, mv.version, err)
                manifests[mv.snapshot_id] = None
        snap = manifests[mv.snapshot_id]
        if snap is None:
            continue
        trained = set(mv.lineage.get("snapshot_parts") or [p.id for p in snap.parts])
        hits: list[Part] = [p for p in snap.parts if p.id in trained and matches(p.source)]
        if hits:
            files = {(p.source.name, p.source.sha256): p.source for p in hits}
            found.append(
                {
                    "name": mv.name,
                    "version": mv.version,
                    "aliases": list(mv.aliases),
                    "snapshot_id": mv.snapshot_id,
                    "created_at": mv.created_at,
                    "parts": [p.id for p in hits],
                    "rows": sum(p.rows for p in hits),
                    "files": [{"name": s.name, "sha256": s.sha256} for s in files.values()],
                    "window": mv.lineage.get("window"),
                }
            )
    return found


def describe_query(file_name_or_sha256: str) -> str:
    """How :func:`models_trained_on` understood its argument (for messages)."""
    return _matcher(file_name_or_sha256)[0]
