"""Take files in from the landing area, against the declared schema, in bounded memory.

A file is read only once it is complete (a ``_SUCCESS`` marker beside it, or a size and mtime that
have not changed for ``ingest.stable_seconds``). It is streamed in chunks of ``ingest.chunk_rows``
rows (Parquet by record batches; CSV by Arrow's multithreaded reader as text, see
:mod:`pipeline.data.csv_reader`), so peak memory depends on the chunk size, not the file size; each
chunk's accepted rows become one part. A clean CSV chunk is coerced in Arrow
(:func:`coerce_text_chunk`); a chunk with a bad row, a Parquet chunk and every chunk after a row
Arrow might read differently go through pandas (:func:`coerce_chunk`), which gives each bad row its
reason. Both paths give the same rows, part ids and reasons (``tests/unit/test_ingest_arrow_path.py``).

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
import csv
import fcntl
import filecmp
import itertools
import json
import logging
import os
import re
import shutil
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import IO, Any, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.core.config import DatasetConfig, IngestConfig
from pipeline.core.errors import IngestError
from pipeline.core.hashing import sha256_hex
from pipeline.core.storage import ObjectStore, atomic_write_bytes, fsync_dir
from pipeline.data.csv_reader import IrregularCsv, TextChunk, read_text_chunks
from pipeline.data.ready_files import MARKER_NAMES, LandingFile, find_ready_files, scan_landing, sha256_file  # noqa: F401 (re-exported)
from pipeline.data.snapshots import Part, SourceFile, arrow_schema, write_part

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
ROW_REASON_COLUMN = "_ct_reject_reason"
SOURCE_ROW_COLUMN = "_ct_source_row"
PENDING_DIR = ".pending"
_BLOCK = 1 << 20
MAX_DERIVED_NAME_BYTES = 200
"""Longest name this module derives from a landing file's name (reason file, rejected rows).

