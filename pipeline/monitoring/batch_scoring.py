"""Batch scoring: the champion scores unlabelled batches, and every prediction names its model.

Each complete file in ``scoring/`` is one batch, identified by the first 16 hex digits of its
sha256 (the *batch id*: the same content is the same batch whatever its name). The champion's
predictions are written once to the object store::

    predictions/<batch-id>/inputs.parquet                 the scored rows (ids + features), once per batch
    predictions/<batch-id>/<model>-v<version>.parquet     ids, the prediction columns of the task, model
                                                          name + version, artifact sha, batch source
                                                          file + sha, scored_at
    predictions/<batch-id>/<model>-v<version>.json        the manifest: the commit point of the scoring

The prediction columns are those of :mod:`pipeline.modeling.prediction_columns`: ``score`` and
``predicted_label`` (binary); ``proba_<class>`` per class, ``score`` and ``predicted_label``
(multiclass); ``prediction`` (regression). The manifest summarises them per task (see
:class:`ScoredBatch`).

A batch already scored by this champion version is not scored again (a rerun writes nothing new);
a later champion may score the same batch again under its own version. The late-label join
(:mod:`pipeline.monitoring.label_join`) reads these files back.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.config import DatasetConfig
from pipeline.core.errors import ScoringError
from pipeline.core.hashing import sha256_hex
from pipeline.core.progress import progress
from pipeline.data.inbox import Inbox, InboxHandler, InboxRun, monitoring_inbox, process_inbox
from pipeline.data.ingestion import SOURCE_ROW_COLUMN, LandingFile, sha256_file
from pipeline.data.landed_store import landed_store
from pipeline.data.live_inputs import (
    ParsedInput,
    read_unlabelled,
    require_id_columns,
    write_rejected_rows,
)
from pipeline.data.snapshots import load_parts, read_manifest
from pipeline.modeling.prediction_columns import (
    DECISION_THRESHOLD,
    prediction_frame,
    recorded_threshold,
    scores_from_predictions,
)
from pipeline.modeling.training import predict_scores
from pipeline.quality.drift import detect_drift, profile_frame
from pipeline.registry.base import CHAMPION, ModelVersion
from pipeline.registry.context import StoreContext

log = logging.getLogger(__name__)

PREDICTIONS_PREFIX = "predictions"


def batch_id_of(sha256: str) -> str:
    """The batch id of a file: the first 16 hex digits of its content checksum."""
    return sha256[:16]


def inputs_key(batch_id: str) -> str:
    return f"{PREDICTIONS_PREFIX}/{batch_id}/inputs.parquet"


def predictions_key(batch_id: str, model_name: str, version: int) -> str:
    return f"{PREDICTIONS_PREFIX}/{batch_id}/{model_name}-v{version}.parquet"


def scored_manifest_key(batch_id: str, model_name: str, version: int) -> str:
    return f"{PREDICTIONS_PREFIX}/{batch_id}/{model_name}-v{version}.json"


@dataclass(frozen=True)
class ScoredBatch:
    """The manifest of one batch scored by one model version (``<model>-v<version>.json``).

    Its summary of the predictions depends on the task: binary, the positive class, the threshold,
    the mean score and the share predicted positive; multiclass, the share of rows predicted as
    each class (``predicted_shares``) and the mean probability of the predicted class
    (``mean_score``); regression, the mean, lowest and highest prediction.  The fields added with
    task types (``task`` onwards) are left out of the stored JSON at their defaults, so a binary
    manifest is written as before and one written before them reads back as binary.
    """

    batch_id: str
    source_file: str
    source_sha256: str
    source_size: int
    rows: int
    rejected_rows: int
    model_name: str
    model_version: int
    artifact_sha256: str
    predictions_key: str
    predictions_sha256: str
    inputs_key: str
    positive_class: str | None
    threshold: float | None
    mean_score: float | None
    predicted_positive_share: float | None
    scored_at: str
    drift_share: float | None = None
    drifted_features: tuple[str, ...] = field(default_factory=tuple)
    task: str = "binary"
    predicted_shares: dict[str, float] = field(default_factory=dict)
    mean_prediction: float | None = None
    min_prediction: float | None = None
    max_prediction: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["drifted_features"] = list(self.drifted_features)
        for name, default in _TASK_FIELD_DEFAULTS.items():
            if d[name] == default:
                del d[name]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ScoredBatch:
        return cls(**{**d, "drifted_features": tuple(d.get("drifted_features") or ())})


_TASK_FIELD_DEFAULTS: dict[str, Any] = {
    "task": "binary",
    "predicted_shares": {},
    "mean_prediction": None,
    "min_prediction": None,
    "max_prediction": None,
}
"""The fields added with task types, and the defaults at which the stored JSON leaves them out."""


def prediction_summary(
    scores: np.ndarray, dataset: DatasetConfig, threshold: float = DECISION_THRESHOLD
) -> dict[str, Any]:
    """The :class:`ScoredBatch` summary fields of ``scores`` (as ``predict_scores`` returns them);
    binary rows count as predicted positive at ``threshold`` (``evaluation.decision_threshold``)."""
    if dataset.task == "regression":
        empty = scores.size == 0
        return {
            "task": "regression",
            "positive_class": None,
            "threshold": None,
            "mean_score": None,
            "predicted_positive_share": None,
            "mean_prediction": None if empty else float(scores.mean()),
            "min_prediction": None if empty else float(scores.min()),
            "max_prediction": None if empty else float(scores.max()),
        }
    if dataset.task == "multiclass":
        best = scores.argmax(axis=1) if len(scores) else np.zeros(0, dtype=int)
        return {
            "task": "multiclass",
            "positive_class": None,
            "threshold": None,
            "mean_score": float(scores.max(axis=1).mean()) if len(scores) else None,
            "predicted_positive_share": None,
            "predicted_shares": {
                c: float((best == k).mean()) if len(best) else 0.0 for k, c in enumerate(dataset.classes)
            },
        }
    return {
        "positive_class": dataset.positive_class,
        "threshold": threshold,
        "mean_score": float(scores.mean()),
        "predicted_positive_share": float((scores >= threshold).mean()),
    }


def _number(value: float | None) -> str:
    """A prediction for a log line: 4 significant digits, large values in full, None as a dash."""
    if value is None:
        return "—"
    return f"{value:.0f}" if 1e4 <= abs(value) < 1e15 else f"{value:.4g}"


def summary_line(entry: Mapping[str, Any]) -> str:
    """What a scoring predicted, in words, from its manifest's JSON (any task; old manifests too).

    Binary: ``mean score 0.312, 28% predicted yes``; multiclass: ``predicted a 50%, b 30%, c 20%
    (mean probability of the predicted class 0.714)``; regression: ``mean prediction 103.2
    (min 12.5, max 230)``.
    """
    task = entry.get("task") or "binary"
    if task == "regression":
        return (
            f"mean prediction {_number(entry.get('mean_prediction'))} "
            f"(min {_number(entry.get('min_prediction'))}, max {_number(entry.get('max_prediction'))})"
        )
    if task == "multiclass":
        shares = ", ".join(f"{c} {share:.0%}" for c, share in (entry.get("predicted_shares") or {}).items())
        mean = entry.get("mean_score")
        return f"predicted {shares or '—'} (mean probability of the predicted class {_number(mean)})"
    return (
        f"mean score {entry['mean_score']:.3f}, {entry['predicted_positive_share']:.0%} "
        f"predicted {entry['positive_class']}"
    )


def read_scored(ws: StoreContext, batch_id: str, model_name: str, version: int) -> ScoredBatch | None:
    """The manifest of ``batch_id`` scored by ``model_name`` v``version``, or None."""
    key = scored_manifest_key(batch_id, model_name, version)
    if not ws.store.exists(key):
        return None
    return ScoredBatch.from_dict(json.loads(ws.store.get(key)))


def list_scored(ws: StoreContext) -> list[ScoredBatch]:
    """Every committed scoring (one per batch and model version), oldest first."""
    found = [
        ScoredBatch.from_dict(json.loads(ws.store.get(k)))
        for k in ws.store.list(PREDICTIONS_PREFIX)
        if k.endswith(".json") and k.count("/") == 2
    ]
    return sorted(found, key=lambda s: (s.scored_at, s.batch_id, s.model_version))


def load_predictions(ws: StoreContext, scored: ScoredBatch) -> pd.DataFrame:
    """The predictions file of one scoring, checked against the checksum in its manifest."""
    data = ws.store.get(scored.predictions_key)
    if sha256_hex(data) != scored.predictions_sha256:
        raise ScoringError(
            f"{ws.store.uri(scored.predictions_key)}: checksum differs from its manifest "
            f"({scored.predictions_sha256[:12]}…); the predictions file was changed after scoring"
        )
    return pd.read_parquet(io.BytesIO(data))


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    """A frame as Parquet bytes (deterministic for the same frame, so rewrites are recognisable)."""
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


def _check_same_artifact(ws: StoreContext, existing: ScoredBatch, champion: ModelVersion) -> None:
    if existing.artifact_sha256 != champion.artifact_sha256:
        raise ScoringError(
            f"{ws.store.uri(scored_manifest_key(existing.batch_id, champion.name, champion.version))} was written by "
            f"artifact {existing.artifact_sha256[:12]}…, but {champion.name} v{champion.version} is now artifact "
            f"{champion.artifact_sha256[:12]}…: the metadata database was reset while the object store was kept. "
            "Use a fresh CT_DATA_URL (or move predictions/ and monitoring/ away) together with a fresh database."
        )


class _Scorer:
    """The champion's model and training-data profile, loaded once per run and only when needed."""

    def __init__(self, ws: StoreContext, champion: ModelVersion) -> None:
        self.ws, self.champion = ws, champion
        self._model: Any = None
        self._reference: dict[str, Any] | None = None

    @property
    def model(self) -> Any:
        if self._model is None:
            self._model = self.ws.artifacts.load(self.champion.artifact_uri, self.champion.artifact_sha256)
        return self._model

    @property
    def reference(self) -> dict[str, Any]:
        if self._reference is None:
            dataset = self.ws.config.dataset
            parts = read_manifest(self.ws.store, self.champion.snapshot_id).parts
            self._reference = profile_frame(
                load_parts(self.ws.store, parts), dataset.numeric_names, dataset.categorical_names
            )
        return self._reference

    @property
    def threshold(self) -> float:
        """The champion's decision threshold (binary; see ``recorded_threshold``)."""
        return recorded_threshold(self.champion.evaluation, self.ws.config.evaluation.decision_threshold)

    def score(self, parsed: ParsedInput) -> ScoredBatch:
        """Write inputs, predictions and the manifest (last) for one parsed batch."""
        ws, champion, dataset = self.ws, self.champion, self.ws.config.dataset
        source = parsed.source
        batch_id = batch_id_of(source.sha256)
        inputs = parsed.frame.drop(columns=[SOURCE_ROW_COLUMN])
        ws.store.put(inputs_key(batch_id), parquet_bytes(inputs))
        scores = predict_scores(self.model, inputs, dataset, ws.thread_budget)
        scored_at = datetime.now(UTC).isoformat(timespec="microseconds")
        predictions = inputs[list(dataset.id_columns)].reset_index(drop=True)
        for column, values in prediction_frame(scores, dataset, self.threshold).items():
            predictions[column] = values.to_numpy()
        predictions["model_name"] = champion.name
        predictions["model_version"] = np.int64(champion.version)
        predictions["artifact_sha256"] = champion.artifact_sha256
        predictions["batch_id"] = batch_id
        predictions["source_file"] = source.name
        predictions["source_sha256"] = source.sha256
        predictions["scored_at"] = scored_at
        data = parquet_bytes(predictions)
        key = predictions_key(batch_id, champion.name, champion.version)
        if not ws.store.put(key, data):
            # An interrupted (or concurrent) run of the same champion on the same batch wrote it first:
            # adopt that file, so the manifest's checksum always describes what is stored.
            data = ws.store.get(key)
            stored = pd.read_parquet(io.BytesIO(data))
            if len(stored) != len(inputs) or set(stored["artifact_sha256"]) != {champion.artifact_sha256}:
                raise ScoringError(
                    f"{ws.store.uri(key)} exists but was not written by {champion.name} "
                    f"v{champion.version} for these {len(inputs)} rows; move it away and score again"
                )
            scored_at, scores = str(stored["scored_at"].iloc[0]), scores_from_predictions(stored, dataset)
        drift = detect_drift(self.reference, inputs)
        scored = ScoredBatch(
            batch_id=batch_id,
            source_file=source.name,
            source_sha256=source.sha256,
            source_size=source.size,
            rows=len(inputs),
            rejected_rows=len(parsed.rejected),
            model_name=champion.name,
            model_version=champion.version,
            artifact_sha256=champion.artifact_sha256,
            predictions_key=key,
            predictions_sha256=sha256_hex(data),
            inputs_key=inputs_key(batch_id),
            scored_at=scored_at,
            drift_share=drift.drift_share,
            drifted_features=tuple(drift.drifted_features),
            **prediction_summary(scores, dataset, self.threshold),
        )
        if not ws.store.put(
            scored_manifest_key(batch_id, champion.name, champion.version),
            json.dumps(scored.to_dict(), indent=2).encode(),
        ):
            scored = read_scored(ws, batch_id, champion.name, champion.version) or scored  # a concurrent run won
        progress(
            "monitor",
            f"champion v{champion.version} scored {source.name} (batch {batch_id}, {scored.rows} rows"
            f"{f', {scored.rejected_rows} set aside' if scored.rejected_rows else ''}): "
            f"{summary_line(scored.to_dict())}; drift share {drift.drift_share:.0%} -> {ws.store.uri(key)}",
        )
        return scored


