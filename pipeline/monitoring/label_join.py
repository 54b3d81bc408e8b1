"""Late labels: join labels that arrive after batch scoring to the stored predictions.

A file in ``labels/`` holds the id columns and the label; it may cover several scored batches, or
only part of one. Each label row is matched by its ids to a scored batch (see
:mod:`pipeline.monitoring.batch_scoring`) that holds that id and has no label for it yet — the earliest such
batch, so a customer scored in two batches gets its labels in arrival order. Then:

* **live windows** — for every model version that scored the matched batches, one
  :class:`~pipeline.monitoring.retrain_policy.LiveWindow` (window id ``labels-<sha16>``): the primary metric of that
  version's stored predictions on the matched rows with its bootstrap interval, the number of rows,
  and drift of those rows' features against that version's training data. It is stored where
  :func:`pipeline.monitoring.live_performance.live_windows` reads, so ``decide_retrain`` sees it like any other window;
* **training data** — the matched rows (ids + features from the scored inputs + the label) are
  written to ``landing/labels-<sha12>/<stem>-joined.parquet`` with a ``_SUCCESS`` marker, so
  ``ct_ingest`` takes them in. A marker (:func:`pipeline.monitoring.live_performance.joined_file_key`) keeps
  ``score_new_batches`` from scoring those rows a second time for the same champion;
* **nothing dropped** — rows whose ids match no scored batch, and rows for ids that already have a
  label (never counted twice; a different label is reported as a conflict, the first one is kept),
  go to ``quarantine/<time>_<sha8>/<stem>.rejected_rows.csv`` with a reason each. A file with no new
  match at all is quarantined whole (code ``no_new_labels``).

Scored batches include the served predictions of ``ct serve`` (:mod:`pipeline.monitoring.served_batches`); a
batch whose inputs hold only a feature hash (``serving.log.features: hash``) gives windows without
drift and no training rows, and the join record's notes say how many matched rows were such.

Which ids have a label is recorded per batch (``predictions/<batch>/labels/<sha16>.parquet``); the
join record ``label-joins/<sha>.json`` is the commit point, after which the file is archived in
``archive/labels/``. A rerun joins nothing twice.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from pipeline.core.errors import IngestError
from pipeline.core.hashing import sha256_hex
from pipeline.core.progress import progress
from pipeline.core.storage import atomic_write_bytes
from pipeline.data.inbox import Inbox, InboxHandler, InboxRun, monitoring_inbox, process_inbox
from pipeline.data.ingestion import ROW_REASON_COLUMN, SOURCE_ROW_COLUMN, LandingFile
from pipeline.data.landed_store import archived_anywhere, landed_store
from pipeline.data.live_inputs import (
    describe_key,
    read_labels,
    require_id_columns,
    row_keys,
    write_rejected_rows,
)
from pipeline.data.snapshots import load_parts, read_manifest
from pipeline.modeling.metric_suites import metric_suite
from pipeline.modeling.prediction_columns import recorded_threshold, score_columns, scores_from_predictions
from pipeline.modeling.training import target_values
from pipeline.monitoring.batch_scoring import (
    PREDICTIONS_PREFIX,
    ScoredBatch,
    list_scored,
    load_predictions,
    parquet_bytes,
)
from pipeline.monitoring.live_performance import joined_file_key, live_window, store_window
from pipeline.quality.drift import detect_drift, profile_frame
from pipeline.registry.context import StoreContext

log = logging.getLogger(__name__)

JOIN_PREFIX = "label-joins"
_KEY, _BATCH, _ORDER, _ROW = "_ct_key", "_ct_batch", "_ct_order", SOURCE_ROW_COLUMN


def join_record_key(sha256: str) -> str:
    return f"{JOIN_PREFIX}/{sha256}.json"


def ledger_key(batch_id: str, label_sha256: str) -> str:
    """The ids (and labels) one label file contributed to one batch."""
    return f"{PREDICTIONS_PREFIX}/{batch_id}/labels/{label_sha256[:16]}.parquet"


@dataclass(frozen=True)
class LabelJoin:
    """What joining one label file did (stored as ``label-joins/<sha>.json``)."""

    label_file: str
    sha256: str
    rows: int
    matched: int
    unmatched: int
    already_labelled: int
    conflicting: int
    bad_rows: int
    batches: dict[str, int]
    windows: list[dict[str, Any]]
    training_file: dict[str, Any] | None
    joined_at: str
    rejected_rows_path: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Batch:
    """A scored batch as the join sees it: its order of first scoring and the versions that scored it."""

    batch_id: str
    order: int
    scorings: dict[int, ScoredBatch]

    @property
    def inputs_key(self) -> str:
        return next(iter(self.scorings.values())).inputs_key


def _scored_batches(ws: StoreContext) -> dict[str, _Batch]:
    model = ws.config.model.name
    batches: dict[str, _Batch] = {}
    for s in list_scored(ws):  # oldest first
        if s.model_name != model:
            continue
        if s.batch_id not in batches:
            batches[s.batch_id] = _Batch(s.batch_id, len(batches), {})
        batches[s.batch_id].scorings[s.model_version] = s
    return batches


def _read_parquet(ws: StoreContext, key: str, columns: list[str] | None = None) -> pd.DataFrame:
    with ws.store.open(key) as fh:
        return pd.read_parquet(io.BytesIO(fh.read()), columns=columns)


def _id_index(ws: StoreContext, batches: dict[str, _Batch]) -> pd.DataFrame:
    """Every scored (id, batch) pair with the batch's order."""
    ids = list(ws.config.dataset.id_columns)
    frames = []
    for b in batches.values():
        f = _read_parquet(ws, b.inputs_key, ids)
        frames.append(pd.DataFrame({_KEY: row_keys(f, ids).to_numpy(), _BATCH: b.batch_id, _ORDER: b.order}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[_KEY, _BATCH, _ORDER])


def _ledger(ws: StoreContext, batches: dict[str, _Batch], skip_sha: str) -> pd.DataFrame:
    """Ids that already have a label, per batch (from other label files than ``skip_sha``)."""
    ds = ws.config.dataset
    frames = []
    for b in batches.values():
        for key in ws.store.list(f"{PREDICTIONS_PREFIX}/{b.batch_id}/labels"):
            if key.endswith(f"/{skip_sha[:16]}.parquet"):
                continue  # this file's own entries from an interrupted run: recomputed, not a duplicate
            f = _read_parquet(ws, key)
            frames.append(
                pd.DataFrame(
                    {
                        _KEY: row_keys(f, list(ds.id_columns)).to_numpy(),
                        _BATCH: b.batch_id,
                        "label": f[ds.label].to_numpy(),
                        "label_file": f["label_file"].to_numpy(),
                    }
                )
            )
    return (
        pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[_KEY, _BATCH, "label", "label_file"])
    )