File systems allow 255 bytes; the rest is room for the temporary names of atomic writes."""
_T = TypeVar("_T")
_PARQUET_BATCH_ROWS = 8192  # Parquet is decoded this many rows at a time, so a size limit trips early


@dataclass(frozen=True)
class CoercedChunk:
    """One chunk of a source coerced to the declared schema: accepted rows and rejected raw rows.

    ``accepted`` is a pandas frame (:func:`coerce_chunk`) or, from the Arrow path
    (:func:`coerce_text_chunk`), a table in the storage schema that goes to a part as it is;
    ``frame`` gives the accepted rows as a frame either way.
    """

    accepted: pd.DataFrame | pa.Table = field(repr=False)
    rejected: pd.DataFrame = field(repr=False)
    rows: int
    dropped_columns: tuple[str, ...] = ()

    @property
    def accepted_rows(self) -> int:
        return len(self.accepted) if isinstance(self.accepted, pd.DataFrame) else self.accepted.num_rows

    @cached_property
    def frame(self) -> pd.DataFrame:
        """The accepted rows as :func:`coerce_chunk` types them (text as ``string``, numbers as float64)."""
        if isinstance(self.accepted, pd.DataFrame):
            return self.accepted
        return self.accepted.to_pandas(types_mapper={pa.string(): pd.StringDtype()}.get)


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
    spool: RejectSpool | None = field(default=None, repr=False, compare=False)


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
                    f"{name}: not UTF-8 text (byte {at}: {err.object[err.start : err.start + 1]!r}); "
                    "re-export the file as UTF-8.",
                    code="not_utf8",
                    details={"byte": at},
                ) from None
            if not block:
                return
            offset += len(block)


def _too_large(name: str, what: str, size: int, limit: int, key: str, where: str = "") -> IngestError:
    return IngestError(
        f"{name}: {what}{where} is {size} bytes, more than ingest.{key}={limit}; the file is not read, so it "
        f"cannot exhaust memory. Split or fix the file at the producer, or raise ingest.{key} if such "
        "values are expected.",
        code="too_large",
        details={"limit": key, "bytes": size, "max": limit},
    )


@dataclass(frozen=True)
class CsvShape:
    """What the size pre-pass saw of a CSV file that Arrow's reader would read differently from pandas'."""

    open_quote: bool
    """An odd number of quote characters: the file may end inside a quoted field (cut short),
    which pandas refuses and Arrow takes."""
    lone_cr: bool
    """A carriage return not followed by a line feed (old Mac line ends, or mixed ones), where the
    two readers may split lines differently."""

    @property
    def arrow_safe(self) -> bool:
        return not (self.open_quote or self.lone_cr)


_LONE_CR = re.compile(rb"\r(?!\n)")


def check_csv_sizes(path: Path, name: str, ingest: IngestConfig) -> CsvShape:
    """Raise ``too_large`` when one field or one row of the CSV file is over its limit.

    Streams the file block by block (vectorised, quote-aware: a delimiter or line break inside
    double quotes does not end a field), so a 200 MB line costs one block of memory, not 1.6 GB
    of parser buffers. Returns what else it saw on the way (:class:`CsvShape`).
    """
    delim = ord(ingest.csv_delimiter[0]) if ingest.csv_delimiter else ord(",")
    quoted = 0  # 1 while inside a quoted field (an odd number of quote characters so far)
    lone_cr = after_cr = False  # a CR without LF seen; the previous block ended with a CR
    field_start = row_start = 0  # absolute offsets where the current field and row began
    row_no = 1
    offset = 0
    with open(path, "rb") as fh:
        while True:
            block = fh.read(_BLOCK)
            if not block:
                break
            if not lone_cr and (after_cr or b"\r" in block):
                body = block[:-1] if block.endswith(b"\r") else block  # a final CR pairs with the next block
                lone_cr = (after_cr and not block.startswith(b"\n")) or _LONE_CR.search(body) is not None
                after_cr = block.endswith(b"\r")
            arr = np.frombuffer(block, dtype=np.uint8)
            newline = arr == 10
            separator = newline | (arr == delim)
            if quoted or b'"' in block:  # quoted text: separators inside quotes do not count
                # the running parity of quote characters (a byte-wide XOR scan is ~10x faster than cumsum)
                parity = np.bitwise_xor.accumulate((arr == 34).view(np.uint8))
                if quoted:
                    parity ^= 1
                outside = parity == 0
                quoted = int(parity[-1])
                newline &= outside
                separator &= outside
            ends = np.flatnonzero(separator) + offset
            if len(ends):
                starts = np.concatenate(([field_start], ends[:-1] + 1))
                widest = int(np.argmax(ends - starts))
                if ends[widest] - starts[widest] > ingest.max_field_bytes:
                    line = row_no + int(np.count_nonzero(newline[: int(ends[widest] - offset)]))
                    raise _too_large(
                        name,
                        "a field",
                        int(ends[widest] - starts[widest]),
                        ingest.max_field_bytes,
                        "max_field_bytes",
                        f" on line {line}",
                    )
                field_start = int(ends[-1]) + 1
            rows = np.flatnonzero(newline) + offset
            if len(rows):
                starts = np.concatenate(([row_start], rows[:-1] + 1))
                widest = int(np.argmax(rows - starts))
                if rows[widest] - starts[widest] > ingest.max_row_bytes:
                    raise _too_large(
                        name,
                        "a row",
                        int(rows[widest] - starts[widest]),
                        ingest.max_row_bytes,
                        "max_row_bytes",
                        f" (line {row_no + widest})",
                    )
                row_start = int(rows[-1]) + 1
                row_no += len(rows)
            offset += len(block)
            # a field or row still open at the end of the block may already be too long
            if offset - field_start > ingest.max_field_bytes:
                raise _too_large(
                    name,
                    "a field",
                    offset - field_start,
                    ingest.max_field_bytes,
                    "max_field_bytes",
                    f" on line {row_no} (at least)",
                )
            if offset - row_start > ingest.max_row_bytes:
                raise _too_large(
                    name,
                    "a row",
                    offset - row_start,
                    ingest.max_row_bytes,
                    "max_row_bytes",
                    f" (line {row_no}, at least)",
                )
    return CsvShape(open_quote=bool(quoted), lone_cr=lone_cr or after_cr)


def duplicate_columns(names: list[str]) -> dict[str, list[str]]:
    """Columns whose names are equal once surrounding spaces are trimmed: ``{trimmed: [as written, ...]}``."""
    seen: dict[str, list[str]] = {}
    for raw in names:
        seen.setdefault(str(raw).strip(), []).append(str(raw))
    return {k: v for k, v in seen.items() if len(v) > 1}


def check_header(names: list[str], name: str) -> None:
    """Raise ``duplicate_columns`` when two columns have the same name (after trimming spaces).

    Which of the two is the real column cannot be known, so the file is rejected whole.
    """
    dups = duplicate_columns(names)
    if dups:
        listed = "; ".join(f"{k!r} written as {v}" for k, v in dups.items())
        raise IngestError(
            f"{name}: the header names a column more than once ({listed}); expected each column once. "
            "Fix the header at the producer and drop the file again.",
            code="duplicate_columns",
            details={"duplicates": dups},
        )


def _csv_header(path: Path, ingest: IngestConfig) -> list[str]:
    """The first row as written (pandas would rename a repeated ``a`` to ``a.1``); sizes are checked first."""
    with open(path, encoding="utf-8-sig", newline="") as fh:
        if len(ingest.csv_delimiter) != 1:  # the csv module takes one character; a longer one splits plainly
            return fh.readline().rstrip("\r\n").split(ingest.csv_delimiter)
        return next(csv.reader(fh, delimiter=ingest.csv_delimiter), [])


def _unparseable(source: LandingFile, err: Exception) -> IngestError:
    return IngestError(
        f"{source.name}: could not be parsed as CSV ({err}).".replace("\n", " ").strip(), code="unparseable"
    )


def _check_csv(source: LandingFile, ingest: IngestConfig) -> CsvShape:
    """The whole-file checks of a CSV file, made before any row is parsed: encoding, sizes, header."""
    check_utf8(source.path, source.name)
    shape = check_csv_sizes(source.path, source.name, ingest)
    try:
        check_header(_csv_header(source.path, ingest), source.name)
    except csv.Error as err:
        raise _unparseable(source, err) from None
    return shape


def _csv_chunks(
    source: LandingFile, ingest: IngestConfig, checked: bool = False, skip: int = 0
) -> Iterator[pd.DataFrame]:
    """The file as pandas reads it, chunk by chunk; ``skip`` chunks already taken by the Arrow reader are left out."""
    if not checked:
        _check_csv(source, ingest)
    try:
        reader = pd.read_csv(
            source.path,
            sep=ingest.csv_delimiter,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            chunksize=ingest.chunk_rows,
            encoding="utf-8-sig",
        )
    except pd.errors.EmptyDataError:
        raise IngestError(f"{source.name}: the file has no header and no rows.", code="empty_file") from None
    except pd.errors.ParserError as err:  # the header itself cannot be tokenised
        raise _unparseable(source, err) from None
    with reader:
        for n in itertools.count():
            try:
                chunk = next(reader)
            except StopIteration:
                return
            except pd.errors.EmptyDataError:
                raise IngestError(f"{source.name}: the file has no header and no rows.", code="empty_file") from None
            except pd.errors.ParserError as err:
                raise _unparseable(source, err) from None
            if n < skip:
                continue
            chunk.index = chunk.index + 2  # the CSV line number: the header is line 1
            yield chunk


def _pandas_names(source: LandingFile, ingest: IngestConfig) -> list[str] | None:
    """The header as pandas names its columns (``Unnamed: 2`` for an empty name); None when pandas cannot say."""
    try:
        header = pd.read_csv(source.path, sep=ingest.csv_delimiter, dtype=str, nrows=0, encoding="utf-8-sig")
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return None
    if isinstance(header.columns, pd.MultiIndex):
        return None
    return [str(c) for c in header.columns]


def _csv_text_chunks(source: LandingFile, ingest: IngestConfig) -> Iterator[TextChunk | pd.DataFrame]:
    """The file's rows by Arrow's reader (:class:`TextChunk`), or by pandas' from where Arrow may differ.

    The same whole-file checks come first. A file Arrow might read differently (a multi-character
    delimiter, an odd number of quote characters or a carriage return without a line feed, see
    :class:`CsvShape`) is read by pandas whole; one where Arrow meets a row with too few or too
    many fields, or any parse error, continues with pandas' reader from the first chunk not yet
    produced, so both readers cut the same chunks.
    """
    shape = _check_csv(source, ingest)
    names = _pandas_names(source, ingest) if len(ingest.csv_delimiter) == 1 and shape.arrow_safe else None
    done = 0
    if names:
        try:
            yield from read_text_chunks(source.path, names, ingest.csv_delimiter, ingest.chunk_rows)
            return
        except IrregularCsv as why:
            done = why.chunks
            log.info("%s: read with pandas from chunk %d on (%s)", source.name, done + 1, why)
    yield from _csv_chunks(source, ingest, checked=True, skip=done)


def _stat_width(stats: Any) -> int:
    """The longer of a byte-array column chunk's min and max values (0 when unknown)."""
    if stats is None or not getattr(stats, "has_min_max", False):
        return 0
    try:
        return max(len(v) if isinstance(v, (str, bytes)) else 0 for v in (stats.min, stats.max))
    except Exception:  # noqa: BLE001 - statistics of an exotic type: no estimate
        return 0