def scoring_inbox(ws: StoreContext) -> Inbox:
    """``scoring/``; scored files are archived by checksum under ``archive/scoring/``."""
    return monitoring_inbox(
        ws.settings, "scoring", ws.config.ingest.stable_seconds, landed_store(ws.settings, ws.store)
    )


def pending_scoring_files(ws: StoreContext) -> list[str]:
    """Complete files waiting in ``scoring/``."""
    return scoring_inbox(ws).pending()


class _ScoringInbox(InboxHandler[ParsedInput, tuple[ScoredBatch, Path | None], ScoredBatch]):
    """Each file is one batch for the champion: read it, score it, set its bad rows aside."""

    what = "unlabelled file"

    def __init__(self, ws: StoreContext, champion: ModelVersion) -> None:
        self.ws, self.champion, self.scorer = ws, champion, _Scorer(ws, champion)

    def committed(self, source: LandingFile) -> ScoredBatch | None:
        existing = read_scored(self.ws, batch_id_of(source.sha256), self.champion.name, self.champion.version)
        if existing is not None:
            _check_same_artifact(self.ws, existing, self.champion)
        return existing

    def duplicate_message(self, source: LandingFile, record: ScoredBatch) -> str:
        return (
            f"{source.name}: identical content (batch {record.batch_id}) was already scored by "
            f"{record.model_name} v{record.model_version} at {record.scored_at} "
            f"({self.ws.store.uri(record.predictions_key)}); nothing new to score"
        )

    def read(self, source: LandingFile) -> ParsedInput:
        return read_unlabelled(source, self.ws.config.dataset, self.ws.config.ingest)

    def consume(self, source: LandingFile, read: ParsedInput) -> tuple[ScoredBatch, Path | None]:
        """Score the batch, then keep its set-aside rows in quarantine; (the manifest, where the rows went)."""
        scored = self.scorer.score(read)
        return scored, write_rejected_rows(read.rejected, self.ws.settings.quarantine, source)

    def finished(self, source: LandingFile, record: ScoredBatch) -> None:
        where = self.ws.store.uri(record.predictions_key)
        log.warning("%s: already scored as batch %s (%s); archived now", source.name, record.batch_id, where)


