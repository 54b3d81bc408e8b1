"""Statistics of each snapshot part, computed once and cached in the object store by part id.

Parts are immutable, so whatever is learnt from one (a thinned sorted sample and the moments of
each numeric feature, the level counts of each categorical feature, the label on either side of
the holdout: class counts, or for a regression label a numeric piece like a feature's) never
changes. Validation computes them for the new parts it reads anyway and stores them; everything
it needs about older data (the reference snapshot's drift profiles, its label shares or label
profile, the data a suite is generated from, train/holdout label parity over the whole snapshot)
is then merged from these small pieces, so validating an append reads only the append.

The cache key includes a hash of everything the statistics depend on (feature lists, label and,
outside binary, the task, id columns, holdout settings, format), so changing the config never
reuses stale statistics.
"""

from __future__ import annotations

import io
import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.config import PipelineConfig
from pipeline.core.hashing import json_sha256
from pipeline.core.storage import ObjectStore
from pipeline.data.snapshots import Part, Snapshot, load_parts
from pipeline.quality.drift_profiles import (
    MAX_REFERENCE_SAMPLE,
    CategoricalProfile,
    NumericProfile,
    Profile,
    _category_counts,
    _finite_values,
    _thin_sorted,
    profile_from_dict,
    profile_numeric,
    profile_numeric_weighted,
)
from pipeline.quality.label_contract import label_counts

log = logging.getLogger(__name__)

STATS_FORMAT = 1
STATS_PREFIX = "snapshots/statistics"
TRAIN, HOLDOUT = "train", "holdout"


@dataclass(frozen=True, eq=False)
class NumericPiece:
    """Mergeable summary of one numeric column of one part.

    ``count`` finite values (``missing`` nulls or infinities), their exact mean, sum of squared
    deviations ``m2``, minimum and maximum, and ``sample``: all finite values sorted when there
    are at most :data:`MAX_REFERENCE_SAMPLE`, else that many evenly spaced order statistics.
    """

    count: int
    missing: int
    mean: float
    m2: float
    min: float
    max: float
    sample: np.ndarray

    @property
    def exact(self) -> bool:
        """True when ``sample`` holds every finite value (no thinning)."""
        return self.sample.size == self.count

    @property
    def weight(self) -> float:
        """How many rows each sample value stands for."""
        return self.count / self.sample.size if self.sample.size else 0.0


def numeric_piece(values: pd.Series | np.ndarray, rows: int | None = None) -> NumericPiece:
    """Summarise one numeric column (nulls and infinities are counted as missing)."""
    finite = _finite_values(values)
    total = len(values) if rows is None else rows
    n = int(finite.size)
    if n == 0:
        nan = float("nan")
        return NumericPiece(0, total, nan, 0.0, nan, nan, np.empty(0))
    ordered = np.sort(finite)
    mean = float(ordered.mean())
    return NumericPiece(
        count=n,
        missing=int(total - n),
        mean=mean,
        m2=float(np.sum((ordered - mean) ** 2)),
        min=float(ordered[0]),
        max=float(ordered[-1]),
        sample=_thin_sorted(ordered, MAX_REFERENCE_SAMPLE),
    )


def merge_moments(pieces: Sequence[NumericPiece]) -> tuple[int, float, float]:
    """Count, mean and population standard deviation of the union (Chan's parallel formula)."""
    n = sum(p.count for p in pieces)
    if n == 0:
        return 0, float("nan"), float("nan")
    mean = sum(p.count * p.mean for p in pieces if p.count) / n
    m2 = sum(p.m2 + p.count * (p.mean - mean) ** 2 for p in pieces if p.count)
    return n, float(mean), math.sqrt(max(m2, 0.0) / n)


