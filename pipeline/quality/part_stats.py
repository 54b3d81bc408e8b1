"""Statistics of each snapshot part, computed once and cached in the object store by part id.

Parts are immutable, so whatever is learnt from one (a thinned sorted sample and the moments of
each numeric feature, the level counts of each categorical feature, the label counts on either
side of the holdout) never changes. Validation computes them for the new parts it reads anyway
and stores them; everything it needs about older data (the reference snapshot's drift profiles,
its label shares, the data a suite is generated from, train/holdout label parity over the whole
snapshot) is then merged from these small pieces, so validating an append reads only the append.

The cache key includes a hash of everything the statistics depend on (feature lists, label, id
columns, holdout settings, format), so changing the config never reuses stale statistics.
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
    if dataset.label in frame.columns and rows:
        split = holdout_split(frame, config)
        label = frame[dataset.label]
        labels = {
            TRAIN: label_counts(label.iloc[split.train_index]),
            HOLDOUT: label_counts(label.iloc[split.holdout_index]),
        }
    return PartStats(part_id=part_id, rows=rows, numeric=numeric, categorical=categorical, labels=labels)


def encode_part_stats(stats: PartStats) -> tuple[bytes, bytes]:
    """Two objects for the store: a small JSON document of counts and moments, and the samples.

    Most readers (label counts, suite generation, parity) need only the JSON; the samples are
    read only to build a reference profile.
    """
    arrays: dict[str, np.ndarray] = {}
    numeric = {}
    for i, (name, piece) in enumerate(stats.numeric.items()):
        arrays[f"s{i}"] = np.asarray(piece.sample, dtype=np.float64)
        numeric[name] = {
            "array": f"s{i}",
            "count": piece.count,
            "missing": piece.missing,
            "mean": _json_float(piece.mean),
            "m2": piece.m2,
            "min": _json_float(piece.min),
            "max": _json_float(piece.max),
        }
    meta = {
        "format": STATS_FORMAT,
        "part_id": stats.part_id,
        "rows": stats.rows,
        "numeric": numeric,
        "categorical": stats.categorical,
        "labels": stats.labels,
    }
    buf = io.BytesIO()
    np.savez(buf, allow_pickle=False, **arrays)  # plain float and byte arrays, never pickled objects
    return json.dumps(meta, allow_nan=False).encode(), buf.getvalue()


_NO_SAMPLE = np.empty(0)


def decode_part_stats(meta_bytes: bytes, samples: bytes | None = None) -> PartStats:
    """Inverse of :func:`encode_part_stats`; without ``samples`` the pieces carry empty samples.

    The samples are plain arrays (``allow_pickle=False``: nothing executable is ever loaded).
    """
    meta = json.loads(meta_bytes)
    arrays: dict[str, np.ndarray] = {}
    if samples is not None:
        with np.load(io.BytesIO(samples), allow_pickle=False) as npz:
            arrays = {k: np.array(npz[k]) for k in npz.files}
    numeric = {
        name: NumericPiece(
            count=int(d["count"]),
            missing=int(d["missing"]),
            mean=_nan(d["mean"]),
            m2=float(d["m2"]),
            min=_nan(d["min"]),
            max=_nan(d["max"]),
            sample=arrays.get(d["array"], _NO_SAMPLE),
        )
        for name, d in meta["numeric"].items()
    }
    return PartStats(
        part_id=meta["part_id"],
        rows=int(meta["rows"]),
        numeric=numeric,
        categorical={c: {k: int(v) for k, v in counts.items()} for c, counts in meta["categorical"].items()},
        labels={side: {k: int(v) for k, v in counts.items()} for side, counts in meta["labels"].items()},
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

    def _load(self, part_id: str, samples: bool) -> PartStats | None:
        key = self.part_key(part_id)
        if not self.store.exists(key):
            return None
        self.hits += 1
        blob = self.store.get(key.removesuffix(".json") + ".samples.npz") if samples else None
        return decode_part_stats(self.store.get(key), blob)

    def remember(self, part_id: str, frame: pd.DataFrame) -> PartStats:
        """Statistics of a part whose frame the caller already holds (computed once, then cached)."""
        cached = self._load(part_id, samples=True)
        if cached is not None:
            return cached
        stats = compute_part_stats(part_id, frame, self.config)
        meta, samples = encode_part_stats(stats)
        key = self.part_key(part_id)
        self.store.put(key.removesuffix(".json") + ".samples.npz", samples)
        self.store.put(key, meta)  # written last: its presence means both are there
        self.computed += 1
        return stats

    def get(self, part: Part, samples: bool = False) -> PartStats:
        """Statistics of ``part``: from the cache, else by reading the part once."""
        cached = self._load(part.id, samples)
        return cached if cached is not None else self.remember(part.id, self.read_part(part))

    def read_part(self, part: Part) -> pd.DataFrame:
        """Read one part's rows (counted in ``parts_read``)."""
        self.parts_read += 1
        return load_parts(self.store, [part])

    def for_parts(self, parts: Iterable[Part], samples: bool = False) -> list[PartStats]:
        """Statistics of several parts, in order."""
        return [self.get(p, samples) for p in parts]

    def profiles(self, snapshot: Snapshot) -> dict[str, Profile]:
        """Drift profiles of a whole snapshot, merged from its parts' samples and cached per snapshot."""
        key = f"{self.prefix}/profiles/{snapshot.id}.npz"
        if self.store.exists(key):
            self.hits += 1
            return decode_profiles(self.store.get(key))
        profiles = profiles_from_stats(self.for_parts(snapshot.parts, samples=True), self.config)
        self.store.put(key, encode_profiles(profiles))
        return profiles

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
    """Label counts over parts, on one side of the holdout or (``side=None``) both."""
    sides = (TRAIN, HOLDOUT) if side is None else (side,)
    return dict(sorted(add_counts(s.labels.get(x, {}) for s in stats for x in sides).items()))


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
    categorical = {c: add_counts(s.categorical.get(c, {}) for s in stats) for c in config.dataset.categorical_names}
    return DataSummary(rows=sum(s.rows for s in stats), numeric=numeric, categorical=categorical)