def score_pending_batches(ws: StoreContext) -> dict[str, Any]:
    """Score every complete file in ``scoring/`` with the champion; archive or quarantine each one.

    Returns a JSON-ready summary: batches scored now, files that were already scored by this
    champion version (archived without scoring), files quarantined, and files left waiting
    because there is no champion yet.
    """
    inbox = scoring_inbox(ws)
    ready, links = inbox.arrivals()
    champion, run = None, InboxRun[tuple[ScoredBatch, Path | None], ScoredBatch]()
    if ready:
        require_id_columns(ws.config.dataset)
        champion = ws.meta.get_alias(ws.config.model.name, CHAMPION)
        if champion is None:
            progress("monitor", f"no champion yet: {len(ready)} unlabelled file(s) wait in {inbox.folder}")
        else:
            run = process_inbox(inbox, ready, _ScoringInbox(ws, champion))
    return {
        "scored": [
            {**scored.to_dict(), "rejected_rows_path": str(rejected) if rejected else None}
            for _, (scored, rejected) in run.taken
        ],
        "already_scored": [
            {"file": source.name, "batch_id": existing.batch_id, "predictions_key": existing.predictions_key}
            for source, existing in run.finished
        ],
        "quarantined": [r.to_dict() for r in (*links, *run.refused)],  # links: never followed, never read
        "waiting": len(ready) if ready and champion is None else 0,
        "champion_version": champion.version if champion else None,
    }