def numeric_profile_from_pieces(name: str, pieces: Sequence[NumericPiece]) -> NumericProfile:
    """The drift profile of the union of several parts, from their pieces alone.

    When no piece was thinned the result equals :func:`profile_numeric` of the concatenated
    values; otherwise quantiles and the reference sample come from the weighted samples.
    """
    pieces = [p for p in pieces if p.count]
    if not pieces:
        return profile_numeric(name, pd.Series([], dtype=float))
    if all(p.exact for p in pieces):
        return profile_numeric(name, pd.Series(np.concatenate([p.sample for p in pieces])))
    _, mean, std = merge_moments(pieces)
    values = np.concatenate([p.sample for p in pieces])
    weights = np.concatenate([np.full(p.sample.size, p.weight) for p in pieces])
    return profile_numeric_weighted(name, values, weights, mean, std)


@dataclass(frozen=True, eq=False)
class PartStats:
    """Everything validation needs to know about one part without reading it again."""

    part_id: str
    rows: int
    numeric: dict[str, NumericPiece]
    categorical: dict[str, dict[str, int]]
    labels: dict[str, dict[str, int]] = field(default_factory=dict)
    """Label counts per class on each side of the holdout: ``{"train": {...}, "holdout": {...}}``."""
    label_pieces: dict[str, NumericPiece] = field(default_factory=dict)
    """A regression label on each side of the holdout (``labels`` is then empty); its samples are
    stored apart from the features' (``.label.npz``) so that parity reads only them."""


def statistics_key(config: PipelineConfig) -> str:
    """Hash of every setting the statistics depend on (a new key means recompute)."""
    d = config.dataset
    inputs = {
        "format": STATS_FORMAT,
        "sample": MAX_REFERENCE_SAMPLE,
        "numeric": d.numeric_names,
        "categorical": d.categorical_names,
        "label": d.label,
        "ids": list(d.id_columns),
        "salt": d.name,
        "holdout": config.evaluation.holdout_fraction,
    }
    if d.task != "binary":  # the label is summarised by task; binary keys stay as they always were
        inputs["task"] = d.task
    return json_sha256(inputs, compact=False)[:12]


def compute_part_stats(part_id: str, frame: pd.DataFrame, config: PipelineConfig) -> PartStats:
    """Summarise one part's rows (its whole frame, in stored order)."""
    from pipeline.modeling.evaluation import holdout_split

    dataset = config.dataset
    rows = len(frame)
    numeric = {
        c: numeric_piece(frame[c], rows) if c in frame.columns else numeric_piece(np.empty(0), rows)
        for c in dataset.numeric_names
    }
    categorical = {c: _category_counts(frame[c]) if c in frame.columns else {} for c in dataset.categorical_names}
    labels: dict[str, dict[str, int]] = {}
    label_pieces: dict[str, NumericPiece] = {}
    if dataset.label in frame.columns and rows:
        split = holdout_split(frame, config)
        label = frame[dataset.label]
        sides = {TRAIN: label.iloc[split.train_index], HOLDOUT: label.iloc[split.holdout_index]}
        if dataset.is_classification:
            labels = {side: label_counts(values) for side, values in sides.items()}
        else:
            label_pieces = {
                side: numeric_piece(pd.to_numeric(values, errors="coerce")) for side, values in sides.items()
            }
    return PartStats(
        part_id=part_id, rows=rows, numeric=numeric, categorical=categorical, labels=labels, label_pieces=label_pieces
    )


def _piece_meta(piece: NumericPiece, array: str) -> dict[str, Any]:
    return {
        "array": array,
        "count": piece.count,
        "missing": piece.missing,
        "mean": _json_float(piece.mean),
        "m2": piece.m2,
        "min": _json_float(piece.min),
        "max": _json_float(piece.max),
    }