def check_parquet_sizes(metadata: pq.FileMetaData, name: str, ingest: IngestConfig) -> None:
    """Raise ``too_large`` from the footer alone, before any row is decoded.

    Each row group's decoded size is estimated as the larger of its uncompressed size and, for
    text columns, rows times the width of the column's min/max statistics (dictionary encoding
    stores a long value once, so the uncompressed size alone hides a file that expands 5000-fold).
    """
    for i in range(metadata.num_row_groups):
        group = metadata.row_group(i)
        rows = max(group.num_rows, 1)
        estimate = 0
        for j in range(group.num_columns):
            column = group.column(j)
            width = _stat_width(column.statistics) if column.physical_type == "BYTE_ARRAY" else 0
            if width > ingest.max_field_bytes:
                raise _too_large(
                    name,
                    f"a value of column {column.path_in_schema!r}",
                    width,
                    ingest.max_field_bytes,
                    "max_field_bytes",
                    f" (row group {i})",
                )
            estimate += max(int(column.total_uncompressed_size), width * int(column.num_values))
        per_row = estimate // rows
        if per_row > ingest.max_row_bytes:
            raise _too_large(
                name, "a decoded row", per_row, ingest.max_row_bytes, "max_row_bytes", f" on average in row group {i}"
            )
        chunk = per_row * min(rows, ingest.chunk_rows)
        if chunk > ingest.max_decoded_bytes:
            raise _too_large(
                name,
                f"one chunk of {min(rows, ingest.chunk_rows)} decoded rows",
                chunk,
                ingest.max_decoded_bytes,
                "max_decoded_bytes",
                f" (estimated, row group {i})",
            )


def _check_batch(batch: pa.RecordBatch, name: str, ingest: IngestConfig, first_row: int) -> None:
    """The limits again on rows actually decoded (the footer's statistics are optional)."""
    if batch.num_rows and batch.nbytes // batch.num_rows > ingest.max_row_bytes:
        raise _too_large(
            name,
            "a decoded row",
            batch.nbytes // batch.num_rows,
            ingest.max_row_bytes,
            "max_row_bytes",
            f" on average in rows {first_row}-{first_row + batch.num_rows - 1}",
        )
    for field_, column in zip(batch.schema, batch.columns):
        if pa.types.is_string(field_.type) or pa.types.is_binary(field_.type) or pa.types.is_large_string(field_.type):
            widest = pc.max(pc.binary_length(column)).as_py() or 0
            if widest > ingest.max_field_bytes:
                raise _too_large(
                    name,
                    f"a value of column {field_.name!r}",
                    widest,
                    ingest.max_field_bytes,
                    "max_field_bytes",
                    f" in rows {first_row}-{first_row + batch.num_rows - 1}",
                )


