"""A PostgreSQL table read incrementally by a watermark column, in chunks, into parts.

Each run reads the rows whose watermark is above the last one taken and at most the maximum
seen when the run starts (``lo < wm <= hi``, ordered by the watermark) through a server-side
cursor (SQLAlchemy Core, ``stream_results`` + ``yield_per``), so memory is bounded by
``chunk_rows``. Rows are coerced against the declared schema exactly like file rows; bad ones go
to quarantine with a reason per row. Each chunk's accepted rows become one part whose source is
``<name>:<table>`` with the chunk's highest watermark.

The watermark is stored (``sources/<name>/watermark.json`` in the object store) only after the
manifest that references the parts is durable. If a run stops between the two, the next run
takes the higher of the stored watermark and the one recorded on the latest snapshot's parts,
so rows are never taken twice nor skipped.

The watermark column must only grow for new rows (a sequence id, or an ingestion timestamp set
at commit); rows with a NULL watermark are never read.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.exc import NoSuchTableError

from pipeline.core.config import DatasetConfig, IngestConfig, TableSourceConfig
from pipeline.core.errors import ConfigError, IngestError
from pipeline.core.hashing import sha256_hex
from pipeline.core.storage import ObjectStore
from pipeline.data.ingestion import (
    PENDING_DIR,
    RejectSpool,
    coerce_chunk,
    commit_rejected_rows,
    spool_in_use,
)
from pipeline.data.snapshots import Part, Snapshot, SourceFile, utc_now, write_part

log = logging.getLogger(__name__)


# -- watermark values ---------------------------------------------------------------------------------
def encode_watermark(value: Any) -> str:
    """A watermark value as ``<type>:<text>``, exact and comparable again after :func:`decode_watermark`."""
    if isinstance(value, bool):
        raise IngestError(
            f"a boolean watermark ({value!r}) cannot order rows; use a sequence id or a timestamp", code="bad_watermark"
        )
    for kind, types in (
        ("int", int),
        ("decimal", Decimal),
        ("float", float),
        ("datetime", datetime),
        ("date", date),
        ("str", str),
    ):
        if isinstance(value, types):
            text = (
                value.isoformat()
                if isinstance(value, (datetime, date))
                else repr(value)
                if kind == "float"
                else str(value)
            )
            return f"{kind}:{text}"
    raise IngestError(
        f"watermark values of type {type(value).__name__} are not supported; use an integer, "
        "numeric, timestamp, date or text column",
        code="bad_watermark",
    )


def decode_watermark(text: str) -> Any:
    """The typed value of an encoded watermark."""
    kind, _, raw = text.partition(":")
    decoders: dict[str, Callable[[str], Any]] = {
        "int": int,
        "decimal": Decimal,
        "float": float,
        "datetime": datetime.fromisoformat,
        "date": date.fromisoformat,
        "str": str,
    }
    if kind not in decoders:
        raise ConfigError(f"stored watermark {text!r} has an unknown type {kind!r}; expected one of {sorted(decoders)}")
    return decoders[kind](raw)


def watermark_key(source_name: str) -> str:
    return f"sources/{source_name}/watermark.json"


def source_label(cfg: TableSourceConfig) -> str:
    """The source name recorded on a table's parts (and matched by lineage queries)."""
    return f"{cfg.name}:{cfg.table}"


def _stored_watermark(store: ObjectStore, cfg: TableSourceConfig) -> str | None:
    key = watermark_key(cfg.name)
    if not store.exists(key):
        return None
    state = json.loads(store.get(key))
    if (state.get("table"), state.get("column")) != (cfg.table, cfg.watermark_column):
        raise ConfigError(
            f"source {cfg.name!r}: the stored watermark at {store.uri(key)} is for table {state.get('table')!r}, "
            f"column {state.get('column')!r}, but the config says table {cfg.table!r}, column "
            f"{cfg.watermark_column!r}. Give the new table a new source name, or delete that file to read the "
            "table from the start."
        )
    return state["value"]


def _recorded_watermark(parent: Snapshot | None, cfg: TableSourceConfig) -> str | None:
    label = source_label(cfg)
    marks = [
        p.source.watermark for p in (parent.parts if parent else ()) if p.source.name == label and p.source.watermark
    ]
    return max(marks, key=decode_watermark) if marks else None


