"""Immutable, content-addressed snapshots of the accepted data.

A *part* is one Parquet file holding up to ``ingest.chunk_rows`` accepted rows of one source (a
landing file or one read of a source table), stored under the hash of its content. A *snapshot* is
a manifest: parent, parts, schema and row counts. Its id is the hash of that content (not of the
time it was made, nor of when its parts were ingested), so ingesting the same data twice yields
the same id and appending a batch writes only the new parts and a new manifest.

Reading never copies parts: :func:`load_snapshot` concatenates them into one pandas frame and
:func:`snapshot_dataset` is a ``pyarrow.dataset`` view over the part files where they lie.

Nothing read is trusted blindly. A part's name is the hash of its rows; the manifest also records
the SHA-256 of the part file's bytes (outside the snapshot id), so every read checks the bytes
(about 15 ms for a 1M-row part) and a part without a recorded checksum (older manifests) has its
rows hashed again, once per process. A changed, truncated or unreadable part raises
:class:`~pipeline.core.errors.PartDamaged`; :func:`verify_snapshots` (``ct snapshots verify``) always
re-hashes the rows and lists every damaged part.
"""

from __future__ import annotations

import io
import json
import logging
import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, overload

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from pipeline.core.config import DatasetConfig, WindowConfig
from pipeline.core.errors import PartDamaged, SnapshotError
from pipeline.core.hashing import json_sha256, sha256_hex
from pipeline.core.storage import ObjectStore

log = logging.getLogger(__name__)

MANIFEST_FORMAT = 1
MANIFEST_PREFIX = "snapshots/manifests/"
PART_PREFIX = "snapshots/parts/"


def utc_now() -> str:
    """The current time as an ISO-8601 UTC string, the format of every time in a manifest."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class SourceFile:
    """Where a part's rows came from: a landing file (name, sha256, bytes) or one read of a table.

    For a table read, ``name`` is ``<source>:<table>``, ``sha256`` the hash of the rows read, ``size``
    0 and ``watermark`` the highest watermark value in the part (``<type>:<value>``).
    """

    name: str
    sha256: str
    size: int
    watermark: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "sha256": self.sha256, "size": self.size}
        if self.watermark is not None:  # absent for files, so file parts hash as they always did
            d["watermark"] = self.watermark
        return d


@dataclass(frozen=True)
class Part:
    """One immutable Parquet file of rows, addressed by the hash of its content.

    ``ingested_at`` is recorded in the manifest but kept out of the snapshot id, so the same data
    taken in again (e.g. the rerun after a crash) still yields the same id.
    """

    id: str
    key: str
    rows: int
    source: SourceFile
    ingested_at: str | None = None
    file_sha256: str | None = None
    """SHA-256 of the Parquet file's bytes, checked on every read (None in older manifests)."""

    def content(self) -> dict[str, Any]:
        """The part as it enters the snapshot id."""
        return {"id": self.id, "key": self.key, "rows": self.rows, "source": self.source.to_dict()}

    def to_dict(self) -> dict[str, Any]:
        """The part as stored in the manifest: its content plus ``ingested_at`` and ``file_sha256`` when known."""
        d = self.content()
        if self.ingested_at is not None:
            d["ingested_at"] = self.ingested_at
        if self.file_sha256 is not None:
            d["file_sha256"] = self.file_sha256
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Part:
        return cls(
            id=d["id"],
            key=d["key"],
            rows=int(d["rows"]),
            source=SourceFile(**d["source"]),
            ingested_at=d.get("ingested_at"),
            file_sha256=d.get("file_sha256"),
        )


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
        """What the id is the hash of: everything but the creation and ingest times."""
        return {
            "format": MANIFEST_FORMAT,
            "dataset": self.dataset,
            "parent": self.parent,
            "parts": [p.content() for p in self.parts],
            "schema": [list(c) for c in self.schema],
            "rows": self.rows,
        }

    def to_dict(self) -> dict[str, Any]:
        content = self.content()
        content["parts"] = [p.to_dict() for p in self.parts]
        return {"id": self.id, "created_at": self.created_at, **content}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Snapshot:
        return cls(
            id=d["id"],
            dataset=d["dataset"],
            parent=d.get("parent"),
            parts=tuple(Part.from_dict(p) for p in d["parts"]),
            schema=tuple((c[0], c[1]) for c in d["schema"]),
            created_at=d["created_at"],
        )