def _parquet_chunks(source: LandingFile, ingest: IngestConfig) -> Iterator[pd.DataFrame]:
    def unreadable(err: Exception) -> IngestError:
        return IngestError(f"{source.name}: not a readable Parquet file ({err}).", code="unparseable")

    try:
        reader = pq.ParquetFile(source.path)
    except Exception as err:  # noqa: BLE001 - pyarrow raises several unrelated types for a damaged file
        raise unreadable(err) from None
    with reader:
        check_header(list(reader.schema_arrow.names), source.name)
        check_parquet_sizes(reader.metadata, source.name, ingest)
        if reader.metadata.num_rows == 0:
            yield pd.DataFrame(columns=reader.schema_arrow.names)
            return
        offset = 0
        # Decoded a few thousand rows at a time, gathered into chunks of chunk_rows (the part size).
        batches = reader.iter_batches(batch_size=min(ingest.chunk_rows, _PARQUET_BATCH_ROWS))
        pending: list[pa.RecordBatch] = []
        held_rows = held_bytes = 0
        while True:
            try:
                batch = next(batches, None)
            except Exception as err:  # noqa: BLE001 - a damaged row group, again of several types
                raise unreadable(err) from None
            if batch is not None:
                _check_batch(batch, source.name, ingest, offset + held_rows)
                pending.append(batch)
                held_rows += batch.num_rows
                held_bytes += batch.nbytes
                if held_bytes > ingest.max_decoded_bytes:
                    raise _too_large(
                        source.name,
                        f"one chunk of {held_rows} decoded rows",
                        held_bytes,
                        ingest.max_decoded_bytes,
                        "max_decoded_bytes",
                    )
            while held_rows >= ingest.chunk_rows or (batch is None and held_rows):
                table = pa.Table.from_batches(pending)
                take = min(ingest.chunk_rows, held_rows)
                chunk = table.slice(0, take).to_pandas()
                rest = table.slice(take)
                pending = rest.to_batches() if rest.num_rows else []
                held_rows, held_bytes = rest.num_rows, rest.nbytes if rest.num_rows else 0
                chunk.index = pd.RangeIndex(offset, offset + len(chunk))  # the row position in the file
                offset += len(chunk)
                yield chunk
            if batch is None:
                return


def _guarded(source: LandingFile, chunks: Iterator[_T]) -> Iterator[_T]:
    """Whatever a file holds, reading it may only reject that file: an unexpected error becomes ``unreadable``.

    A file that vanished (taken by a concurrent run) is not the file's fault and propagates as is.
    """
    try:
        yield from chunks
    except (IngestError, FileNotFoundError, MemoryError):
        raise
    except Exception as err:
        raise IngestError(
            f"{source.name}: could not be read ({type(err).__name__}: {err}); the file is kept in "
            "quarantine. Check it with the producer and drop a corrected copy.",
            code="unreadable",
            details={"error": f"{type(err).__name__}: {err}"},
        ) from err


def iter_raw_chunks(source: LandingFile, ingest: IngestConfig) -> Iterator[pd.DataFrame]:
    """The file's rows as raw frames of at most ``ingest.chunk_rows`` rows, indexed by source row.

    Type, size, encoding, size limits, header and readability are checked before the first chunk
    is produced. Any error reading the file is an :class:`IngestError` about this file only.
    """
    fmt = _file_format(source)
    if source.size == 0:
        raise IngestError(f"{source.name}: the file is empty (0 bytes); nothing to ingest.", code="empty_file")
    yield from _guarded(source, (_parquet_chunks if fmt == "parquet" else _csv_chunks)(source, ingest))


def _iter_rows(source: LandingFile, ingest: IngestConfig) -> Iterator[TextChunk | pd.DataFrame]:
    """Like :func:`iter_raw_chunks`, but a CSV file comes as Arrow text chunks where it can (the fast path)."""
    fmt = _file_format(source)
    if source.size == 0:
        raise IngestError(f"{source.name}: the file is empty (0 bytes); nothing to ingest.", code="empty_file")
    yield from _guarded(source, (_parquet_chunks if fmt == "parquet" else _csv_text_chunks)(source, ingest))


# -- coercion to the declared schema ---------------------------------------------------------------------
def parse_datetimes(original: pd.Series, fmt: str | None = None) -> pd.Series:
    """Dates and timestamps as UTC ``datetime64[us, UTC]``; what cannot be parsed becomes NaT.

    Timestamp columns (Parquet, a database) are taken as they are, naive ones as UTC; text (CSV) is
    parsed as ISO 8601 or with the strptime ``fmt``, so one date gives one value from either format.
    """
    if pd.api.types.is_datetime64_any_dtype(original.dtype):
        values = original
        values = values.dt.tz_localize("UTC") if values.dt.tz is None else values.dt.tz_convert("UTC")
    else:
        text = original.astype("string").str.strip()
        text = text.mask(text == "")
        values = pd.to_datetime(text, format=fmt or "ISO8601", utc=True, errors="coerce")
    return values.astype("datetime64[us, UTC]")


Reject = Callable[[pd.Series, str], None]
"""Sets a reason on the rows of a mask that have none yet (the first reason a row gets is kept)."""


def coerce_ids(raw: pd.DataFrame, dataset: DatasetConfig, reject: Reject, out: pd.DataFrame) -> None:
    """The id columns as every input reads them: stripped strings; a missing id rejects its row."""
    for col in dataset.id_columns:
        values: pd.Series = raw[col].astype("string").str.strip()
        reject(values.isna() | (values == ""), f"{col}: missing identifier")
        out[col] = values


def missing_label_reason(dataset: DatasetConfig) -> str:
    """The reason a row without a label is set aside with (counted by the label contract)."""
    return f"{dataset.label}: missing label"


MAX_NAMED_LABEL_VALUES = 20
"""Distinct bad regression labels named in their rows' reasons; rarer ones share one reason."""