def current_watermark(store: ObjectStore, cfg: TableSourceConfig, parent: Snapshot | None) -> str | None:
    """The watermark to read above: the stored one, or the latest snapshot's when that is higher."""
    stored, recorded = _stored_watermark(store, cfg), _recorded_watermark(parent, cfg)
    if recorded is not None and (stored is None or decode_watermark(recorded) > decode_watermark(stored)):
        log.warning(
            "source %s: the stored watermark %s is behind snapshot %s (a run stopped after its manifest); "
            "continuing from %s",
            cfg.name,
            stored,
            parent.id if parent else "?",
            recorded,
        )
        return recorded
    return stored


# -- reading ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TableRead:
    """What one run took from a table source: parts, counts and the watermark range ``(low, high]``."""

    source: str
    parts: tuple[Part, ...]
    rows: int
    accepted_rows: int
    rejected_rows: int
    low: str | None
    high: str | None
    pending_rows: Path | None
    spool: RejectSpool | None = field(default=None, repr=False, compare=False)

    def discard(self) -> None:
        """Forget this read (its manifest lost a race): its rejected rows are read again next time."""
        if self.spool is not None:
            self.spool.discard()

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "rows": self.rows,
            "accepted_rows": self.accepted_rows,
            "rejected_rows": self.rejected_rows,
            "parts": len(self.parts),
            "watermark_from": self.low,
            "watermark_to": self.high,
        }


def _engine(cfg: TableSourceConfig, env: Mapping[str, str] | None) -> sa.Engine:
    url = (os.environ if env is None else env).get(cfg.url_env)
    if not url:
        raise ConfigError(
            f"source {cfg.name!r}: environment variable {cfg.url_env} is not set; export it with the "
            "database URL (postgresql+psycopg2://user@host/db) or remove the source from sources.tables"
        )
    return sa.create_engine(url)


def _table(conn: sa.Connection, cfg: TableSourceConfig) -> sa.Table:
    schema, _, name = cfg.table.rpartition(".")
    try:
        table = sa.Table(name, sa.MetaData(), schema=schema or None, autoload_with=conn)
    except NoSuchTableError:
        raise ConfigError(
            f"source {cfg.name!r}: table {cfg.table!r} does not exist in the database named by "
            f"${cfg.url_env}; fix sources.tables or create the table"
        ) from None
    if cfg.watermark_column not in table.c:
        raise ConfigError(
            f"source {cfg.name!r}: table {cfg.table!r} has no column {cfg.watermark_column!r} "
            f"(watermark_column); its columns are {list(table.c.keys())}"
        )
    return table


def _range(table: sa.Table, cfg: TableSourceConfig, low: str | None) -> list[Any]:
    wm = table.c[cfg.watermark_column]
    return [wm > decode_watermark(low)] if low is not None else [wm.is_not(None)]


def has_new_rows(
    store: ObjectStore, cfg: TableSourceConfig, parent: Snapshot | None, env: Mapping[str, str] | None = None
) -> bool:
    """Whether the table holds rows above the current watermark (a cheap ``LIMIT 1`` probe)."""
    engine = _engine(cfg, env)
    try:
        with engine.connect() as conn:
            table = _table(conn, cfg)
            low = current_watermark(store, cfg, parent)
            return (
                conn.execute(
                    sa.select(sa.literal(1)).select_from(table).where(*_range(table, cfg, low)).limit(1)
                ).first()
                is not None
            )
    finally:
        engine.dispose()


def _spool_key(cfg: TableSourceConfig, low: str | None) -> str:
    return f"source={cfg.name}={_low_hash(low)}"


def _low_hash(low: str | None) -> str:
    return sha256_hex(low or "")[:16]


def rows_folder(cfg: TableSourceConfig, low_hash: str) -> str:
    """Quarantine folder of the rows one read (from one watermark) rejected: one per read, never reused."""
    return f"{low_hash}_source-{cfg.name}"


def _commit_stale_spools(cfg: TableSourceConfig, quarantine: Path, current_key: str) -> None:
    """Settle rejected rows that a stopped run left: commit those of an earlier read, drop those read again.

    A spool from the same watermark as this read belongs to a read whose manifest never became
    the latest (this read takes the same rows again); one from another watermark belongs to a read
    whose manifest is durable (the watermark moved past it). Spools held by a live run are left alone.
    """
    prefix = f"source={cfg.name}="
    for stale in sorted((quarantine / PENDING_DIR).glob(f"{prefix}*.rejected_rows.csv")):
        low_hash = stale.name[len(prefix) : len(prefix) + 16]
        if spool_in_use(stale):
            continue
        if f"{prefix}{low_hash}" == current_key:
            stale.unlink(missing_ok=True)
        else:
            commit_rejected_rows(stale, quarantine, rows_folder(cfg, low_hash), cfg.name)


