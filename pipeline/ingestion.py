"""Take files in from the landing area, against the declared schema, in bounded memory.

A file is read only once it is complete (a ``_SUCCESS`` marker beside it, or a size and mtime that
have not changed for ``ingest.stable_seconds``). It is streamed in chunks of ``ingest.chunk_rows``
rows (CSV through pandas' chunked reader, Parquet by record batches), so peak memory depends on
the chunk size, not the file size; each chunk's accepted rows become one part.

Structural problems reject the whole file: unsupported type, empty, not UTF-8 (checked by a
streaming decoder before parsing), unreadable header or missing columns — all decided before any
part is written — and, once the whole file has been read, a share of bad rows above
``ingest.max_bad_row_fraction``, or a parse error deep in the file. Parts already written for a
file rejected late are simply never referenced by a manifest (``ct snapshots gc`` removes them).
Bad values reject single rows. Rejected files and rows go to ``quarantine/`` with a
machine-readable reason; nothing is deleted.
"""

from __future__ import annotations

import codecs
import json
import logging
import os
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from pipeline.config import DatasetConfig, IngestConfig
from pipeline.errors import IngestError
from pipeline.landing import MARKER_NAMES, LandingFile, find_ready_files, sha256_file  # noqa: F401 (re-exported)
from pipeline.snapshots import Part, SourceFile, write_part
from pipeline.storage import ObjectStore, atomic_write_bytes

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
ROW_REASON_COLUMN = "_ct_reject_reason"
SOURCE_ROW_COLUMN = "_ct_source_row"
PENDING_DIR = ".pending"
_BLOCK = 1 << 20


@dataclass(frozen=True)
class CoercedChunk:
    """One chunk of a source coerced to the declared schema: accepted rows and rejected raw rows."""

    frame: pd.DataFrame = field(repr=False)
    rejected: pd.DataFrame = field(repr=False)
    rows: int
    dropped_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParsedFile:
    """The accepted rows of one landing file (typed as declared) and the rows it rejected."""

    source: LandingFile
    frame: pd.DataFrame = field(repr=False)
    rejected: pd.DataFrame = field(repr=False)
    dropped_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class TakenFile:
    """A landing file streamed into parts; its rejected rows wait in ``pending_rows`` until committed."""

    source: LandingFile
    parts: tuple[Part, ...]
    rows: int
    accepted_rows: int
    rejected_rows: int
    pending_rows: Path | None


@dataclass(frozen=True)
class QuarantinedFile:
    """Where a rejected file now lives and why it was rejected."""

    original_name: str
    path: Path
    reason_path: Path
    code: str
    message: str


# -- reading in chunks -----------------------------------------------------------------------------------
def _file_format(source: LandingFile) -> str:
    fmt = SUPPORTED_SUFFIXES.get(source.path.suffix.lower())
    if fmt is None:
        raise IngestError(
            f"{source.name}: unsupported file type {source.path.suffix!r}; expected one of "
            f"{sorted(SUPPORTED_SUFFIXES)}. Convert it to CSV or Parquet and drop it again.",
            code="unsupported_format",
        )
    return fmt


