"""Served predictions become scored batches: the prediction log of ``ct serve`` read back for the label join.

Each log file of the configured model (see :mod:`pipeline.monitoring.served_log`) is taken once and
written in the layout of :mod:`pipeline.monitoring.batch_scoring`, so
:func:`pipeline.monitoring.label_join.join_pending_labels` matches late labels to logged predictions
as it does to batch-scored ones and writes one live window per model version:

* ``predictions/<batch>/inputs.parquet`` -- one row per request row: the id columns, the features
  as logged (or ``features_sha256`` when the service logged only their hash), and ``request_id``,
  ``row``, ``entity_id``, ``logged_at``;
* per model version in the file, ``<model>-v<version>.parquet`` (its rows: ids, prediction columns,
  ``role``, ``served``, the batch columns) and its :class:`ScoredBatch` manifest, written last.

The batch id is the first 16 hex digits of the file's content checksum, so the same content is the
same batch however often it is read. The join expects each id once per batch: when one entity was
logged more than once in a file (the same customer asked twice), its second request row goes to a
second batch of that file, its third to a third, and so on, each ordered after the one before --
so late labels for that entity join its requests in the order they were served, and nothing is
dropped. A version that scored only some rows (canary: the challenger answered a share of the
entities) has predictions for those rows only; its windows cover what it scored.

Which log files were taken is recorded under ``served-batches/<model>/<sha16 of the key>.json``
(the commit point, written after every batch of the file); a rerun reads nothing twice. A file the
reader cannot use (missing columns, an unknown model version) is recorded as refused with the
reason, and left where it is.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline.core.config import DatasetConfig
from pipeline.core.errors import NotFound, ScoringError
from pipeline.core.hashing import sha256_hex
from pipeline.core.progress import progress
from pipeline.modeling.prediction_columns import recorded_threshold, score_columns, scores_from_predictions
from pipeline.monitoring.batch_scoring import (
    ScoredBatch,
    batch_id_of,
    inputs_key,
    parquet_bytes,
    prediction_summary,
    predictions_key,
    read_scored,
    scored_manifest_key,
)
from pipeline.monitoring.served_log import (
    FEATURES_HASH_COLUMN,
    MODEL_COLUMNS,
    REQUEST_COLUMNS,
    model_log_prefix,
)
from pipeline.registry.context import StoreContext

log = logging.getLogger(__name__)

TAKEN_PREFIX = "served-batches"
_OCCURRENCE = "_ct_occurrence"


def taken_key(model_name: str, log_key: str) -> str:
    """Where the record of one taken (or refused) log file lies."""
    return f"{TAKEN_PREFIX}/{model_name}/{sha256_hex(log_key.encode())[:16]}.json"


@dataclass(frozen=True)
class ServedFile:
    """What taking one log file did (stored as the record under ``served-batches/``).

    ``batches`` are the batch ids written (more than one when an entity was logged twice);
    ``versions`` the rows each model version scored; ``features`` is ``full`` or ``hash`` (then
    the windows have no drift and the labelled rows give no training data); ``refused`` the reason
    a file was not used (nothing written then).
    """

    log_file: str
    sha256: str
    request_rows: int
    batches: tuple[str, ...]
    versions: dict[str, int]
    repeated_entities: int
    features: str
    taken_at: str
    refused: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["batches"], d["notes"] = list(self.batches), list(self.notes)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ServedFile:
        return cls(**{**d, "batches": tuple(d["batches"]), "notes": tuple(d.get("notes") or ())})


def _required_columns(ds: DatasetConfig, hashed: bool) -> list[str]:
    features = [FEATURES_HASH_COLUMN] if hashed else ds.feature_names
    return [*REQUEST_COLUMNS, *ds.id_columns, *features, *MODEL_COLUMNS, *score_columns(ds)]


def _read_log(ws: StoreContext, key: str, data: bytes) -> tuple[pd.DataFrame, bool]:
    """The log's rows of the configured model, and whether it holds feature hashes only."""
    ds = ws.config.dataset
    frame = pd.read_parquet(io.BytesIO(data))
    hashed = FEATURES_HASH_COLUMN in frame.columns and not all(c in frame.columns for c in ds.feature_names)
    missing = [c for c in _required_columns(ds, hashed) if c not in frame.columns]
    if missing:
        raise ScoringError(
            f"{ws.store.uri(key)}: a prediction log lacks columns {missing} (see pipeline/monitoring/served_log.py "
            f"for the format; the {ds.task} task of dataset {ds.name!r} needs them); it was written for another "
            "dataset or by an older service. Move it out of prediction-logs/ to silence this"
        )
    frame = frame[frame["model_name"] == ws.config.model.name]
    served = frame[frame["served"].astype(bool)]
    dup = served.duplicated(["request_id", "row"])
    if dup.any():
        first = served[dup].iloc[0]
        raise ScoringError(
            f"{ws.store.uri(key)}: request {first['request_id']} row {first['row']} was served twice "
            "(two rows with served=true); each request row is answered by one version only"
        )
    return frame.reset_index(drop=True), hashed


