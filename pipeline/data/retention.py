"""Retention: remove snapshot parts and manifests that nothing worth keeping points to.

Kept are the newest ``keep_last`` snapshots of each dataset and every snapshot a registered
model version was trained on. A part survives when any kept snapshot lists it; a manifest
survives when its snapshot is kept. Everything else under ``snapshots/`` goes — except objects
younger than ``min_age_seconds``, which may belong to an ingest that is still running (its parts
are written before its manifest). Temporary files that a killed write left behind go too, on the
same age rule. A removed manifest leaves a small tombstone so that asking for
the snapshot later says what happened instead of "not found".
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from pipeline.core.errors import SnapshotError
from pipeline.core.storage import ObjectStore
from pipeline.data.snapshots import (
    PART_PREFIX,
    list_manifest_ids,
    manifest_key,
    read_manifest,
    tombstone_key,
    utc_now,
)
from pipeline.registry.context import StoreContext

log = logging.getLogger(__name__)

DEFAULT_MIN_AGE_SECONDS = 3600.0


@dataclass(frozen=True)
class GcReport:
    """What a garbage collection kept and removed (or, with ``dry_run``, would remove)."""

    dry_run: bool
    keep_last: int
    kept_snapshots: list[str]
    model_snapshots: list[str]
    removed_manifests: list[str]
    removed_parts: list[str]
    bytes_freed: int
    kept_parts: int
    skipped_young: int
    removed_temp: list[str] = field(default_factory=list)
    """Temporary files of writes that never finished (a killed ingest), older than ``min_age_seconds``."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_temporary(key: str) -> bool:
    """A temporary file of an atomic write (``.<name>.<uuid>.tmp``), never a finished object."""
    name = key.rsplit("/", 1)[-1]
    return name.startswith(".") and name.endswith(".tmp")


def _old_enough(store: ObjectStore, key: str, min_age_seconds: float) -> bool:
    if min_age_seconds <= 0:
        return True
    age = store.age_seconds(key)
    return age is not None and age >= min_age_seconds


def collect_garbage(
    ws: StoreContext, keep_last: int = 10, *, dry_run: bool = False, min_age_seconds: float = DEFAULT_MIN_AGE_SECONDS
) -> GcReport:
    """Delete what no kept snapshot and no registered model references; returns what was (or would be) removed.

    Refuses to run (:class:`SnapshotError`) when a snapshot that must be kept has no readable
    manifest, because its parts could then not be told apart from garbage.
    """
    if keep_last < 1:
        raise SnapshotError(f"keep_last must be at least 1 (got {keep_last}): the newest snapshot is always kept")
    store = ws.store
    kept: list[str] = []
    per_dataset: dict[str, int] = {}
    for rec in ws.meta.list_snapshots():  # newest first
        if per_dataset.get(rec.dataset, 0) < keep_last:
            per_dataset[rec.dataset] = per_dataset.get(rec.dataset, 0) + 1
            kept.append(rec.id)
    used = sorted({mv.snapshot_id for mv in ws.meta.list_model_versions()})
    roots = [*kept, *(s for s in used if s not in kept)]
    referenced: set[str] = set()
    for snapshot_id in roots:
        try:
            referenced.update(p.key for p in read_manifest(store, snapshot_id).parts)
        except SnapshotError as err:
            raise SnapshotError(
                f"refusing to collect garbage: snapshot {snapshot_id} must be kept but its manifest "
                f"cannot be read ({err}); restore it first"
            ) from None

    skipped = 0
    doomed_manifests = []
    for snapshot_id in list_manifest_ids(store):
        if snapshot_id in roots:
            continue
        if _old_enough(store, manifest_key(snapshot_id), min_age_seconds):
            doomed_manifests.append(snapshot_id)
        else:
            skipped += 1
    part_keys = [k for k in store.list(PART_PREFIX.rstrip("/")) if k.endswith(".parquet")]
    doomed_parts = []
    for key in part_keys:
        if key in referenced:
            continue
        if _old_enough(store, key, min_age_seconds):
            doomed_parts.append(key)
        else:
            skipped += 1
    # A kill between writing a temporary file and renaming it leaves ".<name>.<uuid>.tmp" behind; no
    # manifest can ever name it, so once it is old enough to belong to no running write it goes.
    doomed_temp = []
    for key in store.list("snapshots"):
        if is_temporary(key):
            if _old_enough(store, key, min_age_seconds):
                doomed_temp.append(key)
            else:
                skipped += 1
    freed = (
        sum(store.size(k) for k in doomed_parts)
        + sum(store.size(manifest_key(m)) for m in doomed_manifests)
        + sum(store.size(k) for k in doomed_temp)
    )

    if not dry_run:
        # Manifests go first: a crash half-way never leaves a manifest whose parts are gone.
        for snapshot_id in doomed_manifests:
            store.replace(
                tombstone_key(snapshot_id),
                json.dumps(
                    {
                        "snapshot_id": snapshot_id,
                        "removed_at": utc_now(),
                        "by": "ct snapshots gc",
                        "why": f"not among the newest {keep_last} snapshots and no registered model version uses it",
                    }
                ).encode(),
            )
            store.delete(manifest_key(snapshot_id))
        for key in doomed_parts:
            store.delete(key)
        for key in doomed_temp:
            store.delete(key)
    log.info(
        "gc%s: kept %d snapshot(s) (+%d used by models), removed %d manifest(s) and %d part(s), %d bytes",
        " (dry run)" if dry_run else "",
        len(kept),
        len(roots) - len(kept),
        len(doomed_manifests),
        len(doomed_parts),
        freed,
    )
    return GcReport(
        dry_run=dry_run,
        keep_last=keep_last,
        kept_snapshots=kept,
        model_snapshots=used,
        removed_manifests=doomed_manifests,
        removed_parts=doomed_parts,
        bytes_freed=freed,
        kept_parts=len(part_keys) - len(doomed_parts),
        skipped_young=skipped,
        removed_temp=doomed_temp,
    )