def coerce_label(
    raw: pd.DataFrame, dataset: DatasetConfig, reject: Reject, out: pd.DataFrame, decimal: str = "."
) -> None:
    """The label as every input reads it, by ``dataset.task``.

    Classification (binary or multiclass): a stripped string that must be one of
    ``dataset.classes``. Regression: a finite number (text with the CSV's ``decimal`` mark, as
    numeric features read it), stored as float64; a value that is not one is set aside with a
    reason naming the column, the value and what was expected.

    A row without a label is set aside (:func:`missing_label_reason`) whatever the task: nothing
    can be learnt or measured from it, and a NaN target would break every regressor. The label
    contract counts these rows from the quarantined rows file (:func:`pipeline.data.landed_store.count_set_aside`), so
    ``label_contract.max_missing_share`` still sees them.
    """
    if dataset.is_classification:
        label = raw[dataset.label].astype("string").str.strip()
        reject(label.isna() | (label == ""), missing_label_reason(dataset))
        reject(
            ~label.isin(list(dataset.classes)) & label.notna() & (label != ""),
            f"{dataset.label}: not one of the classes {list(dataset.classes)}",
        )
        out[dataset.label] = label
        return
    original = raw[dataset.label]
    if pd.api.types.is_numeric_dtype(original.dtype) and not pd.api.types.is_bool_dtype(original.dtype):
        values = original.astype("float64")
        missing = values.isna()
        shown = original
    else:
        text = original.astype("string").str.strip()
        missing = (text.isna() | (text == "")).fillna(True)
        if decimal != ".":
            text = text.str.replace(decimal, ".", regex=False)
        values = pd.to_numeric(text.mask(missing), errors="coerce").astype("float64")
        shown = original.astype("string").str.strip()
    reject(missing, missing_label_reason(dataset))
    expected = "a number" + (f" (decimal mark {decimal!r})" if decimal != "." else "")
    for what, bad in (
        ("is not a number", values.isna() & ~missing),
        ("is not a finite number", values.notna() & ~np.isfinite(values.fillna(0.0))),
    ):
        if not bad.any():
            continue
        texts = shown[bad].astype(str)  # only the bad rows are compared, once per named value
        for value in pd.unique(texts)[:MAX_NAMED_LABEL_VALUES]:
            rows = pd.Series(False, index=raw.index)
            rows[texts.index[texts == value]] = True
            reject(rows, f"{dataset.label}: {value[:40]!r} {what}; a regression label must be {expected}")
        # beyond the named ones: one shared reason, so the reason counts stay readable
        reject(bad, f"{dataset.label}: {what.removeprefix('is ')}; a regression label must be {expected}")
    out[dataset.label] = values


def _with_decimal_point(original: pd.Series, decimal: str) -> pd.Series:
    """Numbers written as text with the CSV's ``decimal`` mark, rewritten with a decimal point."""
    if decimal != "." and not pd.api.types.is_numeric_dtype(original.dtype):
        return original.astype("string").str.replace(decimal, ".", regex=False)
    return original


def coerce_chunk(raw: pd.DataFrame, dataset: DatasetConfig, name: str, decimal: str = ".") -> CoercedChunk:
    """Coerce raw rows to the declared schema; rows with bad values are set aside with a reason.

    The index of ``raw`` is taken as the source row number. Missing declared columns raise
    ``wrong_columns``; undeclared ones are dropped.  ``decimal`` is the CSV's decimal mark
    (``ingest.csv_decimal``): with ``","`` a text number ``1,5`` reads as 1.5.
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
    coerce_ids(raw, dataset, reject, out)
    for feat in dataset.features.numeric:
        original = _with_decimal_point(raw[feat.name], decimal)
        values: pd.Series = pd.to_numeric(original, errors="coerce").astype("float64")
        bad = values.isna() & original.notna()
        reject(bad, f"{feat.name}: not a number")
        reject(values.notna() & ~np.isfinite(values.fillna(0.0)), f"{feat.name}: not a finite number")
        if not feat.nullable:
            reject(original.isna(), f"{feat.name}: missing value (declared not nullable)")
        out[feat.name] = values
    for cat in dataset.features.categorical:
        values = raw[cat.name].astype("string").str.strip()
        values = values.mask(values == "")
        if not cat.nullable:
            reject(values.isna(), f"{cat.name}: missing value (declared not nullable)")
        out[cat.name] = values
    for dt in dataset.features.datetime:
        original = raw[dt.name]
        present = original.notna() & (original.astype("string").str.strip() != "").fillna(False)
        values = parse_datetimes(original, dt.format)
        expected = f"the format {dt.format!r}" if dt.format else "ISO 8601 (e.g. 2024-05-31 or 2024-05-31T13:45:00Z)"
        reject(present & values.isna(), f"{dt.name}: not a date or timestamp in {expected}")
        if not dt.nullable:
            reject(~present, f"{dt.name}: missing value (declared not nullable)")
        out[dt.name] = values
    coerce_label(raw, dataset, reject, out, decimal)

    bad_rows = reasons != ""
    rejected = raw.loc[bad_rows].copy()
    rejected.insert(0, SOURCE_ROW_COLUMN, rejected.index)
    rejected[ROW_REASON_COLUMN] = reasons[bad_rows]
    frame = out.loc[~bad_rows, dataset.columns].reset_index(drop=True)
    return CoercedChunk(
        accepted=frame, rejected=rejected.reset_index(drop=True), rows=len(raw), dropped_columns=dropped
    )


def text_chunk_frame(chunk: TextChunk) -> pd.DataFrame:
    """A text chunk as pandas' chunked CSV reader gives it: ``str`` columns, indexed by CSV line number."""
    frame = chunk.table.to_pandas()
    frame.index = pd.RangeIndex(chunk.first_row + 2, chunk.first_row + 2 + len(frame))
    return frame


def _stripped(text: pa.ChunkedArray) -> pa.ChunkedArray:
    # pandas' ``.str.strip()`` on Arrow-backed text is this very kernel, so both paths strip alike
    return pc.utf8_trim_whitespace(text)


def _has_blank(text: pa.ChunkedArray) -> bool:
    """Whether any value is missing or empty."""
    return bool(text.null_count) or bool(pc.any(pc.equal(text, "")).as_py())