def _canonical_hash(obj: Any) -> str:
    return json_sha256(obj)


def arrow_schema(dataset: DatasetConfig) -> pa.Schema:
    """The storage schema: numeric features (and a regression label) as float64, datetime features as
    UTC timestamps, the rest as string."""
    numeric, dates = set(dataset.numeric_names), set(dataset.datetime_names)
    if not dataset.is_classification:
        numeric.add(dataset.label)
    return pa.schema(
        [
            (c, pa.float64() if c in numeric else pa.timestamp("us", tz="UTC") if c in dates else pa.string())
            for c in dataset.columns
        ]
    )


def typed_frame_metadata(dataset: DatasetConfig) -> dict[bytes, bytes]:
    """The schema metadata ``pa.Table.from_pandas`` gives a frame typed as ingest types it.

    That frame holds text as pandas ``string``, numbers as float64 and dates as UTC timestamps;
    its pandas metadata (dtypes, library versions) goes into the part file and, through the
    schema's text, into the part id.
    """
    schema = arrow_schema(dataset)
    template = schema.empty_table().to_pandas(types_mapper={pa.string(): pd.StringDtype()}.get)
    return dict(pa.Table.from_pandas(template, schema=schema, preserve_index=False).schema.metadata or {})


def _part_hash(table: pa.Table, frame: pd.DataFrame | None = None) -> str:
    """Hash of the rows and schema, independent of Parquet writer version and metadata.

    ``frame`` is ``table.to_pandas()`` when the caller already has it (saves converting twice).
    """
    frame = table.to_pandas() if frame is None else frame
    return sha256_hex(str(table.schema), pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())


def part_key(part_id: str) -> str:
    return f"{PART_PREFIX}{part_id[:2]}/{part_id}.parquet"


def part_table(frame: pd.DataFrame | pa.Table, dataset: DatasetConfig) -> pa.Table:
    """The rows of a part as stored: the declared columns in the storage schema (see :func:`write_part`)."""
    schema = arrow_schema(dataset)
    if isinstance(frame, pa.Table):
        table = frame.select(list(dataset.columns)).cast(schema)  # Arrow's chunks write the same file bytes
        return table.replace_schema_metadata(typed_frame_metadata(dataset))
    return pa.Table.from_pandas(frame[dataset.columns], schema=schema, preserve_index=False)


def write_part(
    store: ObjectStore,
    frame: pd.DataFrame | pa.Table,
    dataset: DatasetConfig,
    source: SourceFile,
    ingested_at: str | None = None,
) -> Part:
    """Store ``frame`` as an immutable Parquet part (a no-op when identical content exists).

    ``frame`` is a pandas frame with the declared columns, or an Arrow table of them (ingest's
    Arrow path hands its rows over without a pandas round trip). A table is stored with the pandas
    metadata of the frame ingest's pandas path makes for the same rows (:func:`typed_frame_metadata`),
    so the part file reads back alike and its id is the same either way.
    ``ingested_at`` defaults to now; it is kept in the manifest (for ``last_days`` windows) but not
    in any id. A part file that is already there (a rerun, the same rows from another file) is
    checked before it is trusted: one whose rows do not hash to its name is rewritten from
    ``frame``. The SHA-256 of the stored bytes goes into the manifest, so readers check them cheaply.
    """
    table = part_table(frame, dataset)
    part_id = _part_hash(table)
    key = part_key(part_id)
    data = _part_bytes(store, key) if store.exists(key) else None
    if data is not None and (problem := part_problem(Part(part_id, key, table.num_rows, source), data)):
        log.warning("part %s at %s was damaged (%s); rewritten from %s", part_id, store.uri(key), problem, source.name)
        data = _parquet_bytes(table, dataset)
        store.replace(key, data)  # the same address and the content it always promised: a repair
    elif data is None:
        data = _parquet_bytes(table, dataset)
        if not store.put(key, data):  # a concurrent ingest wrote it meanwhile: record the bytes that are there
            data = _part_bytes(store, key)
    return Part(
        id=part_id,
        key=key,
        rows=table.num_rows,
        source=source,
        ingested_at=ingested_at or utc_now(),
        file_sha256=sha256_hex(data),
    )