def labelled_rows(ws: StoreContext, batch_id: str) -> int:
    """How many rows of ``batch_id`` have a late label (for listings)."""
    total = 0
    for key in ws.store.list(f"{PREDICTIONS_PREFIX}/{batch_id}/labels"):
        with ws.store.open(key) as fh:
            total += pq.ParquetFile(io.BytesIO(fh.read())).metadata.num_rows
    return total


def _match(labels: pd.DataFrame, index: pd.DataFrame, ledger: pd.DataFrame) -> pd.DataFrame:
    """Label rows with the batch each joins: the earliest scored batch holding the id without a label for it."""
    cand = labels[[_ROW, _KEY]].merge(index, on=_KEY)
    taken = ledger[[_KEY, _BATCH]].drop_duplicates().assign(_taken=True)
    cand = cand.merge(taken, on=[_KEY, _BATCH], how="left")
    free = cand[cand["_taken"].isna()].sort_values([_ORDER, _ROW])
    chosen = free.drop_duplicates(_ROW)[[_ROW, _BATCH]]
    return labels.merge(chosen, on=_ROW)


def _reasons_for_unjoined(
    labels: pd.DataFrame,
    matched: pd.DataFrame,
    index: pd.DataFrame,
    ledger: pd.DataFrame,
    ids: list[str],
    label_col: str,
) -> tuple[pd.DataFrame, int, int, int]:
    """The label rows that join no batch, each with a reason; and the unmatched / duplicate / conflict counts."""
    rest = labels[~labels[_ROW].isin(matched[_ROW])]
    known = set(index[_KEY])
    first = ledger.drop_duplicates(_KEY).set_index(_KEY) if len(ledger) else None
    reasons, unmatched, duplicates, conflicts = [], 0, 0, 0
    for key, label in zip(rest[_KEY], rest[label_col]):
        who = describe_key(key, ids)
        if key not in known:
            unmatched += 1
            reasons.append(
                f"{who}: no scored batch holds this id; score its batch first (drop it into scoring/), "
                "then drop this row into labels/ again"
            )
            continue
        duplicates += 1
        earlier = first.loc[key] if first is not None and key in first.index else None
        if earlier is not None and earlier["label"] != label:
            conflicts += 1
            reasons.append(
                f"{who}: already labelled {earlier['label']!r} by {earlier['label_file']} for batch "
                f"{earlier[_BATCH]}; this row says {label!r} (conflict; the first label is kept)"
            )
        else:
            src = f" by {earlier['label_file']}" if earlier is not None else ""
            reasons.append(f"{who}: already labelled{src}; not counted twice")
    out = rest.drop(columns=[_KEY]).copy()
    out[ROW_REASON_COLUMN] = reasons
    return out, unmatched, duplicates, conflicts