def _piece_from_meta(d: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> NumericPiece:
    return NumericPiece(
        count=int(d["count"]),
        missing=int(d["missing"]),
        mean=_nan(d["mean"]),
        m2=float(d["m2"]),
        min=_nan(d["min"]),
        max=_nan(d["max"]),
        sample=arrays.get(d["array"], _NO_SAMPLE),
    )


def _npz(arrays: Mapping[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, allow_pickle=False, **arrays)  # plain float and byte arrays, never pickled objects
    return buf.getvalue()


def _load_npz(data: bytes | None) -> dict[str, np.ndarray]:
    if data is None:
        return {}
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {k: np.array(npz[k]) for k in npz.files}


def encode_label_samples(stats: PartStats) -> bytes | None:
    """The samples of a regression label's pieces (None for a class label: nothing to store)."""
    if not stats.label_pieces:
        return None
    return _npz({side: np.asarray(p.sample, dtype=np.float64) for side, p in stats.label_pieces.items()})


def encode_part_stats(stats: PartStats) -> tuple[bytes, bytes]:
    """Two objects for the store: a small JSON document of counts and moments, and the samples.

    Most readers (label counts, suite generation, parity) need only the JSON; the samples are
    read only to build a reference profile. A regression label's samples are a third object
    (:func:`encode_label_samples`); a class label's counts are in the JSON, as they always were.
    """
    arrays: dict[str, np.ndarray] = {}
    numeric = {}
    for i, (name, piece) in enumerate(stats.numeric.items()):
        arrays[f"s{i}"] = np.asarray(piece.sample, dtype=np.float64)
        numeric[name] = _piece_meta(piece, f"s{i}")
    meta: dict[str, Any] = {
        "format": STATS_FORMAT,
        "part_id": stats.part_id,
        "rows": stats.rows,
        "numeric": numeric,
        "categorical": stats.categorical,
        "labels": stats.labels,
    }
    if stats.label_pieces:  # regression only, so the JSON of a class label is byte-identical
        meta["label_pieces"] = {side: _piece_meta(p, side) for side, p in stats.label_pieces.items()}
    return json.dumps(meta, allow_nan=False).encode(), _npz(arrays)


_NO_SAMPLE = np.empty(0)


def decode_part_stats(meta_bytes: bytes, samples: bytes | None = None, label_samples: bytes | None = None) -> PartStats:
    """Inverse of :func:`encode_part_stats` (and :func:`encode_label_samples`); without
    ``samples`` (``label_samples``) the feature (label) pieces carry empty samples.

    The samples are plain arrays (``allow_pickle=False``: nothing executable is ever loaded).
    """
    meta = json.loads(meta_bytes)
    arrays = _load_npz(samples)
    numeric = {name: _piece_from_meta(d, arrays) for name, d in meta["numeric"].items()}
    label_arrays = _load_npz(label_samples)
    label_pieces = {side: _piece_from_meta(d, label_arrays) for side, d in meta.get("label_pieces", {}).items()}
    return PartStats(
        part_id=meta["part_id"],
        rows=int(meta["rows"]),
        numeric=numeric,
        categorical={c: {k: int(v) for k, v in counts.items()} for c, counts in meta["categorical"].items()},
        labels={side: {k: int(v) for k, v in counts.items()} for side, counts in meta["labels"].items()},
        label_pieces=label_pieces,
    )


def _json_float(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _nan(x: float | None) -> float:
    return float("nan") if x is None else float(x)


@dataclass
class StatisticsCache:
    """Per-part statistics in the object store; counts what it had to read (``parts_read``)."""

    store: ObjectStore
    config: PipelineConfig
    parts_read: int = 0
    hits: int = 0
    computed: int = 0

    @property
    def prefix(self) -> str:
        """Where this config's statistics live in the store."""
        return f"{STATS_PREFIX}/{statistics_key(self.config)}"

    def part_key(self, part_id: str) -> str:
        """Key of a part's JSON statistics (its samples are beside it, ``.samples.npz``)."""
        return f"{self.prefix}/parts/{part_id[:2]}/{part_id}.json"

    def _load(self, part_id: str, samples: bool, label_samples: bool = False) -> PartStats | None:
        key = self.part_key(part_id)
        if not self.store.exists(key):
            return None
        self.hits += 1
        blob = self.store.get(key.removesuffix(".json") + ".samples.npz") if samples else None
        label_key = key.removesuffix(".json") + ".label.npz"
        label_blob = self.store.get(label_key) if label_samples and self.store.exists(label_key) else None
        return decode_part_stats(self.store.get(key), blob, label_blob)

    def remember(self, part_id: str, frame: pd.DataFrame) -> PartStats:
        """Statistics of a part whose frame the caller already holds (computed once, then cached)."""
        cached = self._load(part_id, samples=True, label_samples=True)
        if cached is not None:
            return cached
        stats = compute_part_stats(part_id, frame, self.config)
        meta, samples = encode_part_stats(stats)
        key = self.part_key(part_id)
        self.store.put(key.removesuffix(".json") + ".samples.npz", samples)
        label_samples = encode_label_samples(stats)
        if label_samples is not None:
            self.store.put(key.removesuffix(".json") + ".label.npz", label_samples)
        self.store.put(key, meta)  # written last: its presence means the others are there
        self.computed += 1
        return stats

    def get(self, part: Part, samples: bool = False, label_samples: bool = False) -> PartStats:
        """Statistics of ``part``: from the cache, else by reading the part once.

        ``samples``/``label_samples``: also read the features'/a regression label's samples.
        """
        cached = self._load(part.id, samples, label_samples)
        return cached if cached is not None else self.remember(part.id, self.read_part(part))

    def read_part(self, part: Part) -> pd.DataFrame:
        """Read one part's rows (counted in ``parts_read``)."""
        self.parts_read += 1
        return load_parts(self.store, [part])

    def for_parts(self, parts: Iterable[Part], samples: bool = False, label_samples: bool = False) -> list[PartStats]:
        """Statistics of several parts, in order."""
        return [self.get(p, samples, label_samples) for p in parts]

    def profiles(self, snapshot: Snapshot) -> dict[str, Profile]:
        """Drift profiles of a whole snapshot, merged from its parts' samples and cached per snapshot."""
        key = f"{self.prefix}/profiles/{snapshot.id}.npz"
        if self.store.exists(key):
            self.hits += 1
            return decode_profiles(self.store.get(key))
        profiles = profiles_from_stats(self.for_parts(snapshot.parts, samples=True), self.config)
        self.store.put(key, encode_profiles(profiles))
        return profiles

    def label_profile(self, snapshot: Snapshot) -> NumericProfile:
        """The drift profile of a regression label over a whole snapshot (both sides of the
        holdout), merged from its parts' label samples and cached per snapshot."""
        key = f"{self.prefix}/label_profiles/{snapshot.id}.npz"
        if self.store.exists(key):
            cached = decode_profiles(self.store.get(key)).get(self.config.dataset.label)
            if isinstance(cached, NumericProfile):
                self.hits += 1
                return cached
        profile = label_profile_from_stats(self.for_parts(snapshot.parts, label_samples=True), self.config)
        self.store.put(key, encode_profiles({self.config.dataset.label: profile}))
        return profile

    def describe(self) -> dict[str, int]:
        """What this cache did: parts read, statistics computed, cache hits."""
        return {"parts_read": self.parts_read, "statistics_computed": self.computed, "statistics_cached": self.hits}


_PROFILE_ARRAYS = ("quantiles", "ref_bin_shares", "sorted_sample")


def encode_profiles(profiles: Mapping[str, Profile]) -> bytes:
    """Profiles in one binary object: numeric arrays as arrays, the rest as JSON (parsing a
    JSON list of 20 000 floats per feature would cost more than the drift tests themselves)."""
    arrays: dict[str, np.ndarray] = {}
    meta = {}
    for i, (name, profile) in enumerate(profiles.items()):
        d = profile.to_dict()
        for field_name in _PROFILE_ARRAYS:
            if field_name in d:
                arrays[f"p{i}_{field_name}"] = np.asarray(d.pop(field_name), dtype=np.float64)
        meta[name] = {**d, "index": i}
    arrays["meta"] = np.frombuffer(json.dumps(meta, allow_nan=False).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, allow_pickle=False, **arrays)  # plain float and byte arrays, never pickled objects
    return buf.getvalue()


def decode_profiles(data: bytes) -> dict[str, Profile]:
    """Inverse of :func:`encode_profiles` (``allow_pickle=False``)."""
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        meta = json.loads(bytes(npz["meta"]).decode())
        profiles = {}
        for name, d in meta.items():
            i = d.pop("index")
            d.update({f: npz[f"p{i}_{f}"] for f in _PROFILE_ARRAYS if f"p{i}_{f}" in npz.files})
            profiles[name] = profile_from_dict(d)
    return profiles


def profiles_from_stats(stats: Sequence[PartStats], config: PipelineConfig) -> dict[str, Profile]:
    """Drift profiles of the union of parts (declared features only, in config order)."""
    dataset = config.dataset
    profiles: dict[str, Profile] = {
        c: numeric_profile_from_pieces(c, [s.numeric[c] for s in stats if c in s.numeric])
        for c in dataset.numeric_names
    }
    for c in dataset.categorical_names:
        counts = add_counts(s.categorical.get(c, {}) for s in stats)
        total = sum(counts.values())
        profiles[c] = CategoricalProfile(
            name=c, shares={k: n / total for k, n in counts.items()} if total else {}, count=total
        )
    return profiles


def add_counts(counts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Sum several ``{level: count}`` mappings."""
    total: dict[str, int] = {}
    for c in counts:
        for k, n in c.items():
            total[k] = total.get(k, 0) + int(n)
    return total


def label_totals(stats: Sequence[PartStats], side: str | None = None) -> dict[str, int]:
    """Label counts over parts, on one side of the holdout or (``side=None``) both (classification)."""
    sides = (TRAIN, HOLDOUT) if side is None else (side,)
    return dict(sorted(add_counts(s.labels.get(x, {}) for s in stats for x in sides).items()))


def label_pieces(stats: Sequence[PartStats], side: str | None = None) -> list[NumericPiece]:
    """A regression label's pieces over parts, on one side of the holdout or (``side=None``) both."""
    sides = (TRAIN, HOLDOUT) if side is None else (side,)
    return [s.label_pieces[x] for s in stats for x in sides if x in s.label_pieces]


def label_profile_from_stats(
    stats: Sequence[PartStats], config: PipelineConfig, side: str | None = None
) -> NumericProfile:
    """The drift profile of a regression label over parts (read with ``label_samples=True``)."""
    return numeric_profile_from_pieces(config.dataset.label, label_pieces(stats, side))


@dataclass(frozen=True)
class DataSummary:
    """What a suite is generated from: row count and per-column facts of a set of parts."""

    rows: int
    numeric: dict[str, dict[str, Any]]
    categorical: dict[str, dict[str, int]]


def summarise(stats: Sequence[PartStats], config: PipelineConfig) -> DataSummary:
    """Merge part statistics into the facts a generated suite needs (no data is read)."""
    numeric: dict[str, dict[str, Any]] = {}
    for c in config.dataset.numeric_names:
        pieces = [s.numeric[c] for s in stats if c in s.numeric]
        finite = [p for p in pieces if p.count]
        numeric[c] = {
            "count": sum(p.count for p in pieces),
            "missing": sum(p.missing for p in pieces),
            "min": min((p.min for p in finite), default=None),
            "max": max((p.max for p in finite), default=None),
        }
    label = config.dataset.label
    if not config.dataset.is_classification and label not in numeric:  # a regression label, like a feature
        pieces = label_pieces(stats)
        finite = [p for p in pieces if p.count]
        numeric[label] = {
            "count": sum(p.count for p in pieces),
            "missing": sum(p.missing for p in pieces),
            "min": min((p.min for p in finite), default=None),
            "max": max((p.max for p in finite), default=None),
        }
    categorical = {c: add_counts(s.categorical.get(c, {}) for s in stats) for c in config.dataset.categorical_names}
    return DataSummary(rows=sum(s.rows for s in stats), numeric=numeric, categorical=categorical)