def _part_bytes(store: ObjectStore, key: str) -> bytes:
    """The whole part file (read through ``open``, the one way part files are read)."""
    with store.open(key) as fh:
        return fh.read()


def _parquet_bytes(table: pa.Table, dataset: DatasetConfig) -> bytes:
    """The part file: zstd, dictionary-encoded only where values repeat (categories, class labels).

    Dictionary encoding of numbers and identifiers, nearly all distinct, is tried and abandoned
    page by page: leaving it out writes a part about twice as fast and a quarter smaller.
    """
    repeated = [*dataset.categorical_names, *([dataset.label] if dataset.is_classification else [])]
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", use_dictionary=repeated)
    return buf.getvalue()


def manifest_key(snapshot_id: str) -> str:
    return f"{MANIFEST_PREFIX}{snapshot_id}.json"


def create_snapshot(
    store: ObjectStore, dataset: DatasetConfig, parent: Snapshot | None, new_parts: list[Part]
) -> Snapshot:
    """Record a new manifest of ``parent``'s parts plus ``new_parts``; same content, same id.

    With no new parts the parent is returned unchanged, so a rerun never makes a new snapshot.
    Parts must already be durable: the manifest is the commit point of an ingest.
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
    # Parts of manifests written before ingest times were recorded were taken in at the latest when
    # that parent was made: an upper bound that keeps ``last_days`` windows from dropping them.
    inherited = (
        tuple(p if p.ingested_at else replace(p, ingested_at=parent.created_at) for p in parent.parts) if parent else ()
    )
    parts = (*inherited, *fresh)
    schema = tuple((f.name, str(f.type)) for f in arrow_schema(dataset))
    draft = Snapshot(
        id="",
        dataset=dataset.name,
        parent=parent.id if parent else None,
        parts=parts,
        schema=schema,
        created_at=utc_now(),
    )
    snapshot_id = _canonical_hash(draft.content())[:16]
    key = manifest_key(snapshot_id)
    if store.exists(key):
        return read_manifest(store, snapshot_id)
    snapshot = replace(draft, id=snapshot_id)
    store.put(key, json.dumps(snapshot.to_dict(), indent=2).encode())
    log.info("snapshot %s: %d rows in %d part(s), %d new", snapshot_id, snapshot.rows, len(parts), len(fresh))
    return snapshot


def tombstone_key(snapshot_id: str) -> str:
    """Where retention notes that it removed a snapshot's manifest."""
    return f"snapshots/removed/{snapshot_id}.json"


def read_manifest(store: ObjectStore, snapshot_id: str) -> Snapshot:
    """Load a snapshot manifest by id; an unknown or removed id is a :class:`SnapshotError`."""
    key = manifest_key(snapshot_id)
    if not store.exists(key):
        if store.exists(tombstone_key(snapshot_id)):
            note = json.loads(store.get(tombstone_key(snapshot_id)))
            raise SnapshotError(
                f"snapshot {snapshot_id!r} was removed by {note.get('by')} at {note.get('removed_at')} "
                f"({note.get('why')}); its data is gone unless a newer snapshot holds the same parts"
            )
        raise SnapshotError(
            f"snapshot {snapshot_id!r} not found at {store.uri(key)}; list them with `ct snapshots list`"
        )
    return Snapshot.from_dict(json.loads(store.get(key)))