class _References:
    """Training-data profiles per model version (drift reference), built once per run."""

    def __init__(self, ws: StoreContext) -> None:
        self.ws = ws
        self._cache: dict[int, dict[str, Any]] = {}
        self._thresholds: dict[int, float] = {}

    def get(self, version: int) -> dict[str, Any]:
        if version not in self._cache:
            ws, ds = self.ws, self.ws.config.dataset
            mv = ws.meta.get_model_version(ws.config.model.name, version)
            parts = read_manifest(ws.store, mv.snapshot_id).parts
            self._cache[version] = profile_frame(load_parts(ws.store, parts), ds.numeric_names, ds.categorical_names)
            self._thresholds[version] = recorded_threshold(mv.evaluation, ws.config.evaluation.decision_threshold)
        return self._cache[version]

    def threshold(self, version: int) -> float:
        """The version's decision threshold (see ``recorded_threshold``); needs no profile (hash-only rows)."""
        if version not in self._thresholds:
            mv = self.ws.meta.get_model_version(self.ws.config.model.name, version)
            self._thresholds[version] = recorded_threshold(mv.evaluation, self.ws.config.evaluation.decision_threshold)
        return self._thresholds[version]


def _window(
    ws: StoreContext,
    version: int,
    matched: pd.DataFrame,
    batches: dict[str, _Batch],
    features: pd.DataFrame,
    refs: _References,
    window_id: str,
    source: str,
) -> tuple[dict[str, Any], bool]:
    """Score the matched rows of batches ``version`` scored; store the window. Returns (summary, counted)."""
    ds, mon = ws.config.dataset, ws.config.monitoring
    metric = ws.config.promotion.primary_metric
    ids = list(ds.id_columns)
    rows = matched[matched[_BATCH].map(lambda b: version in batches[b].scorings)]
    preds = pd.concat(
        [load_predictions(ws, batches[b].scorings[version]) for b in rows[_BATCH].unique()], ignore_index=True
    )
    preds[_KEY] = row_keys(preds, ids)
    scored = preds[[_KEY, "batch_id", *score_columns(ds)]].rename(columns={"batch_id": _BATCH})
    joined = rows.merge(scored, on=[_KEY, _BATCH])
    y = target_values(joined, ds)
    summary: dict[str, Any] = {
        "model_version": version,
        "window_id": window_id,
        "rows": len(joined),
        "batches": sorted(rows[_BATCH].unique().tolist()),
    }
    if ds.is_classification and len(np.unique(y)) < 2:
        summary["skipped"] = (
            f"only one class ({ds.label}={joined[ds.label].iloc[0]!r}) among the {len(joined)} "
            f"joined rows: {metric} is undefined, no window"
        )
        return summary, False
    est = metric_suite(ds, refs.threshold(version)).bootstrap(
        y,
        scores_from_predictions(joined, ds),
        metrics=[metric],
        n_resamples=mon.bootstrap_resamples,
        seed=ws.config.evaluation.seed,
        confidence=0.95,
    )[metric]
    feats = joined[[_KEY, _BATCH]].merge(features, on=[_KEY, _BATCH])
    # rows logged by ct serve with a feature hash only (serving.log.features: hash) have no features
    drift = detect_drift(refs.get(version), feats) if len(feats) else None
    window = live_window(window_id, version, len(joined), est, drift)
    store_window(ws, ws.config.model.name, window, source)
    summary.update(window.to_dict())
    summary["counted"] = len(joined) >= mon.min_samples
    return summary, True