def _text_numbers(text: pa.ChunkedArray, decimal: str, nullable: bool) -> pa.ChunkedArray | None:
    """Text read as float64 exactly as ``pd.to_numeric`` reads it, or None when some value is not plainly a number.

    Arrow's cast refuses what pandas would refuse and more (a padded number, ``1_000``), reads
    ``nan`` and ``inf`` (which pandas' path rejects) and otherwise parses every value to the same
    double. The one difference in value is ``-0``: pandas reads it as 0.0 in a column of whole
    numbers and as -0.0 otherwise, so a column holding a negative zero is read by pandas itself.
    """
    pointed = pc.replace_substring(text, pattern=decimal, replacement=".") if decimal != "." else text
    try:
        values = pc.cast(pointed, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if values.null_count and not nullable:
        return None
    array = values.to_numpy()  # nulls as NaN
    if len(array) - np.count_nonzero(np.isfinite(array)) != values.null_count:
        return None  # nan or inf written out: rejected rows
    if np.any(np.signbit(array) & (array == 0)):
        exact = pd.to_numeric(_with_decimal_point(text.to_pandas(), decimal), errors="coerce").astype("float64")
        return pa.chunked_array([pa.Array.from_pandas(exact, type=pa.float64())])
    return values


def coerce_text_chunk(raw: pa.Table, dataset: DatasetConfig, decimal: str = ".") -> pa.Table | None:
    """:func:`coerce_chunk` for a text chunk in which every row is accepted, in Arrow, without pandas.

    Returns the rows in the storage schema (:func:`~pipeline.data.snapshots.arrow_schema`) with
    exactly the values :func:`coerce_chunk` gives them, or None as soon as one row would be
    rejected or one value might be read differently (a padded number, ``nan``, a missing
    identifier, an unknown class, a declared column missing): the caller then coerces the chunk with
    :func:`coerce_chunk`, which gives every bad row its reason. Clean chunks, the common case,
    never pay for pandas' per-value work.
    """
    columns = {str(name).strip(): raw.column(i) for i, name in enumerate(raw.column_names)}
    if any(c not in columns for c in dataset.columns):
        return None
    out: dict[str, pa.ChunkedArray] = {}
    for col in dataset.id_columns:
        ids = _stripped(columns[col])
        if _has_blank(ids):
            return None
        out[col] = ids
    for feat in dataset.features.numeric:
        numbers = _text_numbers(columns[feat.name], decimal, feat.nullable)
        if numbers is None:
            return None
        out[feat.name] = numbers
    for cat in dataset.features.categorical:
        values = _stripped(columns[cat.name])
        values = pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)
        if values.null_count and not cat.nullable:
            return None
        out[cat.name] = values
    for dt in dataset.features.datetime:
        original = columns[dt.name].to_pandas()
        present = original.notna() & (original.astype("string").str.strip() != "").fillna(False)
        stamps = parse_datetimes(original, dt.format)
        if bool((present & stamps.isna()).any()) or (not dt.nullable and not bool(present.all())):
            return None
        out[dt.name] = pa.chunked_array([pa.Array.from_pandas(stamps, type=pa.timestamp("us", tz="UTC"))])
    label = _stripped(columns[dataset.label])
    if _has_blank(label):
        return None  # a missing label: set aside with its reason
    if dataset.is_classification:
        if not bool(pc.all(pc.is_in(label, value_set=pa.array(list(dataset.classes), pa.string()))).as_py()):
            return None
        out[dataset.label] = label
    else:
        numbers = _text_numbers(label, decimal, nullable=False)
        if numbers is None:
            return None
        out[dataset.label] = numbers
    schema = arrow_schema(dataset)
    return pa.Table.from_arrays([out[c] for c in schema.names], schema=schema)


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
    yield from _guarded(source, _parsed_chunks(source, dataset, ingest))


def _parsed_chunks(source: LandingFile, dataset: DatasetConfig, ingest: IngestConfig) -> Iterator[CoercedChunk]:
    tally = RowTally()
    first = True
    for raw in _iter_rows(source, ingest):
        if first and isinstance(raw, pd.DataFrame) and raw.empty:
            raise IngestError(f"{source.name}: the file has a header but no rows.", code="empty_file")
        chunk = _coerce(raw, dataset, source.name, ingest.csv_decimal)
        if first and chunk.dropped_columns:
            log.warning(
                "%s: ignoring undeclared column(s) %s (the original file is archived)",
                source.name,
                list(chunk.dropped_columns),
            )
        first = False
        tally.add(chunk)
        del raw  # one chunk in memory at a time: nothing of this one stays referenced while the next is read
        yield chunk
        del chunk
    tally.check(source.name, ingest)


def _coerce(raw: TextChunk | pd.DataFrame, dataset: DatasetConfig, name: str, decimal: str) -> CoercedChunk:
    """A text chunk through Arrow when every row is clean, else (and a pandas chunk always) :func:`coerce_chunk`."""
    if isinstance(raw, pd.DataFrame):
        return coerce_chunk(raw, dataset, name, decimal)
    table = coerce_text_chunk(raw.table, dataset, decimal)
    if table is None:
        return coerce_chunk(text_chunk_frame(raw), dataset, name, decimal)
    names = [str(c).strip() for c in raw.table.column_names]
    declared = set(dataset.columns)
    none = text_chunk_frame(TextChunk(raw.table.slice(0, 0), 0)).set_axis(names, axis=1)  # as coerce_chunk leaves it
    none.insert(0, SOURCE_ROW_COLUMN, none.index)
    none[ROW_REASON_COLUMN] = pd.Series(dtype=object)
    return CoercedChunk(
        accepted=table,
        rejected=none.reset_index(drop=True),
        rows=raw.table.num_rows,
        dropped_columns=tuple(n for n in names if n not in declared),
    )


def parse_landing_file(source: LandingFile, dataset: DatasetConfig, ingest: IngestConfig) -> ParsedFile:
    """Read one whole file into memory and coerce it to the declared schema (for small files and tests).

    Raises :class:`IngestError` (with a ``code``) when the whole file must be quarantined. The
    ingest stage streams with :func:`take_in_file` instead.
    """
    chunks = list(iter_parsed_chunks(source, dataset, ingest))
    return ParsedFile(
        source=source,
        frame=pd.concat([c.frame for c in chunks], ignore_index=True),
        rejected=pd.concat([c.rejected for c in chunks], ignore_index=True),
        dropped_columns=chunks[0].dropped_columns,
    )