def list_manifest_ids(store: ObjectStore) -> list[str]:
    """Ids of every manifest in the store, including ones the metadata index never recorded."""
    return [
        k[len(MANIFEST_PREFIX) : -len(".json")] for k in store.list(MANIFEST_PREFIX.rstrip("/")) if k.endswith(".json")
    ]


_ROWS_VERIFIED: set[tuple[str, str]] = set()
"""(part id, SHA-256 of the file's bytes) whose rows this process hashed and found matching the id."""


def _parse_part(data: bytes) -> pa.Table:
    return pq.read_table(pa.BufferReader(data))


def _rows_problem(part: Part, table: pa.Table, frame: pd.DataFrame | None = None) -> str | None:
    """What is wrong with a parsed part's rows (count, or a hash that is not its id), or None."""
    if table.num_rows != part.rows:
        return f"it holds {table.num_rows} rows where the manifest says {part.rows}"
    if _part_hash(table, frame) != part.id:
        return "its rows no longer hash to its id (the content was changed)"
    return None


def part_problem(part: Part, data: bytes) -> str | None:
    """What is wrong with ``data``, the bytes of ``part``'s file, or None when they are intact.

    Always re-hashes the rows (the authority: the part id is that hash); a file checksum that
    differs from the manifest's while the rows hash right (rewritten by another Parquet writer)
    is not damage.
    """
    try:
        table = _parse_part(data)
    except (pa.ArrowException, OSError, ValueError) as err:
        return f"not a readable Parquet file ({len(data)} bytes; {type(err).__name__}: {err})"
    return _rows_problem(part, table)


def _damaged(store: ObjectStore, part: Part, problem: str, snapshot_id: str | None) -> PartDamaged:
    where = f" of snapshot {snapshot_id}" if snapshot_id else ""
    return PartDamaged(
        f"part {part.id}{where} is damaged: {problem} (file {store.uri(part.key)}, key {part.key}; its "
        f"{part.rows} rows came from {part.source.name}). Nothing was read from it. List every damaged part and "
        "the snapshots that hold it with `ct snapshots verify`; restore the file from a backup of the object store "
        "(its name is its content hash, so any intact copy is the right one), or train on a snapshot without it",
        part_id=part.id,
        key=part.key,
        problem=problem,
        snapshot_id=snapshot_id,
    )


@overload
def _checked(
    store: ObjectStore, part: Part, snapshot_id: str | None, parse: Literal[True] = ...
) -> tuple[pa.Table, pd.DataFrame | None]: ...
@overload
def _checked(
    store: ObjectStore, part: Part, snapshot_id: str | None, parse: bool
) -> tuple[pa.Table | None, pd.DataFrame | None]: ...
def _checked(
    store: ObjectStore, part: Part, snapshot_id: str | None, parse: bool = True
) -> tuple[pa.Table | None, pd.DataFrame | None]:
    """Read ``part``'s file and make sure it is what the manifest promises; raises :class:`PartDamaged`.

    Bytes matching the manifest's checksum, or whose rows were hashed already in this process,
    are trusted; otherwise the rows are hashed again (their pandas frame is returned too, so the
    caller does not convert twice). ``parse=False`` skips parsing trusted bytes.
    """
    if not store.exists(part.key):
        raise _damaged(store, part, "the file is missing", snapshot_id)
    data = _part_bytes(store, part.key)
    digest = sha256_hex(data)
    trusted = digest == part.file_sha256 or (part.id, digest) in _ROWS_VERIFIED
    if trusted and not parse:
        return None, None
    try:
        table = _parse_part(data)
    except (pa.ArrowException, OSError, ValueError) as err:
        raise _damaged(
            store, part, f"not a readable Parquet file ({len(data)} bytes; {type(err).__name__}: {err})", snapshot_id
        ) from err
    if trusted:
        return table, None
    frame = table.to_pandas()
    if problem := _rows_problem(part, table, frame):
        raise _damaged(store, part, problem, snapshot_id)
    _ROWS_VERIFIED.add((part.id, digest))
    return table, frame