def read_table_source(
    store: ObjectStore,
    cfg: TableSourceConfig,
    dataset: DatasetConfig,
    ingest: IngestConfig,
    parent: Snapshot | None,
    quarantine: Path,
    env: Mapping[str, str] | None = None,
) -> TableRead:
    """Read the rows new since the watermark into parts, chunk by chunk; spool the rejected rows.

    Nothing is committed here: the caller makes a manifest of the parts, then calls
    :func:`commit_table_read`.
    """
    label = source_label(cfg)
    low = current_watermark(store, cfg, parent)
    _commit_stale_spools(cfg, quarantine, _spool_key(cfg, low))
    engine = _engine(cfg, env)
    spool = RejectSpool(quarantine, _spool_key(cfg, low))
    parts: list[Part] = []
    rows = accepted = 0
    try:
        with engine.connect() as conn:
            table = _table(conn, cfg)
            missing = [c for c in dataset.columns if c not in table.c]
            if missing:
                raise IngestError(
                    f"source {cfg.name!r}: table {cfg.table!r} lacks declared column(s) {missing}; "
                    f"it has {list(table.c.keys())}",
                    code="wrong_columns",
                    details={"missing": missing},
                )
            wm = table.c[cfg.watermark_column]
            bounds = _range(table, cfg, low)
            high_value = conn.execute(sa.select(sa.func.max(wm)).where(*bounds)).scalar()
            if high_value is None:
                log.info("source %s: no rows above watermark %s", cfg.name, low)
                spool.discard()
                return TableRead(label, (), 0, 0, 0, low, low, None)
            high = encode_watermark(high_value)
            columns = [table.c[c] for c in dataset.columns] + ([wm] if wm.name not in dataset.columns else [])
            stmt = sa.select(*columns).where(*bounds, wm <= high_value).order_by(wm)
            result = conn.execution_options(stream_results=True, yield_per=cfg.chunk_rows).execute(stmt)
            keys = list(result.keys())
            for batch in result.partitions():
                raw = pd.DataFrame.from_records(batch, columns=keys)
                raw.index = pd.RangeIndex(rows, rows + len(raw))  # position within this read
                chunk = coerce_chunk(raw, dataset, f"{label} rows {rows}-{rows + len(raw) - 1}")
                if not chunk.frame.empty:
                    mark = encode_watermark(batch[-1][keys.index(wm.name)])
                    part = write_part(store, chunk.frame, dataset, SourceFile(label, "", 0, mark))
                    parts.append(replace(part, source=replace(part.source, sha256=part.id)))
                spool.write(chunk.rejected)
                rows += chunk.rows
                accepted += len(chunk.frame)
        if parts:  # the read's upper bound, even when its last rows were all rejected
            parts[-1] = replace(parts[-1], source=replace(parts[-1].source, watermark=high))
        pending = spool.close()
    except BaseException:
        spool.discard()
        raise
    finally:
        engine.dispose()
    log.info(
        "source %s: %d rows in (%s, %s] -> %d part(s), %d rejected", cfg.name, rows, low, high, len(parts), spool.rows
    )
    return TableRead(label, tuple(parts), rows, accepted, spool.rows, low, high, pending, spool if pending else None)


def commit_table_read(
    store: ObjectStore, cfg: TableSourceConfig, read: TableRead, snapshot_id: str | None, quarantine: Path
) -> Path | None:
    """After the manifest is durable: move rejected rows to quarantine, then store the new watermark."""
    folder = rows_folder(cfg, _low_hash(read.low))
    if read.spool is not None:
        rows_path = read.spool.commit(folder, cfg.name)
    else:
        rows_path = commit_rejected_rows(read.pending_rows, quarantine, folder, cfg.name) if read.pending_rows else None
    if read.high is not None and read.high != read.low:
        state = {
            "source": cfg.name,
            "table": cfg.table,
            "column": cfg.watermark_column,
            "value": read.high,
            "previous": read.low,
            "rows": read.rows,
            "snapshot_id": snapshot_id,
            "updated_at": utc_now(),
        }
        store.replace(watermark_key(cfg.name), json.dumps(state, indent=2).encode())
    return rows_path