# -- rejected rows waiting for their snapshot ------------------------------------------------------------
def _try_lock(fh: IO) -> bool:
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


class RejectSpool:
    """Rejected rows appended chunk by chunk to this run's own hidden CSV until the snapshot is durable.

    The spool is ``quarantine/.pending/<key>.<run>.writing`` while rows arrive and is renamed to
    ``<key>.<run>.rejected_rows.csv`` once complete and fsynced. The run holds an exclusive lock
    on it until it commits or discards it, so other runs can tell a spool in use from one left by
    a run that died: two runs never write, move or delete each other's rows. Rows never pile up
    in memory.
    """

    def __init__(self, quarantine: Path, key: str) -> None:
        self.quarantine, self.key = quarantine, key
        token = uuid.uuid4().hex[:12]
        folder = quarantine / PENDING_DIR
        self.path = folder / f"{key}.{token}.rejected_rows.csv"
        self._writing = folder / f"{key}.{token}.writing"
        self.rows = 0
        self._fh: IO[str] | None = None
        self._done = False

    def write(self, rejected: pd.DataFrame) -> None:
        if rejected.empty:
            return
        if self._fh is None:
            self._writing.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self._writing, "w", encoding="utf-8", newline="")  # noqa: SIM115 - open across chunks; see close()
            _try_lock(self._fh)  # a fresh, uniquely named file: nobody else can hold it
        rejected.to_csv(self._fh, header=self.rows == 0, index=False)
        self.rows += len(rejected)

    def close(self) -> Path | None:
        """Make the spool durable and complete; its path, or None when no row was rejected. The lock stays held."""
        if self._fh is None:
            return None
        if not self._done:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            os.replace(self._writing, self.path)
            self._done = True
        return self.path

    def commit(self, folder: str, stem: str) -> Path | None:
        """Move the rows into ``quarantine/<folder>/`` (see :func:`commit_rejected_rows`), then let go."""
        try:
            path = self.close()
            return commit_rejected_rows(path, self.quarantine, folder, stem) if path else None
        finally:
            self.release()

    def discard(self) -> None:
        """Delete the rows (their file was not taken in after all) and let go."""
        self._writing.unlink(missing_ok=True)
        self.path.unlink(missing_ok=True)
        self.release()

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def pending_rows_path(quarantine: Path, key: str) -> Path:
    """Where an older version of ``ct`` left rejected rows of source ``key`` waiting for their snapshot."""
    return quarantine / PENDING_DIR / f"{key}.rejected_rows.csv"


def spool_in_use(path: Path) -> bool:
    """Whether a live run holds this spool (a crashed run's lock went with its process)."""
    try:
        with open(path, "rb") as fh:
            return not _try_lock(fh)
    except FileNotFoundError:
        return False


def left_spools(quarantine: Path, key: str) -> list[Path]:
    """Complete spools of ``key`` that no live run holds: rows of a run that stopped after writing them."""
    folder = quarantine / PENDING_DIR
    if not folder.exists():
        return []
    found = sorted(folder.glob(f"{glob_escape(key)}.*.rejected_rows.csv")) + [
        p for p in [pending_rows_path(quarantine, key)] if p.exists()
    ]
    return [p for p in found if not spool_in_use(p)]


def glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def sweep_spools(quarantine: Path) -> int:
    """Delete half-written spools of runs that died while writing them (their rows are read again)."""
    folder = quarantine / PENDING_DIR
    swept = 0
    for path in sorted(folder.glob("*.writing")) if folder.exists() else []:
        if not spool_in_use(path):
            path.unlink(missing_ok=True)
            swept += 1
    return swept


def commit_left_spools(quarantine: Path, key: str, folder: str, stem: str) -> list[Path]:
    """Commit every complete spool of ``key`` that a stopped run left behind (each under its lock)."""
    done = []
    for path in left_spools(quarantine, key):
        try:
            fh = open(path, "rb")  # noqa: SIM115 - closed by the with below, once open succeeded
        except FileNotFoundError:
            continue
        with fh:
            if not _try_lock(fh):  # another run is committing it right now
                continue
            target = commit_rejected_rows(path, quarantine, folder, stem)
            if target is not None:
                done.append(target)
    return done


def fit_name(name: str, suffix: str = "", limit: int = MAX_DERIVED_NAME_BYTES) -> str:
    """``name + suffix``, shortened to ``limit`` bytes (UTF-8) with a hash of the full name when too long.

    Legal landing names go up to 255 bytes; names derived from them (``.reason.json`` and
    friends, plus temporary names of atomic writes) must still fit.
    """
    whole = name + suffix
    if len(whole.encode()) <= limit:
        return whole
    tag = "~" + sha256_hex(name)[:16]
    room = limit - len(suffix.encode()) - len(tag)
    head = name.encode()[: max(room, 1)].decode("utf-8", errors="ignore")
    return f"{head}{tag}{suffix}"


def rows_folder(sha256: str) -> str:
    """The quarantine folder of a landing file's rejected rows: one per content, so rows land once."""
    return f"rejected_{sha256[:16]}"


