"""Read the two monitoring inboxes: unlabelled batches (``scoring/``) and late labels (``labels/``).

Both follow the landing area's rules. A file counts once it is complete (a ``_SUCCESS`` marker in
its folder, or unchanged for ``ingest.stable_seconds``); it is read against the declared schema,
but only for the columns it must carry (an unlabelled batch: id and feature columns; a label file:
id columns and the label). Nothing that arrived is deleted: a file that cannot be used moves to
``quarantine/`` beside a ``.reason.json``, single bad rows go to ``<file>.rejected_rows.csv`` with
a reason each, and processed files are archived by checksum under ``archive/scoring/`` or
``archive/labels/``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from pipeline.core.config import DatasetConfig, IngestConfig
from pipeline.core.errors import ConfigError, IngestError
from pipeline.core.storage import atomic_write_bytes
from pipeline.data.ingestion import (
    ROW_REASON_COLUMN,
    SOURCE_ROW_COLUMN,
    LandingFile,
    coerce_chunk,
    coerce_ids,
    coerce_label,
    fit_name,
    iter_raw_chunks,
)

log = logging.getLogger(__name__)

KEY_SEPARATOR = "\x1f"
"""Joins multi-column ids into one matching key (a character no identifier holds)."""


@dataclass(frozen=True)
class ParsedInput:
    """The usable rows of one inbox file and the raw rows it rejected (each with its reason).

    ``frame`` carries the source row number in ``_ct_source_row`` so later steps (the label join)
    can name the row when they set one aside.
    """

    source: LandingFile
    frame: pd.DataFrame = field(repr=False)
    rejected: pd.DataFrame = field(repr=False)
    rows: int


def require_id_columns(dataset: DatasetConfig) -> None:
    """Batch scoring and the label join match rows by ``dataset.id_columns``; they must be declared."""
    if not dataset.id_columns:
        raise ConfigError(
            "dataset.id_columns is empty: predictions and late labels are matched by the row key. "
            "Declare the identifier column(s) in the config, e.g. id_columns: [customer_id]."
        )


def row_keys(frame: pd.DataFrame, id_columns: tuple[str, ...] | list[str]) -> pd.Series:
    """One string key per row from the id columns (already stripped strings)."""
    if len(id_columns) == 1:
        return frame[id_columns[0]].astype(str)
    return frame[list(id_columns)].astype(str).agg(KEY_SEPARATOR.join, axis=1)


def describe_key(key: str, id_columns: tuple[str, ...] | list[str]) -> str:
    """``customer_id=C0000001`` (or ``a=1, b=2``) for messages."""
    return ", ".join(f"{c}={v}" for c, v in zip(id_columns, key.split(KEY_SEPARATOR)))


def _read_raw(source: LandingFile, ingest: IngestConfig) -> pd.DataFrame:
    """The whole file as raw strings/numbers indexed by source row (CSV line or Parquet row)."""
    chunks = list(iter_raw_chunks(source, ingest))
    raw = pd.concat(chunks) if len(chunks) > 1 else chunks[0]
    if raw.empty:
        raise IngestError(f"{source.name}: the file has a header but no rows.", code="empty_file")
    return raw.rename(columns=lambda c: str(c).strip())


def _require_columns(raw: pd.DataFrame, needed: list[str], name: str, what: str) -> None:
    missing = [c for c in needed if c not in raw.columns]
    if missing:
        raise IngestError(
            f"{name}: missing column(s) {missing}; found {list(raw.columns)}. {what}",
            code="wrong_columns",
            details={"missing": missing, "found": list(raw.columns)},
        )


def _check_bad_share(name: str, bad: pd.Series, rows: int, ingest: IngestConfig) -> None:
    """Quarantine the whole file when too many rows do not match the declared types."""
    share = len(bad) / rows if rows else 0.0
    if share > ingest.max_bad_row_fraction:
        counts = bad.value_counts().head(5).to_dict()
        raise IngestError(
            f"{name}: {len(bad)} of {rows} rows ({share:.0%}) do not match the declared types, more than "
            f"ingest.max_bad_row_fraction={ingest.max_bad_row_fraction:.0%}; most common: {counts}. "
            "Check the producer or the declared schema.",
            code="wrong_types",
            details={"bad_rows": len(bad), "rows": rows, "reasons": counts},
        )


def _set_aside(raw: pd.DataFrame, reasons: pd.Series) -> pd.DataFrame:
    """Raw rows with a non-empty reason, as the quarantine CSV holds them."""
    mask = reasons != ""
    rejected = raw.loc[mask[mask].index].copy()
    rejected.insert(0, SOURCE_ROW_COLUMN, rejected.index)
    rejected[ROW_REASON_COLUMN] = reasons[mask]
    return rejected.reset_index(drop=True)


def _duplicate_reasons(keys: pd.Series, id_columns: tuple[str, ...], where: str) -> pd.Series:
    """A reason for every repeat of a key (indexed by source row); the first occurrence is kept."""
    first_row = pd.Series(keys.index, index=keys.index).groupby(keys.values).transform("first")  # type: ignore[arg-type]
    dup = keys.duplicated(keep="first")
    reasons: pd.Series = pd.Series("", index=keys.index, dtype=object)
    reasons[dup] = [
        f"{describe_key(k, id_columns)}: duplicate identifier in {where} (first at row {r}); only the first row is used"
        for k, r in zip(keys[dup], first_row[dup])
    ]
    return reasons


def _drop_repeated_ids(
    frame: pd.DataFrame, reasons: pd.Series, id_columns: tuple[str, ...], where: str, empty: str
) -> pd.DataFrame:
    """Set aside repeats of an id within the file (the first one counts, the others get a reason);
    refuse the whole file with the message ``empty`` when no row is left."""
    dup = _duplicate_reasons(row_keys(frame, id_columns), id_columns, where)
    reasons[dup[dup != ""].index] = dup[dup != ""]
    frame = frame.loc[dup == ""]
    if frame.empty:
        raise IngestError(empty, code="wrong_types", details={"reasons": reasons.value_counts().head(5).to_dict()})
    return frame


def _this_file_only(
    read: Callable[[LandingFile, DatasetConfig, IngestConfig], ParsedInput],
) -> Callable[[LandingFile, DatasetConfig, IngestConfig], ParsedInput]:
    """Whatever an inbox file holds, reading it may only reject that file (``unreadable``), never stop the run."""

    @functools.wraps(read)
    def guarded(source: LandingFile, dataset: DatasetConfig, ingest: IngestConfig) -> ParsedInput:
        try:
            return read(source, dataset, ingest)
        except (IngestError, ConfigError, FileNotFoundError, MemoryError):
            raise
        except Exception as err:
            raise IngestError(
                f"{source.name}: could not be read ({type(err).__name__}: {err}); the file is kept "
                "in quarantine. Check it with the producer and drop a corrected copy.",
                code="unreadable",
                details={"error": f"{type(err).__name__}: {err}"},
            ) from err

    return guarded


def label_placeholder(dataset: DatasetConfig) -> str:
    """A label every task accepts (a declared class, or a number), for rows that carry none."""
    return dataset.classes[0] if dataset.is_classification else "0"


@_this_file_only
def read_unlabelled(source: LandingFile, dataset: DatasetConfig, ingest: IngestConfig) -> ParsedInput:
    """An unlabelled batch coerced to the declared id and feature columns.

    Rows with bad values and repeated ids are set aside with a reason; the whole file is rejected
    (:class:`IngestError`) when it cannot be read, lacks a column or has too many bad rows. A label
    column, if present, is ignored: labelled data belongs in ``landing/``.
    """
    raw = _read_raw(source, ingest)
    _require_columns(
        raw,
        [*dataset.id_columns, *dataset.feature_names],
        source.name,
        "An unlabelled batch needs the id and feature columns (the label is not needed).",
    )
    if dataset.label in raw.columns:
        log.warning(
            "%s: label column %r ignored in an unlabelled batch (drop labelled data into landing/)",
            source.name,
            dataset.label,
        )
    # coerce_chunk applies the landing area's rules for ids and features; it also checks a label,
    # so every row gets a valid placeholder that is dropped again below.
    probe = raw.assign(**{dataset.label: label_placeholder(dataset)})
    chunk = coerce_chunk(probe, dataset, source.name, ingest.csv_decimal)
    bad = chunk.rejected[ROW_REASON_COLUMN]
    _check_bad_share(source.name, bad, len(raw), ingest)
    rejected_rows = set(chunk.rejected[SOURCE_ROW_COLUMN])
    frame = chunk.frame.drop(columns=[dataset.label])
    frame.index = pd.Index([i for i in raw.index if i not in rejected_rows])
    reasons: pd.Series = pd.Series("", index=raw.index, dtype=object)
    reasons[list(chunk.rejected[SOURCE_ROW_COLUMN])] = list(bad)
    frame = _drop_repeated_ids(
        frame,
        reasons,
        dataset.id_columns,
        "this batch",
        f"{source.name}: no usable row ({len(raw)} rows, all rejected); see the reasons in details.",
    )
    frame.insert(0, SOURCE_ROW_COLUMN, frame.index)
    return ParsedInput(
        source=source,
        frame=frame.reset_index(drop=True),
        rejected=_set_aside(raw.drop(columns=[c for c in [dataset.label] if c in raw.columns]), reasons),
        rows=len(raw),
    )


@_this_file_only
def read_labels(source: LandingFile, dataset: DatasetConfig, ingest: IngestConfig) -> ParsedInput:
    """A late-label file coerced to the id columns and the label.

    Rows with a missing id, a missing label or a label the task does not accept (outside
    ``dataset.classes``, or for regression not a finite number, read with ``ingest.csv_decimal``)
    are set aside with a reason, as are repeats of an id within the file (the first one counts).
    Other columns are ignored. A regression label stays float64; the other columns are objects.
    """
    raw = _read_raw(source, ingest)
    _require_columns(
        raw,
        [*dataset.id_columns, dataset.label],
        source.name,
        f"A label file needs the id column(s) {list(dataset.id_columns)} and the label {dataset.label!r}.",
    )
    reasons = pd.Series("", index=raw.index, dtype=object)

    def reject(mask: pd.Series, reason: str) -> None:
        reasons[mask & (reasons == "")] = reason

    out = pd.DataFrame(index=raw.index)
    coerce_ids(raw, dataset, reject, out)
    coerce_label(raw, dataset, reject, out, ingest.csv_decimal)
    _check_bad_share(source.name, reasons[reasons != ""], len(raw), ingest)
    frame = _drop_repeated_ids(
        out.loc[reasons == ""],
        reasons,
        dataset.id_columns,
        "this label file",
        f"{source.name}: no usable label row ({len(raw)} rows, all rejected).",
    )
    frame = frame.astype({c: object for c in frame.columns if dataset.is_classification or c != dataset.label})
    frame.insert(0, SOURCE_ROW_COLUMN, frame.index)
    return ParsedInput(
        source=source, frame=frame.reset_index(drop=True), rejected=_set_aside(raw, reasons), rows=len(raw)
    )


def write_rejected_rows(rejected: pd.DataFrame, quarantine: Path, source: LandingFile) -> Path | None:
    """Keep set-aside rows in ``quarantine/<time>_<sha8>/<stem>.rejected_rows.csv`` (reason per row)."""
    if rejected.empty:
        return None
    target = (
        quarantine
        / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}_{source.sha256[:8]}"
        / fit_name(source.path.stem, ".rejected_rows.csv")
    )
    atomic_write_bytes(target, rejected.to_csv(index=False).encode())
    log.warning("%s: %d row(s) set aside, kept in %s", source.name, len(rejected), target)
    return target