def _training_frame(
    ws: StoreContext, matched: pd.DataFrame, batches: dict[str, _Batch]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(features of every matched row keyed by id and batch, the labelled training rows in snapshot column order).

    Batches without feature values (served predictions logged with a feature hash) give neither.
    """
    ds = ws.config.dataset
    frames = []
    for b in matched[_BATCH].unique():
        f = _read_parquet(ws, batches[b].inputs_key)
        if not all(c in f.columns for c in ds.feature_names):
            continue
        f[_KEY], f[_BATCH] = row_keys(f, list(ds.id_columns)), b
        frames.append(f)
    if not frames:
        empty = pd.DataFrame(columns=[_KEY, _BATCH, *ds.id_columns, *ds.feature_names])
        return empty, pd.DataFrame(columns=ds.columns)
    features = pd.concat(frames, ignore_index=True)
    rows = matched.assign(_order=matched[_BATCH].map(lambda b: batches[b].order)).sort_values(["_order", _ROW])
    training = rows[[_KEY, _BATCH, ds.label]].merge(features.drop(columns=list(ds.id_columns)), on=[_KEY, _BATCH])
    training = training.merge(features[[_KEY, _BATCH, *ds.id_columns]], on=[_KEY, _BATCH])
    return features, training[ds.columns].reset_index(drop=True)


def _write_training_file(ws: StoreContext, source: LandingFile, data: bytes, sha: str, rows: int) -> dict[str, Any]:
    """Drop the labelled rows into the landing area (file, then ``_SUCCESS``) unless already there or taken in."""
    folder = ws.settings.landing / f"labels-{source.sha256[:12]}"
    target = folder / f"{source.path.stem}-joined.parquet"
    info = {"path": str(target), "sha256": sha, "rows": rows}
    if archived_anywhere(sha, ws.settings.archive, landed_store(ws.settings, ws.store)) or target.exists():
        return info  # an interrupted run wrote it already (and ingest may have taken it in)
    atomic_write_bytes(target, data)
    (folder / "_SUCCESS").touch()
    return info


def join_label_file(
    ws: StoreContext, source: LandingFile, batches: dict[str, _Batch], index: pd.DataFrame, refs: _References
) -> LabelJoin:
    """Join one label file (see the module docstring); raises IngestError(``no_new_labels``) when nothing matches."""
    ds = ws.config.dataset
    ids = list(ds.id_columns)
    parsed = read_labels(source, ds, ws.config.ingest)
    labels = parsed.frame.copy()
    labels[_KEY] = row_keys(labels, ids)
    ledger = _ledger(ws, batches, source.sha256)
    matched = _match(labels, index, ledger)
    unjoined, unmatched, duplicates, conflicts = _reasons_for_unjoined(labels, matched, index, ledger, ids, ds.label)
    if matched.empty:
        examples = "; ".join(unjoined[ROW_REASON_COLUMN].head(3))
        raise IngestError(
            f"{source.name}: none of its {len(labels)} usable label rows joins a scored batch: {unmatched} id(s) are "
            f"in no scored batch, {duplicates} already have a label ({conflicts} with a different one). E.g. "
            f"{examples}. Score the batches first (drop them into scoring/), then drop the labels again.",
            code="no_new_labels",
            details={
                "unmatched": unmatched,
                "already_labelled": duplicates,
                "conflicting": conflicts,
                "bad_rows": len(parsed.rejected),
            },
        )
    # 1. which ids of which batch now have a label (never counted twice)
    for b, rows in matched.groupby(_BATCH):
        entry = rows.sort_values(_ROW)[[*ids, ds.label]].assign(label_file=source.name, label_sha256=source.sha256)
        ws.store.put(ledger_key(str(b), source.sha256), parquet_bytes(entry.reset_index(drop=True)))
    # 2. one live window per model version that scored these rows
    features, training = _training_frame(ws, matched, batches)
    window_id = f"labels-{source.sha256[:16]}"
    versions = sorted({v for b in matched[_BATCH].unique() for v in batches[b].scorings})
    windows, notes = [], []
    for version in versions:
        summary, _written = _window(ws, version, matched, batches, features, refs, window_id, source.name)
        windows.append(summary)
        if "skipped" in summary:
            notes.append(f"v{version}: {summary['skipped']}")
    # 3. the labelled rows become training data; mark them as seen by every version that scored all of them
    without = len(matched) - len(training)
    if without:
        notes.append(
            f"{without} matched row(s) were logged by ct serve with a feature hash only "
            "(serving.log.features: hash): no drift and no training rows from them"
        )
    training_file = None
    if len(training):
        data = parquet_bytes(training)
        sha = sha256_hex(data)
        for version in versions:
            if all(version in batches[b].scorings for b in matched[_BATCH].unique()):
                ws.store.put(
                    joined_file_key(ws.config.model.name, version, sha),
                    json.dumps(
                        {"label_file": source.name, "label_sha256": source.sha256, "window_id": window_id}
                    ).encode(),
                )
        training_file = _write_training_file(ws, source, data, sha, len(training))
    rejected = parsed.rejected
    if len(unjoined):
        rejected = pd.concat([rejected, unjoined], ignore_index=True).sort_values(_ROW, kind="stable")
    record = LabelJoin(
        label_file=source.name,
        sha256=source.sha256,
        rows=parsed.rows,
        matched=len(matched),
        unmatched=unmatched,
        already_labelled=duplicates,
        conflicting=conflicts,
        bad_rows=len(parsed.rejected),
        batches={str(b): int(n) for b, n in matched[_BATCH].value_counts().sort_index().items()},
        windows=windows,
        training_file=training_file,
        joined_at=datetime.now(UTC).isoformat(timespec="microseconds"),
        notes=notes,
    )
    ws.store.put(join_record_key(source.sha256), json.dumps(record.to_dict(), indent=2, default=str).encode())
    path = write_rejected_rows(rejected, ws.settings.quarantine, source)
    return LabelJoin(**{**record.to_dict(), "rejected_rows_path": str(path) if path else None})


def read_join(ws: StoreContext, sha256: str) -> dict[str, Any] | None:
    key = join_record_key(sha256)
    return json.loads(ws.store.get(key)) if ws.store.exists(key) else None


def list_joins(ws: StoreContext) -> list[dict[str, Any]]:
    """Every join record, oldest first."""
    records = [json.loads(ws.store.get(k)) for k in ws.store.list(JOIN_PREFIX) if k.endswith(".json")]
    return sorted(records, key=lambda r: r["joined_at"])


def labels_inbox(ws: StoreContext) -> Inbox:
    """``labels/``; joined files are archived by checksum under ``archive/labels/``."""
    return monitoring_inbox(ws.settings, "labels", ws.config.ingest.stable_seconds, landed_store(ws.settings, ws.store))


def pending_label_files(ws: StoreContext) -> list[str]:
    """Complete files waiting in ``labels/``."""
    return labels_inbox(ws).pending()


def window_size(w: dict[str, Any]) -> str:
    """``n=…`` of a live window, or ``(unreliable, n=…)`` when its interval rests on too few rows."""
    return f"(unreliable, n={w['rows']})" if w.get("reliable") is False else f"n={w['rows']}"


def _progress_line(join: LabelJoin, metric: str) -> str:
    head = (
        f"labels {join.label_file}: {join.matched} of {join.rows} rows joined to {len(join.batches)} batch(es)"
        f" ({join.unmatched} unmatched, {join.already_labelled} already labelled, {join.bad_rows} bad)"
    )
    parts = [head]
    for w in join.windows:
        if "skipped" in w:
            parts.append(f"v{w['model_version']}: {w['skipped']}")
        else:
            note = "" if w["counted"] else " (below monitoring.min_samples: not counted)"
            parts.append(
                f"v{w['model_version']} {metric} {w['value']:.3f} [{w['lower']:.3f}, {w['upper']:.3f}] "
                f"{window_size(w)}{note}"
            )
    if join.training_file:
        parts.append(f"{join.training_file['rows']} labelled rows -> {join.training_file['path']}")
    return "; ".join(parts)


class _LabelInbox(InboxHandler[LabelJoin, LabelJoin, dict[str, Any]]):
    """Each file is joined to the scored batches; a file that joins nothing new is refused."""

    what = "label file"

    def __init__(self, ws: StoreContext, batches: dict[str, _Batch]) -> None:
        self.ws, self.batches = ws, batches
        self.index, self.refs = _id_index(ws, batches), _References(ws)
        self.metric = ws.config.promotion.primary_metric

    def committed(self, source: LandingFile) -> dict[str, Any] | None:
        return read_join(self.ws, source.sha256)

    def duplicate_message(self, source: LandingFile, record: dict[str, Any]) -> str:
        return (
            f"{source.name}: identical content was already joined at {record['joined_at']} "
            f"({record['matched']} rows); nothing new"
        )

    def read(self, source: LandingFile) -> LabelJoin:
        return join_label_file(self.ws, source, self.batches, self.index, self.refs)

    def consume(self, source: LandingFile, read: LabelJoin) -> LabelJoin:
        return read  # the join record written by join_label_file is the commit point

    def taken(self, source: LandingFile, result: LabelJoin) -> None:
        progress("monitor", _progress_line(result, self.metric))


def join_pending_labels(ws: StoreContext) -> dict[str, Any]:
    """Join every complete file in ``labels/`` to the stored predictions; archive or quarantine each.

    Label files wait while no batch has been scored at all. Returns a JSON-ready summary.
    """
    inbox = labels_inbox(ws)
    ready, links = inbox.arrivals()
    batches: dict[str, _Batch] = {}
    run = InboxRun[LabelJoin, dict[str, Any]]()
    if ready:
        require_id_columns(ws.config.dataset)
        batches = _scored_batches(ws)
        if not batches:
            progress("monitor", f"no scored batch yet: {len(ready)} label file(s) wait in {inbox.folder}")
        else:
            run = process_inbox(inbox, ready, _LabelInbox(ws, batches))
    joins = [join for _, join in run.taken]
    return {
        "joined": [join.to_dict() for join in joins],
        "already_joined": [source.name for source, _ in run.finished],
        "quarantined": [r.to_dict() for r in (*links, *run.refused)],  # links: never followed, never read
        "waiting": len(ready) if ready and not batches else 0,
        "windows": sum(1 for join in joins for w in join.windows if "skipped" not in w),
    }