def check_utf8(path: Path, name: str) -> None:
    """Raise ``not_utf8`` unless the whole file is valid UTF-8, reading it block by block.

    Memory stays at one block however large the file; the error names the byte offset.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with open(path, "rb") as fh:
        while True:
            block = fh.read(_BLOCK)
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as err:
                # err.start is relative to the decoder's buffered tail plus this block
                pending = len(err.object) - len(block)
                at = offset - pending + err.start
                raise IngestError(
                    f"{name}: not UTF-8 text (byte {at}: {err.object[err.start:err.start + 1]!r}); "
                    "re-export the file as UTF-8.",
                    code="not_utf8",
                    details={"byte": at},
                ) from None
            if not block:
                return
            offset += len(block)


def _csv_chunks(source: LandingFile, ingest: IngestConfig) -> Iterator[pd.DataFrame]:
    check_utf8(source.path, source.name)
    def unparseable(err: Exception) -> IngestError:
        return IngestError(f"{source.name}: could not be parsed as CSV ({err}).".replace("\n", " ").strip(),
                           code="unparseable")

    try:
        reader = pd.read_csv(source.path, sep=ingest.csv_delimiter, dtype=str, keep_default_na=False,
                             na_values=[""], chunksize=ingest.chunk_rows, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise IngestError(f"{source.name}: the file has no header and no rows.", code="empty_file") from None
    except pd.errors.ParserError as err:  # the header itself cannot be tokenised
        raise unparseable(err) from None
    with reader:
        while True:
            try:
                chunk = next(reader)
            except StopIteration:
                return
            except pd.errors.EmptyDataError:
                raise IngestError(f"{source.name}: the file has no header and no rows.", code="empty_file") from None
            except pd.errors.ParserError as err:
                raise unparseable(err) from None
            chunk.index = chunk.index + 2  # the CSV line number: the header is line 1
            yield chunk


def _parquet_chunks(source: LandingFile, ingest: IngestConfig) -> Iterator[pd.DataFrame]:
    def unreadable(err: Exception) -> IngestError:
        return IngestError(f"{source.name}: not a readable Parquet file ({err}).", code="unparseable")

    try:
        reader = pq.ParquetFile(source.path)
    except Exception as err:  # pyarrow raises several unrelated types for a damaged file
        raise unreadable(err) from None
    with reader:
        if reader.metadata.num_rows == 0:
            yield pd.DataFrame(columns=reader.schema_arrow.names)
            return
        offset = 0
        batches = reader.iter_batches(batch_size=ingest.chunk_rows)
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except Exception as err:  # a damaged row group, again of several types
                raise unreadable(err) from None
            chunk = batch.to_pandas()
            chunk.index = pd.RangeIndex(offset, offset + len(chunk))  # the row position in the file
            offset += len(chunk)
            yield chunk


def iter_raw_chunks(source: LandingFile, ingest: IngestConfig) -> Iterator[pd.DataFrame]:
    """The file's rows as raw frames of at most ``ingest.chunk_rows`` rows, indexed by source row.

    Type, size, encoding and readability are checked before the first chunk is produced.
    """
    fmt = _file_format(source)
    if source.size == 0:
        raise IngestError(f"{source.name}: the file is empty (0 bytes); nothing to ingest.", code="empty_file")
    yield from (_parquet_chunks if fmt == "parquet" else _csv_chunks)(source, ingest)


# -- coercion to the declared schema ---------------------------------------------------------------------
def coerce_chunk(raw: pd.DataFrame, dataset: DatasetConfig, name: str) -> CoercedChunk:
    """Coerce raw rows to the declared schema; rows with bad values are set aside with a reason.

    The index of ``raw`` is taken as the source row number. Missing declared columns raise
    ``wrong_columns``; undeclared ones are dropped.
    """
    raw = raw.rename(columns=lambda c: str(c).strip())
    missing = [c for c in dataset.columns if c not in raw.columns]
    if missing:
        raise IngestError(
            f"{name}: missing declared column(s) {missing}; found {list(raw.columns)}. "
            "Fix the producer or update dataset.features in the config.",
            code="wrong_columns",
            details={"missing": missing, "found": list(raw.columns)},
        )
    dropped = tuple(c for c in raw.columns if c not in dataset.columns)
    reasons = pd.Series("", index=raw.index, dtype=object)

    def reject(mask: pd.Series | np.ndarray, reason: str) -> None:
        mask = pd.Series(mask, index=raw.index) & (reasons == "")
        reasons[mask] = reason

    out = pd.DataFrame(index=raw.index)
    for col in dataset.id_columns:
        values = raw[col].astype("string").str.strip()
        reject(values.isna() | (values == ""), f"{col}: missing identifier")
        out[col] = values
    for feat in dataset.features.numeric:
        original = raw[feat.name]
        values = pd.to_numeric(original, errors="coerce").astype("float64")
        bad = values.isna() & original.notna()
        reject(bad, f"{feat.name}: not a number")
        reject(values.notna() & ~np.isfinite(values.fillna(0.0)), f"{feat.name}: not a finite number")
        if not feat.nullable:
            reject(original.isna(), f"{feat.name}: missing value (declared not nullable)")
        out[feat.name] = values
    for feat in dataset.features.categorical:
        values = raw[feat.name].astype("string").str.strip()
        values = values.mask(values == "")
        if not feat.nullable:
            reject(values.isna(), f"{feat.name}: missing value (declared not nullable)")
        out[feat.name] = values
    label = raw[dataset.label].astype("string").str.strip()
    reject(label.isna() | (label == ""), f"{dataset.label}: missing label")
    reject(~label.isin(list(dataset.classes)) & label.notna() & (label != ""),
           f"{dataset.label}: not one of the classes {list(dataset.classes)}")
    out[dataset.label] = label

    bad_rows = reasons != ""
    rejected = raw.loc[bad_rows].copy()
    rejected.insert(0, SOURCE_ROW_COLUMN, rejected.index)
    rejected[ROW_REASON_COLUMN] = reasons[bad_rows]
    frame = out.loc[~bad_rows, dataset.columns].reset_index(drop=True)
    return CoercedChunk(frame=frame, rejected=rejected.reset_index(drop=True), rows=len(raw), dropped_columns=dropped)


@dataclass
class RowTally:
    """Rows read and rejected so far, with the commonest reasons, for the bad-row-share decision."""

    rows: int = 0
    bad: int = 0
    reasons: Counter = field(default_factory=Counter)

    def add(self, chunk: CoercedChunk) -> None:
        self.rows += chunk.rows
        self.bad += len(chunk.rejected)
        if len(chunk.rejected):
            self.reasons.update(chunk.rejected[ROW_REASON_COLUMN].value_counts().to_dict())

    def check(self, name: str, ingest: IngestConfig) -> None:
        """Raise ``wrong_types`` when the share of bad rows is above ``ingest.max_bad_row_fraction``."""
        share = self.bad / self.rows if self.rows else 0.0
        if share > ingest.max_bad_row_fraction:
            counts = dict(self.reasons.most_common(5))
            raise IngestError(
                f"{name}: {self.bad} of {self.rows} rows ({share:.0%}) do not match the declared types, more "
                f"than ingest.max_bad_row_fraction={ingest.max_bad_row_fraction:.0%}; most common: {counts}. "
                "Check the producer or the declared schema.",
                code="wrong_types",
                details={"bad_rows": self.bad, "rows": self.rows, "reasons": counts},
            )


def iter_parsed_chunks(source: LandingFile, dataset: DatasetConfig, ingest: IngestConfig) -> Iterator[CoercedChunk]:
    """Stream a landing file as coerced chunks; raises :class:`IngestError` when it must be quarantined.

    Every whole-file check that can be made up front (type, emptiness, encoding, header and
    columns) raises before the first chunk is yielded. The bad-row share is known only at the end:
    the final step of the iteration raises ``wrong_types`` when it is over the limit.
    """
    tally = RowTally()
    first = True
    for raw in iter_raw_chunks(source, ingest):
        if first and raw.empty:
            raise IngestError(f"{source.name}: the file has a header but no rows.", code="empty_file")
        chunk = coerce_chunk(raw, dataset, source.name)
        if first and chunk.dropped_columns:
            log.warning("%s: ignoring undeclared column(s) %s (the original file is archived)", source.name,
                        list(chunk.dropped_columns))
        first = False
        tally.add(chunk)
        yield chunk
    tally.check(source.name, ingest)


def parse_landing_file(source: LandingFile, dataset: DatasetConfig, ingest: IngestConfig) -> ParsedFile:
    """Read one whole file into memory and coerce it to the declared schema (for small files and tests).

    Raises :class:`IngestError` (with a ``code``) when the whole file must be quarantined. The
    ingest stage streams with :func:`take_in_file` instead.
    """
    chunks = list(iter_parsed_chunks(source, dataset, ingest))
    return ParsedFile(source=source, frame=pd.concat([c.frame for c in chunks], ignore_index=True),
                      rejected=pd.concat([c.rejected for c in chunks], ignore_index=True),
                      dropped_columns=chunks[0].dropped_columns)


# -- rejected rows waiting for their snapshot ------------------------------------------------------------
class RejectSpool:
    """Rejected rows appended chunk by chunk to a hidden local CSV until the snapshot is durable.

    Rows never pile up in memory; the file is fsynced on :meth:`close` and moved into quarantine
    by :func:`commit_rejected_rows` once the manifest exists.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        self._fh: IO[str] | None = None
        path.unlink(missing_ok=True)  # a spool left by a run that crashed before its manifest

    def write(self, rejected: pd.DataFrame) -> None:
        if rejected.empty:
            return
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "w", encoding="utf-8", newline="")  # open across chunks; closed in close()
        rejected.to_csv(self._fh, header=self.rows == 0, index=False)
        self.rows += len(rejected)

    def close(self) -> Path | None:
        """Make the spool durable; its path, or None when no row was rejected."""
        if self._fh is None:
            return None
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        self._fh = None
        return self.path

    def discard(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        self.path.unlink(missing_ok=True)


def pending_rows_path(quarantine: Path, key: str) -> Path:
    """Where rejected rows of source ``key`` wait for their snapshot (hidden inside ``quarantine/``)."""
    return quarantine / PENDING_DIR / f"{key}.rejected_rows.csv"


def commit_rejected_rows(pending: Path, quarantine: Path, tag: str, stem: str) -> Path:
    """Move a durable spool of rejected rows to ``quarantine/<time>_<tag>/<stem>.rejected_rows.csv``."""
    target = quarantine / f"{_stamp()}_{tag}" / f"{stem}.rejected_rows.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(pending, target)
    log.warning("%s: rejected rows kept in %s", stem, target)
    return target


def take_in_file(store: ObjectStore, source: LandingFile, dataset: DatasetConfig, ingest: IngestConfig,
                 quarantine: Path) -> TakenFile:
    """Stream one landing file into parts (one per chunk of accepted rows), spooling rejected rows.

    Raises :class:`IngestError` when the whole file must be quarantined; parts already written for
    it stay unreferenced and the spool is discarded. The caller commits the spool and archives the
    file only after a manifest referencing the parts is durable.
    """
    spool = RejectSpool(pending_rows_path(quarantine, source.sha256))
    ref = SourceFile(source.name, source.sha256, source.size)
    parts: list[Part] = []
    rows = accepted = 0
    try:
        for chunk in iter_parsed_chunks(source, dataset, ingest):
            if not chunk.frame.empty:
                parts.append(write_part(store, chunk.frame, dataset, ref))
            spool.write(chunk.rejected)
            rows += chunk.rows
            accepted += len(chunk.frame)
        pending = spool.close()
    except BaseException:
        spool.discard()
        raise
    log.info("%s: %d rows in %d part(s), %d rejected", source.name, rows, len(parts), spool.rows)
    return TakenFile(source=source, parts=tuple(parts), rows=rows, accepted_rows=accepted, rejected_rows=spool.rows,
                     pending_rows=pending)


# -- landing area housekeeping ---------------------------------------------------------------------------
def tidy_landing(landing: Path) -> None:
    """Remove ``_SUCCESS`` markers (and emptied folders) whose files have all been taken.

    A marker left behind would make the next file written into that folder count as complete
    while it is still being written.
    """
    if not landing.exists():
        return
    for marker in sorted(landing.rglob("_SUCCESS"), key=lambda p: len(p.parts), reverse=True):
        folder = marker.parent
        if any(p.is_file() and p != marker for p in folder.rglob("*")):
            continue
        marker.unlink()
        if folder != landing:
            shutil.rmtree(folder, ignore_errors=True)


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def quarantine_file(source: LandingFile, quarantine: Path, code: str, message: str, details: dict | None = None) -> QuarantinedFile:
    """Move a rejected file to ``quarantine/`` beside a ``.reason.json`` that says why."""
    target_dir = quarantine / f"{_stamp()}_{source.sha256[:8]}"
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / source.name
    reason_path = target_dir / f"{source.name}.reason.json"
    reason = {
        "file": source.name,
        "original_path": str(source.path),
        "sha256": source.sha256,
        "size": source.size,
        "code": code,
        "message": message,
        "details": details or {},
        "quarantined_at": datetime.now(UTC).isoformat(),
    }
    atomic_write_bytes(reason_path, json.dumps(reason, indent=2, default=str).encode())
    shutil.move(str(source.path), target)
    log.warning("quarantined %s -> %s: %s", source.name, target, message)
    return QuarantinedFile(source.name, target, reason_path, code, message)


def quarantine_rows(parsed: ParsedFile, quarantine: Path) -> Path | None:
    """Write the rejected rows of an accepted (in-memory) file to ``quarantine/`` with a reason per row."""
    if parsed.rejected.empty:
        return None
    target = quarantine / f"{_stamp()}_{parsed.source.sha256[:8]}" / f"{parsed.source.path.stem}.rejected_rows.csv"
    atomic_write_bytes(target, parsed.rejected.to_csv(index=False).encode())
    log.warning("%s: %d row(s) rejected, kept in %s", parsed.source.name, len(parsed.rejected), target)
    return target


def archive_path(source: LandingFile | SourceFile, archive: Path) -> Path:
    """Where an accepted file lives after ingest: ``archive/<sha[:2]>/<sha>/<name>``."""
    return archive / source.sha256[:2] / source.sha256 / source.name


def is_archived(sha256: str, archive: Path) -> bool:
    """Whether a file with this checksum was archived (under any name)."""
    folder = archive / sha256[:2] / sha256
    return folder.is_dir() and any(folder.iterdir())


def archive_file(source: LandingFile, archive: Path) -> Path:
    """Move an accepted file out of the landing area into the checksum-addressed archive."""
    target = archive_path(source, archive)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        source.path.unlink()
    else:
        shutil.move(str(source.path), target)
    return target