def load_parts(
    store: ObjectStore, parts: tuple[Part, ...] | list[Part], snapshot_id: str | None = None
) -> pd.DataFrame:
    """Read parts into one frame, in manifest order, each checked first (see :func:`_checked`).

    ``snapshot_id`` is only named in the error when a part is damaged.
    """
    if not parts:
        raise SnapshotError("no parts to load")
    frames = []
    for part in parts:
        table, frame = _checked(store, part, snapshot_id)
        frames.append(frame if frame is not None else table.to_pandas())
    return pd.concat(frames, ignore_index=True)


def load_snapshot(store: ObjectStore, snapshot: Snapshot) -> pd.DataFrame:
    """The whole dataset as of ``snapshot`` (time travel: any stored id reads as it was)."""
    return load_parts(store, snapshot.parts, snapshot.id)


def snapshot_dataset(store: ObjectStore, snapshot: Snapshot, parts: tuple[Part, ...] | None = None) -> pads.Dataset:
    """A ``pyarrow.dataset`` over the snapshot's part files, read in place through the store's filesystem.

    Nothing is copied: scans, column projections and filters read the Parquet parts where they are
    (any fsspec backend). ``parts`` narrows the view, e.g. to :func:`select_window`'s result. Each
    file's bytes are checked against the manifest first (rows re-hashed where it has no checksum).
    """
    chosen = snapshot.parts if parts is None else parts
    if not chosen:
        raise SnapshotError("no parts to load")
    for part in chosen:
        _checked(store, part, snapshot.id, parse=False)
    schema = pa.schema([(name, pa.type_for_alias(kind)) for name, kind in snapshot.schema])
    return pads.dataset([store.path(p.key) for p in chosen], schema=schema, format="parquet", filesystem=store.fs)


@dataclass(frozen=True)
class PartDamage:
    """One damaged part found by :func:`verify_snapshots`, and the snapshots that hold it."""

    part_id: str
    key: str
    uri: str
    problem: str
    source: str
    snapshots: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "part_id": self.part_id,
            "key": self.key,
            "uri": self.uri,
            "problem": self.problem,
            "source": self.source,
            "snapshots": list(self.snapshots),
        }


def verify_snapshots(store: ObjectStore, snapshots: list[Snapshot]) -> tuple[int, list[PartDamage]]:
    """Check every part of ``snapshots`` (each file once): present, readable, row count, rows hash to the id.

    Returns the number of distinct parts checked and the damaged ones (empty: all intact). This
    always re-hashes the rows, whatever the manifest's file checksum says.
    """
    holders: dict[str, list[str]] = {}
    parts: dict[str, Part] = {}
    for snapshot in snapshots:
        for part in snapshot.parts:
            parts.setdefault(part.id, part)
            holders.setdefault(part.id, []).append(snapshot.id)
    damaged = []
    for part_id, part in parts.items():
        data = _part_bytes(store, part.key) if store.exists(part.key) else None
        problem = part_problem(part, data) if data is not None else "the file is missing"
        if problem:
            damaged.append(
                PartDamage(part_id, part.key, store.uri(part.key), problem, part.source.name, tuple(holders[part_id]))
            )
        elif data is not None and part.file_sha256 and sha256_hex(data) != part.file_sha256:
            log.info(
                "part %s: bytes differ from the manifest's checksum but its rows hash to its id "
                "(rewritten by another Parquet writer); intact",
                part_id,
            )
    return len(parts), damaged


def manifest_problem(snapshot: Snapshot) -> str | None:
    """Whether a manifest's content still hashes to its id (None: it does)."""
    expected = _canonical_hash(snapshot.content())[:16]
    return None if expected == snapshot.id else f"its content hashes to {expected}, not to its id {snapshot.id}"


def new_parts_since(snapshot: Snapshot, reference: Snapshot | None) -> list[Part]:
    """Parts of ``snapshot`` that ``reference`` does not have: the data new since then."""
    if reference is None:
        return list(snapshot.parts)
    seen = {p.id for p in reference.parts}
    return [p for p in snapshot.parts if p.id not in seen]


