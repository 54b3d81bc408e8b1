"""Take files in from the landing area, against the declared schema.

A file is read only once it is complete (a ``_SUCCESS`` marker beside it, or a size and mtime that
have not changed for ``ingest.stable_seconds``). Structural problems (unreadable, empty, not UTF-8,
missing columns, mostly wrong types) reject the whole file; bad values reject single rows. Rejected
files and rows go to ``quarantine/`` with a machine-readable reason; nothing is deleted.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.config import DatasetConfig, IngestConfig
from pipeline.errors import IngestError
from pipeline.storage import atomic_write_bytes

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
MARKER_NAMES = {"_SUCCESS"}
ROW_REASON_COLUMN = "_ct_reject_reason"


@dataclass(frozen=True)
class LandingFile:
    """A complete file in the landing area, identified by its content checksum."""

    path: Path
    size: int
    sha256: str

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class ParsedFile:
    """The accepted rows of one landing file (typed as declared) and the rows it rejected."""

    source: LandingFile
    frame: pd.DataFrame = field(repr=False)
    rejected: pd.DataFrame = field(repr=False)
    dropped_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class QuarantinedFile:
    """Where a rejected file now lives and why it was rejected."""

    original_name: str
    path: Path
    reason_path: Path
    code: str
    message: str


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def find_ready_files(landing: Path, stable_seconds: float, now: float | None = None) -> list[LandingFile]:
    """Files in ``landing`` that are complete and may be read, oldest first.

    Hidden and temporary files are never picked up. A directory with a ``_SUCCESS`` marker is
    complete as a whole; other files must be unchanged for ``stable_seconds``.
    """
    if not landing.exists():
        return []
    now = time.time() if now is None else now
    ready: list[tuple[float, LandingFile]] = []
    for path in sorted(landing.rglob("*")):
        if not path.is_file() or path.name in MARKER_NAMES:
            continue
        if any(part.startswith((".", "_")) for part in path.relative_to(landing).parts):
            continue  # hidden files and in-progress folders such as Spark's _temporary/
        if path.suffix in {".tmp", ".part", ".crdownload"}:
            continue
        stat = path.stat()
        marked = (path.parent / "_SUCCESS").exists()
        if not marked and now - stat.st_mtime < stable_seconds:
            log.info("not yet complete, left for the next run: %s (modified %.1fs ago)", path, now - stat.st_mtime)
            continue
        ready.append((stat.st_mtime, LandingFile(path=path, size=stat.st_size, sha256=sha256_file(path))))
    return [f for _, f in sorted(ready, key=lambda item: (item[0], str(item[1].path)))]


def _read_raw(source: LandingFile, ingest: IngestConfig) -> pd.DataFrame:
    fmt = SUPPORTED_SUFFIXES.get(source.path.suffix.lower())
    if fmt is None:
        raise IngestError(
            f"{source.name}: unsupported file type {source.path.suffix!r}; expected one of "
            f"{sorted(SUPPORTED_SUFFIXES)}. Convert it to CSV or Parquet and drop it again.",
            code="unsupported_format",
        )
    if source.size == 0:
        raise IngestError(f"{source.name}: the file is empty (0 bytes); nothing to ingest.", code="empty_file")
    if fmt == "parquet":
        try:
            return pd.read_parquet(source.path)
        except Exception as err:  # pyarrow raises several unrelated types for a damaged file
            raise IngestError(f"{source.name}: not a readable Parquet file ({err}).", code="unparseable") from None
    raw = source.path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise IngestError(
            f"{source.name}: not UTF-8 text (byte {err.start}: {raw[err.start:err.start + 1]!r}); "
            "re-export the file as UTF-8.",
            code="not_utf8",
        ) from None
    try:
        return pd.read_csv(io.StringIO(text), sep=ingest.csv_delimiter, dtype=str, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError:
        raise IngestError(f"{source.name}: the file has no header and no rows.", code="empty_file") from None
    except pd.errors.ParserError as err:
        raise IngestError(f"{source.name}: could not be parsed as CSV ({err}).", code="unparseable") from None


def parse_landing_file(source: LandingFile, dataset: DatasetConfig, ingest: IngestConfig) -> ParsedFile:
    """Read one file and coerce it to the declared schema.

    Raises :class:`IngestError` (with a ``code``) when the whole file must be quarantined.
    """
    raw = _read_raw(source, ingest)
    raw.columns = [str(c).strip() for c in raw.columns]
    if raw.empty:
        raise IngestError(f"{source.name}: the file has a header but no rows.", code="empty_file")
    missing = [c for c in dataset.columns if c not in raw.columns]
    if missing:
        raise IngestError(
            f"{source.name}: missing declared column(s) {missing}; found {list(raw.columns)}. "
            "Fix the producer or update dataset.features in the config.",
            code="wrong_columns",
            details={"missing": missing, "found": list(raw.columns)},
        )
    dropped = tuple(c for c in raw.columns if c not in dataset.columns)
    if dropped:
        log.warning("%s: ignoring undeclared column(s) %s (the original file is archived)", source.name, list(dropped))

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
    share = float(bad_rows.mean())
    if share > ingest.max_bad_row_fraction:
        counts = reasons[bad_rows].value_counts().head(5).to_dict()
        raise IngestError(
            f"{source.name}: {int(bad_rows.sum())} of {len(raw)} rows ({share:.0%}) do not match the declared "
            f"types, more than ingest.max_bad_row_fraction={ingest.max_bad_row_fraction:.0%}; most common: {counts}. "
            "Check the producer or the declared schema.",
            code="wrong_types",
            details={"bad_rows": int(bad_rows.sum()), "rows": len(raw), "reasons": counts},
        )
    rejected = raw.loc[bad_rows].copy()
    rejected.insert(0, "_ct_source_row", rejected.index + 2 if SUPPORTED_SUFFIXES[source.path.suffix.lower()] == "csv" else rejected.index)
    rejected[ROW_REASON_COLUMN] = reasons[bad_rows]
    frame = out.loc[~bad_rows, dataset.columns].reset_index(drop=True)
    return ParsedFile(source=source, frame=frame, rejected=rejected.reset_index(drop=True), dropped_columns=dropped)


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
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


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
        "quarantined_at": datetime.now(timezone.utc).isoformat(),
    }
    atomic_write_bytes(reason_path, json.dumps(reason, indent=2, default=str).encode())
    shutil.move(str(source.path), target)
    log.warning("quarantined %s -> %s: %s", source.name, target, message)
    return QuarantinedFile(source.name, target, reason_path, code, message)


def quarantine_rows(parsed: ParsedFile, quarantine: Path) -> Path | None:
    """Write the rejected rows of an accepted file to ``quarantine/`` with a reason per row."""
    if parsed.rejected.empty:
        return None
    target = quarantine / f"{_stamp()}_{parsed.source.sha256[:8]}" / f"{parsed.source.path.stem}.rejected_rows.csv"
    atomic_write_bytes(target, parsed.rejected.to_csv(index=False).encode())
    log.warning("%s: %d row(s) rejected, kept in %s", parsed.source.name, len(parsed.rejected), target)
    return target


def archive_file(source: LandingFile, archive: Path) -> Path:
    """Move an accepted file out of the landing area into the checksum-addressed archive."""
    target = archive / source.sha256[:2] / source.sha256 / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        source.path.unlink()
    else:
        shutil.move(str(source.path), target)
    return target