def score_file(ws: StoreContext, path: Path) -> tuple[ScoredBatch, bool]:
    """Score one file where it lies (``ct score FILE``) with the champion; it is not moved.

    Returns the manifest and whether it was scored now (False: this champion version had already
    scored identical content). A file that cannot be used raises :class:`IngestError` naming it;
    rows set aside go to ``quarantine/`` with a reason each, as for files in ``scoring/``.
    """
    require_id_columns(ws.config.dataset)
    path = Path(path)
    if not path.is_file():
        raise ScoringError(f"{path}: no such file; give a CSV or Parquet file of id and feature columns")
    champion = ws.meta.get_alias(ws.config.model.name, CHAMPION)
    if champion is None:
        raise ScoringError(
            f"there is no champion of {ws.config.model.name} yet to score {path.name}; train one first (ct run)"
        )
    source = LandingFile(path=path, size=path.stat().st_size, sha256=sha256_file(path))
    batch = _ScoringInbox(ws, champion)  # the same steps as a file in scoring/, without moving it
    existing = batch.committed(source)
    if existing is not None:
        return existing, False
    scored, _ = batch.consume(source, batch.read(source))
    return scored, True


def batch_overview(ws: StoreContext, count_labels: Callable[[str], int] | None = None) -> list[dict[str, Any]]:
    """One entry per batch: source, rows, first scoring time, model versions that scored it, labelled rows."""
    batches: dict[str, dict[str, Any]] = {}
    for s in list_scored(ws):
        entry = batches.setdefault(
            s.batch_id,
            {
                "batch_id": s.batch_id,
                "source_file": s.source_file,
                "source_sha256": s.source_sha256,
                "rows": s.rows,
                "first_scored_at": s.scored_at,
                "scorings": [],
            },
        )
        entry["scorings"].append(
            {
                "model_name": s.model_name,
                "model_version": s.model_version,
                "scored_at": s.scored_at,
                "mean_score": s.mean_score,
                "predicted_positive_share": s.predicted_positive_share,
                **{k: v for k, v in s.to_dict().items() if k in _TASK_FIELD_DEFAULTS},  # non-binary only
                "drift_share": s.drift_share,
                "predictions_uri": ws.store.uri(s.predictions_key),
            }
        )
    for entry in batches.values():
        entry["labelled_rows"] = count_labels(entry["batch_id"]) if count_labels else None
    return list(batches.values())