# -- windows ------------------------------------------------------------------------------------------
def _parse_time(value: str) -> datetime:
    stamp = datetime.fromisoformat(value)
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def select_window(snapshot: Snapshot, window: WindowConfig) -> tuple[Part, ...]:
    """The parts of ``snapshot`` that a training window covers, in manifest order.

    ``all``: every part. ``last_parts``: the newest ``value`` parts. ``last_days``: parts ingested
    within ``value`` days before the snapshot was created. The anchor is the snapshot's own
    ``created_at``, not the clock, so the same snapshot and window always give the same parts.
    A part without an ingest time (written before they were recorded) counts as ingested when the
    snapshot was made. An empty result is a :class:`SnapshotError`.
    """
    parts = snapshot.parts
    if window.kind == "last_parts":
        chosen = parts[-int(window.value or 0) :]
    elif window.kind == "last_days":
        anchor = _parse_time(snapshot.created_at)
        since = anchor - timedelta(days=float(window.value or 0))
        chosen = tuple(p for p in parts if _parse_time(p.ingested_at or snapshot.created_at) >= since)
    else:
        chosen = parts
    if not chosen:
        raise SnapshotError(
            f"the training window {window.kind}={window.value} selects no part of snapshot "
            f"{snapshot.id} ({len(parts)} part(s), created {snapshot.created_at}); widen window.value "
            "or set window.kind: all"
        )
    return tuple(chosen)


def window_lineage(snapshot: Snapshot, window: WindowConfig) -> dict[str, Any]:
    """What a model's lineage records about its training window: the rule and what it selected."""
    parts = select_window(snapshot, window)
    return {
        "window": {"kind": window.kind, "value": window.value},
        "snapshot_parts": [p.id for p in parts],
        "window_rows": sum(p.rows for p in parts),
        "snapshot_rows": snapshot.rows,
    }


# -- diff ---------------------------------------------------------------------------------------------
@dataclass
class _NumericStats:
    """Mergeable moments of one numeric column (Chan et al.'s pairwise update for the variance)."""

    rows: int = 0
    nulls: int = 0
    n: int = 0
    mean: float = 0.0
    m2: float = 0.0
    min: float = math.inf
    max: float = -math.inf

    def merge(self, other: _NumericStats) -> None:
        self.rows += other.rows
        self.nulls += other.nulls
        if other.n:
            total = self.n + other.n
            delta = other.mean - self.mean
            self.mean += delta * other.n / total
            self.m2 += other.m2 + delta * delta * self.n * other.n / total
            self.n = total
            self.min, self.max = min(self.min, other.min), max(self.max, other.max)

    def summary(self) -> dict[str, float | None]:
        some = self.n > 0
        return {
            "mean": self.mean if some else None,
            "std": math.sqrt(self.m2 / (self.n - 1)) if self.n > 1 else None,
            "min": self.min if some else None,
            "max": self.max if some else None,
            "null_share": self.nulls / self.rows if self.rows else None,
        }


@dataclass
class _LevelStats:
    rows: int = 0
    nulls: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def merge(self, other: _LevelStats) -> None:
        self.rows += other.rows
        self.nulls += other.nulls
        for level, count in other.counts.items():
            self.counts[level] = self.counts.get(level, 0) + count

    def summary(self) -> dict[str, Any]:
        valid = self.rows - self.nulls
        return {
            "levels": {k: v / valid for k, v in sorted(self.counts.items())} if valid else {},
            "null_share": self.nulls / self.rows if self.rows else None,
        }