def _occurrences(requests: pd.DataFrame, ids: list[str]) -> pd.Series:
    """0 for an entity's first request row in the file (by log time), 1 for its second, ..."""
    ordered = requests.sort_values(["logged_at", "request_id", "row"], kind="stable")
    return ordered.groupby(ids, sort=False, dropna=False).cumcount().reindex(requests.index)


def _batch_ids(sha256: str, count: int) -> list[str]:
    """The file's batch id, then one per further occurrence of a repeated entity."""
    return [batch_id_of(sha256)] + [sha256_hex(f"{sha256}:{k}".encode())[:16] for k in range(1, count)]


def _iso(value: Any) -> str:
    return pd.Timestamp(value).tz_convert(UTC).isoformat(timespec="microseconds")


def _thresholds(ws: StoreContext, versions: list[int], key: str) -> dict[int, float]:
    out = {}
    for version in versions:
        try:
            mv = ws.meta.get_model_version(ws.config.model.name, version)
        except NotFound:
            raise ScoringError(
                f"{ws.store.uri(key)}: logged predictions of {ws.config.model.name} v{version}, which the registry "
                "does not hold; the log belongs to another metadata database"
            ) from None
        out[version] = recorded_threshold(mv.evaluation, ws.config.evaluation.decision_threshold)
    return out


def _write_batches(ws: StoreContext, key: str, sha: str, size: int, frame: pd.DataFrame, hashed: bool) -> ServedFile:
    """Write inputs, predictions and manifests (last) of every batch of one log file."""
    ds = ws.config.dataset
    ids = list(ds.id_columns)
    features = [FEATURES_HASH_COLUMN] if hashed else ds.feature_names
    frame = frame.copy()
    frame["logged_at"] = pd.to_datetime(frame["logged_at"], utc=True)
    requests = frame[frame["served"].astype(bool)][[*REQUEST_COLUMNS, *ids, *features]].reset_index(drop=True)
    requests[_OCCURRENCE] = _occurrences(requests, ids)
    occurrence = requests.set_index(["request_id", "row"])[_OCCURRENCE]
    frame[_OCCURRENCE] = occurrence.reindex(pd.MultiIndex.from_frame(frame[["request_id", "row"]])).to_numpy()
    frame = frame[frame[_OCCURRENCE].notna()]  # a shadow row whose request row was not served: not a request
    count = int(requests[_OCCURRENCE].max()) + 1 if len(requests) else 0
    batch_ids = _batch_ids(sha, count) if count else []  # no request row of this model: nothing to write
    versions = sorted(int(v) for v in frame["model_version"].unique())
    thresholds = _thresholds(ws, versions, key)
    scored_rows: dict[str, int] = {}
    previous: datetime | None = None
    for k, batch_id in enumerate(batch_ids):
        inputs = requests[requests[_OCCURRENCE] == k].drop(columns=[_OCCURRENCE]).sort_values(["logged_at", "row"])
        inputs = inputs[[*ids, *features, *REQUEST_COLUMNS]].reset_index(drop=True)
        started = pd.Timestamp(inputs["logged_at"].min()).to_pydatetime()
        # later occurrences are ordered after the earlier ones, so labels join them in serving order
        when = started if previous is None or started > previous else previous + timedelta(microseconds=1)
        previous = when
        scored_at = when.astimezone(UTC).isoformat(timespec="microseconds")
        inputs["logged_at"] = inputs["logged_at"].map(_iso)
        ws.store.put(inputs_key(batch_id), parquet_bytes(inputs))
        rows = frame[frame[_OCCURRENCE] == k]
        for version in versions:
            mine = rows[rows["model_version"] == version].sort_values(["logged_at", "row"])
            if mine.empty:
                continue  # canary: this version scored none of this batch's rows
            scored_rows[str(version)] = scored_rows.get(str(version), 0) + len(mine)
            _write_version(ws, batch_id, key, sha, size, mine, version, thresholds[version], scored_at)
    return ServedFile(
        log_file=key,
        sha256=sha,
        request_rows=len(requests),
        batches=tuple(batch_ids),
        versions=scored_rows,
        repeated_entities=int((requests[_OCCURRENCE] > 0).sum()),
        features="hash" if hashed else "full",
        taken_at=datetime.now(UTC).isoformat(timespec="microseconds"),
    )


