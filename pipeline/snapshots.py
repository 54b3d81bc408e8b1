"""Immutable, content-addressed snapshots of the accepted data.

A *part* is one Parquet file holding the accepted rows of one landing file, stored under the hash
of its content. A *snapshot* is a manifest: parent, parts, schema and row counts. Its id is the hash
of that content (not of the time it was made), so ingesting the same data twice yields the same id
and appending a batch writes only the new part and a new manifest.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.config import DatasetConfig
from pipeline.errors import SnapshotError
from pipeline.storage import ObjectStore

log = logging.getLogger(__name__)

MANIFEST_FORMAT = 1


@dataclass(frozen=True)
class SourceFile:
    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Part:
    """One immutable Parquet file of rows, addressed by the hash of its content."""

    id: str
    key: str
    rows: int
    source: SourceFile

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "key": self.key, "rows": self.rows,
                "source": {"name": self.source.name, "sha256": self.source.sha256, "size": self.source.size}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Part:
        return cls(id=d["id"], key=d["key"], rows=int(d["rows"]), source=SourceFile(**d["source"]))


@dataclass(frozen=True)
class Snapshot:
    """A manifest: the complete list of parts that make up one version of the dataset."""

    id: str
    dataset: str
    parent: str | None
    parts: tuple[Part, ...]
    schema: tuple[tuple[str, str], ...]
    created_at: str

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.parts)

    @property
    def source_checksums(self) -> set[str]:
        return {p.source.sha256 for p in self.parts}

    def content(self) -> dict[str, Any]:
        """What the id is the hash of: everything but the creation time."""
        return {"format": MANIFEST_FORMAT, "dataset": self.dataset, "parent": self.parent,
                "parts": [p.to_dict() for p in self.parts], "schema": [list(c) for c in self.schema],
                "rows": self.rows}

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "created_at": self.created_at, **self.content()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Snapshot:
        return cls(id=d["id"], dataset=d["dataset"], parent=d.get("parent"),
                   parts=tuple(Part.from_dict(p) for p in d["parts"]),
                   schema=tuple((c[0], c[1]) for c in d["schema"]), created_at=d["created_at"])


def _canonical_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def arrow_schema(dataset: DatasetConfig) -> pa.Schema:
    """The storage schema: numeric features as float64, everything else as string."""
    numeric = set(dataset.numeric_names)
    return pa.schema([(c, pa.float64() if c in numeric else pa.string()) for c in dataset.columns])


def _part_hash(table: pa.Table) -> str:
    """Hash of the rows and schema, independent of Parquet writer version and metadata."""
    digest = hashlib.sha256(str(table.schema).encode())
    frame = table.to_pandas()
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def write_part(store: ObjectStore, frame: pd.DataFrame, dataset: DatasetConfig, source: SourceFile) -> Part:
    """Store ``frame`` as an immutable Parquet part (a no-op when identical content exists)."""
    schema = arrow_schema(dataset)
    table = pa.Table.from_pandas(frame[dataset.columns], schema=schema, preserve_index=False)
    part_id = _part_hash(table)
    key = f"snapshots/parts/{part_id[:2]}/{part_id}.parquet"
    if not store.exists(key):
        buf = io.BytesIO()
        pq.write_table(table, buf, compression="zstd")
        store.put(key, buf.getvalue())
    return Part(id=part_id, key=key, rows=table.num_rows, source=source)


def manifest_key(snapshot_id: str) -> str:
    return f"snapshots/manifests/{snapshot_id}.json"


def create_snapshot(store: ObjectStore, dataset: DatasetConfig, parent: Snapshot | None, new_parts: list[Part]) -> Snapshot:
    """Record a new manifest of ``parent``'s parts plus ``new_parts``; same content, same id.

    With no new parts the parent is returned unchanged, so a rerun never makes a new snapshot.
    """
    known = {p.id for p in parent.parts} if parent else set()
    fresh = []
    for part in new_parts:
        if part.id not in known:  # also drops a part repeated within new_parts
            known.add(part.id)
            fresh.append(part)
    if parent is not None and not fresh:
        return parent
    if parent is None and not fresh:
        raise SnapshotError("cannot create a first snapshot with no parts; drop data into the landing area first")
    parts = (*(parent.parts if parent else ()), *fresh)
    schema = tuple((f.name, str(f.type)) for f in arrow_schema(dataset))
    draft = Snapshot(id="", dataset=dataset.name, parent=parent.id if parent else None, parts=parts,
                     schema=schema, created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    snapshot_id = _canonical_hash(draft.content())[:16]
    key = manifest_key(snapshot_id)
    if store.exists(key):
        return read_manifest(store, snapshot_id)
    snapshot = Snapshot(**{**draft.__dict__, "id": snapshot_id})
    store.put(key, json.dumps(snapshot.to_dict(), indent=2).encode())
    log.info("snapshot %s: %d rows in %d part(s), %d new", snapshot_id, snapshot.rows, len(parts), len(fresh))
    return snapshot


def read_manifest(store: ObjectStore, snapshot_id: str) -> Snapshot:
    """Load a snapshot manifest by id; an unknown id is a :class:`SnapshotError`."""
    key = manifest_key(snapshot_id)
    if not store.exists(key):
        raise SnapshotError(f"snapshot {snapshot_id!r} not found at {store.uri(key)}; list them with `ct snapshots list`")
    return Snapshot.from_dict(json.loads(store.get(key)))


def load_parts(store: ObjectStore, parts: tuple[Part, ...] | list[Part]) -> pd.DataFrame:
    """Read parts into one frame, in manifest order."""
    frames = []
    for part in parts:
        if not store.exists(part.key):
            raise SnapshotError(f"part {part.id} is missing at {store.uri(part.key)}; the snapshot store is damaged")
        with store.open(part.key) as fh:
            frames.append(pq.read_table(fh).to_pandas())
    if not frames:
        raise SnapshotError("no parts to load")
    return pd.concat(frames, ignore_index=True)


def load_snapshot(store: ObjectStore, snapshot: Snapshot) -> pd.DataFrame:
    """The whole dataset as of ``snapshot``."""
    return load_parts(store, snapshot.parts)


def new_parts_since(snapshot: Snapshot, reference: Snapshot | None) -> list[Part]:
    """Parts of ``snapshot`` that ``reference`` does not have: the data new since then."""
    if reference is None:
        return list(snapshot.parts)
    seen = {p.id for p in reference.parts}
    return [p for p in snapshot.parts if p.id not in seen]