def _part_stats(store: ObjectStore, part: Part, numeric: list[str], categorical: list[str]) -> dict[str, Any]:
    """Per-column statistics of one part, read column by column (one part in memory at a time)."""
    table, _ = _checked(store, part, None)
    table = table.select([*numeric, *categorical])
    stats: dict[str, Any] = {}
    for name in numeric:
        col = table.column(name)
        s = _NumericStats(rows=len(col), nulls=col.null_count)
        valid = pc.drop_null(col)
        s.n = len(valid)
        if s.n:
            s.mean = pc.mean(valid).as_py()
            s.m2 = pc.variance(valid, ddof=0).as_py() * s.n
            bounds = pc.min_max(valid)
            s.min, s.max = bounds["min"].as_py(), bounds["max"].as_py()
        stats[name] = s
    for name in categorical:
        col = table.column(name)
        counts = pc.value_counts(pc.drop_null(col)).to_pylist()
        stats[name] = _LevelStats(
            rows=len(col), nulls=col.null_count, counts={c["values"]: c["counts"] for c in counts}
        )
    return stats


def _summaries(
    parts: tuple[Part, ...], per_part: dict[str, dict[str, Any]], numeric: list[str], categorical: list[str]
) -> dict[str, dict[str, Any]]:
    totals: dict[str, Any] = {n: _NumericStats() for n in numeric} | {c: _LevelStats() for c in categorical}
    for part in parts:
        for name, stats in per_part[part.id].items():
            totals[name].merge(stats)
    return {name: s.summary() for name, s in totals.items()}


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a


def diff_snapshots(store: ObjectStore, a: Snapshot, b: Snapshot, dataset: DatasetConfig) -> dict[str, Any]:
    """What changed from snapshot ``a`` to ``b``: parts, rows, schema and per-column summaries.

    Numeric columns: mean, std, min, max and null share; categorical columns and the label: the
    share of each level (among non-null values) and the null share. Identifier columns are not
    summarised. Each part is read once even when both snapshots hold it; only one part is in
    memory at a time.
    """
    ids_a, ids_b = {p.id for p in a.parts}, {p.id for p in b.parts}
    added = [p for p in b.parts if p.id not in ids_a]
    removed = [p for p in a.parts if p.id not in ids_b]
    schema_a, schema_b = dict(a.schema), dict(b.schema)
    schema = {
        "added": [{"column": c, "type": t} for c, t in schema_b.items() if c not in schema_a],
        "removed": [{"column": c, "type": t} for c, t in schema_a.items() if c not in schema_b],
        "changed": [
            {"column": c, "a": schema_a[c], "b": t} for c, t in schema_b.items() if c in schema_a and schema_a[c] != t
        ],
    }
    common = [c for c in schema_b if schema_a.get(c) == schema_b[c]]
    numeric = [
        c for c in common if schema_b[c] in {"double", "float", "int64", "int32"} and c not in dataset.id_columns
    ]
    labels = {dataset.label} if dataset.is_classification else set()  # a regression label is numeric
    categorical = [c for c in common if c in {*dataset.categorical_names, *labels}]
    per_part: dict[str, dict[str, Any]] = {}
    for part in {p.id: p for p in (*a.parts, *b.parts)}.values():
        per_part[part.id] = _part_stats(store, part, numeric, categorical)
    sum_a = _summaries(a.parts, per_part, numeric, categorical)
    sum_b = _summaries(b.parts, per_part, numeric, categorical)
    columns: dict[str, Any] = {}
    for name in numeric:
        change = {k: _delta(sum_a[name][k], sum_b[name][k]) for k in sum_a[name]}
        columns[name] = {"kind": "numeric", "a": sum_a[name], "b": sum_b[name], "change": change}
    for name in categorical:
        la, lb = sum_a[name]["levels"], sum_b[name]["levels"]
        change = {lvl: lb.get(lvl, 0.0) - la.get(lvl, 0.0) for lvl in sorted({*la, *lb})}
        change["null_share"] = _delta(sum_a[name]["null_share"], sum_b[name]["null_share"])
        columns[name] = {"kind": "categorical", "a": sum_a[name], "b": sum_b[name], "change": change}
    return {
        "a": a.id,
        "b": b.id,
        "rows": {"a": a.rows, "b": b.rows},
        "parts_added": [p.to_dict() for p in added],
        "parts_removed": [p.to_dict() for p in removed],
        "rows_added": sum(p.rows for p in added),
        "rows_removed": sum(p.rows for p in removed),
        "schema": schema,
        "columns": columns,
    }