def commit_rejected_rows(pending: Path, quarantine: Path, folder: str, stem: str) -> Path | None:
    """Move a durable spool to ``quarantine/<folder>/<stem>.rejected_rows.csv``, never overwriting.

    A target holding the same rows already (a run that stopped between moving and cleaning up, or
    two runs finishing the same file) is kept and the spool dropped; different rows get a new
    name. None when the spool is gone (another run committed it).
    """
    target_dir = quarantine / folder
    target_dir.mkdir(parents=True, exist_ok=True)
    base = fit_name(stem, ".rejected_rows.csv")
    for n in range(1000):
        target = target_dir / (base if n == 0 else fit_name(f"{stem}.{n}", ".rejected_rows.csv"))
        try:
            os.link(pending, target)  # fails instead of overwriting
        except FileExistsError:
            try:
                if not filecmp.cmp(pending, target, shallow=False):
                    continue
            except FileNotFoundError:
                return None
        except FileNotFoundError:
            return None
        pending.unlink(missing_ok=True)
        fsync_dir(target_dir)
        log.warning("%s: rejected rows kept in %s", stem, target)
        return target
    raise IngestError(
        f"{stem}: 1000 different sets of rejected rows already in {target_dir}; clean it up", code="quarantine_full"
    )


def take_in_file(
    store: ObjectStore, source: LandingFile, dataset: DatasetConfig, ingest: IngestConfig, quarantine: Path
) -> TakenFile:
    """Stream one landing file into parts (one per chunk of accepted rows), spooling rejected rows.

    Raises :class:`IngestError` when the whole file must be quarantined; parts already written for
    it stay unreferenced and the spool is discarded. The caller commits the spool and archives the
    file only after a manifest referencing the parts is durable.
    """
    spool = RejectSpool(quarantine, source.sha256)
    ref = SourceFile(source.name, source.sha256, source.size)
    parts: list[Part] = []
    rows = accepted = 0
    try:
        for chunk in iter_parsed_chunks(source, dataset, ingest):
            if chunk.accepted_rows:
                parts.append(write_part(store, chunk.accepted, dataset, ref))
            spool.write(chunk.rejected)
            rows += chunk.rows
            accepted += chunk.accepted_rows
            del chunk  # not held while the next chunk is read
        pending = spool.close()
    except BaseException:
        spool.discard()
        raise
    log.info("%s: %d rows in %d part(s), %d rejected", source.name, rows, len(parts), spool.rows)
    return TakenFile(
        source=source,
        parts=tuple(parts),
        rows=rows,
        accepted_rows=accepted,
        rejected_rows=spool.rows,
        pending_rows=pending,
        spool=spool if pending else None,
    )


def quarantine_links(folder: Path, quarantine: Path) -> list[QuarantinedFile]:
    """Move every symbolic link below ``folder`` to quarantine (code ``symlink``), its target unread.

    A link may point anywhere (another user's files, /etc); following it would ingest data from
    outside the data directory and archive only the link. The link itself is kept.
    """
    done = []
    for link in scan_landing(folder, 0).links:
        try:
            target = os.readlink(link)
        except OSError:
            continue  # gone meanwhile
        source = LandingFile(path=link, size=0, sha256=sha256_hex(f"symlink:{link}->{target}"))
        message = (
            f"{link.name}: a symbolic link (to {target}); links are never followed, so its target was not "
            "read. Copy the file itself into the folder if it should be taken in."
        )
        q = quarantine_file(source, quarantine, "symlink", message, {"target": target})
        if q is not None:
            done.append(q)
    return done


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


def _move(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst`` (atomic on one file system; the link itself for a symlink)."""
    try:
        os.rename(src, dst)
    except OSError as err:
        if err.errno != 18:  # EXDEV: another file system, copy then delete
            raise
        shutil.move(str(src), dst)


def quarantine_file(
    source: LandingFile, quarantine: Path, code: str, message: str, details: dict | None = None
) -> QuarantinedFile | None:
    """Move a rejected file to ``quarantine/`` beside a ``.reason.json`` that says why.

    The file moves first and the reason is written last (atomically), so a kill in between
    leaves the file in quarantine, never a reason with nothing beside it. None when the file
    was gone (a concurrent run moved it): that run accounts for it.
    """
    target_dir = quarantine / f"{_stamp()}_{source.sha256[:8]}"
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / source.name
    if target.exists() or target.is_symlink():
        target = target_dir / fit_name(f"{uuid.uuid4().hex[:8]}_{source.name}", limit=255)
    reason_path = target_dir / fit_name(target.name, ".reason.json")
    try:
        _move(source.path, target)
    except FileNotFoundError:
        log.info(
            "%s: gone from %s before it could be quarantined (another run took it)", source.name, source.path.parent
        )
        return None
    reason = {
        "file": source.name,
        "original_path": str(source.path),
        "quarantined_as": target.name,
        "sha256": source.sha256,
        "size": source.size,
        "code": code,
        "message": message,
        "details": details or {},
        "quarantined_at": datetime.now(UTC).isoformat(),
    }
    atomic_write_bytes(reason_path, json.dumps(reason, indent=2, default=str).encode())
    log.warning("quarantined %s -> %s: %s", source.name, target, message)
    return QuarantinedFile(source.name, target, reason_path, code, message)


def quarantine_rows(parsed: ParsedFile, quarantine: Path) -> Path | None:
    """Write the rejected rows of an accepted (in-memory) file to ``quarantine/`` with a reason per row."""
    if parsed.rejected.empty:
        return None
    target = (
        quarantine / f"{_stamp()}_{parsed.source.sha256[:8]}" / fit_name(parsed.source.path.stem, ".rejected_rows.csv")
    )
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
    """Move an accepted file out of the landing area into the checksum-addressed archive.

    A file already moved by a concurrent run that finished the same snapshot is left to it.
    """
    target = archive_path(source, archive)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        if target.exists():
            source.path.unlink()
        else:
            _move(source.path, target)
    except FileNotFoundError:
        if target.exists():
            log.info("%s: already archived by another run", source.name)
        else:
            log.warning(
                "%s: gone from %s before it could be archived; a concurrent run moved it",
                source.name,
                source.path.parent,
            )
    return target