def _write_version(
    ws: StoreContext,
    batch_id: str,
    key: str,
    sha: str,
    size: int,
    rows: pd.DataFrame,
    version: int,
    threshold: float,
    scored_at: str,
) -> ScoredBatch:
    ds, name = ws.config.dataset, ws.config.model.name
    existing = read_scored(ws, batch_id, name, version)
    if existing is not None:
        return existing  # an interrupted run wrote it (same content: the log is immutable)
    predictions = rows[[*ds.id_columns]].reset_index(drop=True)
    for column in dict.fromkeys((*score_columns(ds), "score", "predicted_label")):  # the task's, as logged
        if column in rows.columns:
            predictions[column] = rows[column].to_numpy()
    predictions["role"] = rows["role"].to_numpy()
    predictions["served"] = rows["served"].astype(bool).to_numpy()
    predictions["request_id"] = rows["request_id"].to_numpy()
    predictions["row"] = rows["row"].to_numpy()
    predictions["model_name"] = name
    predictions["model_version"] = np.int64(version)
    artifacts = sorted(set(rows["artifact_sha256"]))
    predictions["artifact_sha256"] = rows["artifact_sha256"].to_numpy()
    predictions["batch_id"] = batch_id
    predictions["source_file"] = key
    predictions["source_sha256"] = sha
    predictions["scored_at"] = scored_at
    data = parquet_bytes(predictions)
    pkey = predictions_key(batch_id, name, version)
    if not ws.store.put(pkey, data):
        data = ws.store.get(pkey)  # written by an interrupted run: adopt it, so the checksum describes it
    scored = ScoredBatch(
        batch_id=batch_id,
        source_file=key,
        source_sha256=sha,
        source_size=size,
        rows=len(rows),
        rejected_rows=0,
        model_name=name,
        model_version=version,
        artifact_sha256=artifacts[0],
        predictions_key=pkey,
        predictions_sha256=sha256_hex(data),
        inputs_key=inputs_key(batch_id),
        scored_at=scored_at,
        **prediction_summary(scores_from_predictions(rows, ds), ds, threshold),
    )
    ws.store.put(scored_manifest_key(batch_id, name, version), json.dumps(scored.to_dict(), indent=2).encode())
    return scored


def take_log_file(ws: StoreContext, key: str) -> tuple[ServedFile, bool]:
    """Take one log file (see the module docstring); returns (its record, whether taken now)."""
    record_key = taken_key(ws.config.model.name, key)
    if ws.store.exists(record_key):
        return ServedFile.from_dict(json.loads(ws.store.get(record_key))), False
    data = ws.store.get(key)
    sha = sha256_hex(data)
    try:
        try:
            frame, hashed = _read_log(ws, key, data)
        except (pa.ArrowException, OSError) as exc:  # truncated or not Parquet at all
            raise ScoringError(f"{ws.store.uri(key)}: not a readable Parquet file ({exc})") from exc
        result = _write_batches(ws, key, sha, len(data), frame, hashed)
    except ScoringError as exc:
        log.warning("%s", exc)
        result = ServedFile(
            log_file=key,
            sha256=sha,
            request_rows=0,
            batches=(),
            versions={},
            repeated_entities=0,
            features="unknown",
            taken_at=datetime.now(UTC).isoformat(timespec="microseconds"),
            refused=str(exc),
        )
    notes = []
    if result.repeated_entities:
        notes.append(
            f"{result.repeated_entities} request row(s) repeat an entity logged earlier in the file: "
            f"{len(result.batches)} batches, one per occurrence"
        )
    if result.features == "hash":
        notes.append("features logged as a hash: live windows without drift, no training rows from labels")
    result = ServedFile.from_dict({**result.to_dict(), "notes": notes})
    ws.store.put(record_key, json.dumps(result.to_dict(), indent=2).encode())
    return result, True


def pending_log_files(ws: StoreContext) -> list[str]:
    """Log files of the configured model not taken yet, oldest key first (keys sort by flush time)."""
    name = ws.config.model.name
    keys = [k for k in ws.store.list(model_log_prefix(name)) if k.endswith(".parquet")]
    return sorted(k for k in keys if not ws.store.exists(taken_key(name, k)))


def collect_served(ws: StoreContext) -> dict[str, Any]:
    """Take every new log file of the configured model; a JSON-ready summary of what was taken."""
    taken, refused = [], []
    for key in pending_log_files(ws):
        record, _ = take_log_file(ws, key)
        if record.refused:
            refused.append(record.to_dict())
            progress("monitor", f"prediction log {key} refused: {record.refused}")
            continue
        taken.append(record.to_dict())
        shown = ", ".join(f"v{v} {n}" for v, n in record.versions.items())
        progress(
            "monitor",
            f"prediction log {key}: {record.request_rows} request rows -> batch(es) {', '.join(record.batches)} "
            f"(rows scored: {shown or 'none'}; features {record.features})"
            + (f"; {'; '.join(record.notes)}" if record.notes else ""),
        )
    return {
        "taken": taken,
        "refused": refused,
        "batches": sorted({b for r in taken for b in r["batches"]}),
        "request_rows": sum(r["request_rows"] for r in taken),
    }
