"""Reference profiles for drift: each reference column summarised once, as a JSON-safe value.

A :class:`NumericProfile` keeps the reference deciles (as bin edges), the share of each bin, a
thinned sorted sample and the moments; a :class:`CategoricalProfile` keeps the share of each level.
They are cached per snapshot and merged from per-part pieces (:mod:`pipeline.quality.part_stats`),
so every later comparison runs the statistical tests (:mod:`pipeline.quality.drift_tests`) without
touching the reference data again.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.errors import ConfigError

logger = logging.getLogger(__name__)

NUMERIC = "numeric"
CATEGORICAL = "categorical"
FEATURE_KINDS = frozenset({NUMERIC, CATEGORICAL})

NULL_LEVEL = "__null__"
"""Level under which missing categorical values are counted."""

MAX_REFERENCE_SAMPLE = 20_000
"""Largest number of sorted reference values kept in a :class:`NumericProfile`."""


_DECILES = np.linspace(0.1, 0.9, 9)


def _float_or_none(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _none_to_nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _readonly(values: Any) -> np.ndarray:
    array = np.array(values, dtype=float).ravel()
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class NumericProfile:
    """Summary of one numeric reference column, enough to run every numeric drift test.

    ``quantiles`` are the unique reference deciles (10 % .. 90 %) used as interior bin edges;
    bin ``i`` holds values ``x`` with ``quantiles[i-1] <= x < quantiles[i]``, the outer bins
    are open-ended. ``ref_bin_shares`` has ``len(quantiles) + 1`` entries. ``sorted_sample``
    holds the sorted non-null reference values, thinned to evenly spaced order statistics when
    there are more than :data:`MAX_REFERENCE_SAMPLE`. ``count`` is the number of non-null
    reference values profiled (0 means the reference column was empty).
    """

    name: str
    quantiles: np.ndarray
    ref_bin_shares: np.ndarray
    sorted_sample: np.ndarray
    mean: float
    std: float
    iqr: float
    count: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "quantiles", _readonly(self.quantiles))
        object.__setattr__(self, "ref_bin_shares", _readonly(self.ref_bin_shares))
        object.__setattr__(self, "sorted_sample", _readonly(self.sorted_sample))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NumericProfile):
            return NotImplemented
        return (
            self.name == other.name
            and np.array_equal(self.quantiles, other.quantiles)
            and np.array_equal(self.ref_bin_shares, other.ref_bin_shares)
            and np.array_equal(self.sorted_sample, other.sorted_sample)
            and _same_float(self.mean, other.mean)
            and _same_float(self.std, other.std)
            and _same_float(self.iqr, other.iqr)
            and self.count == other.count
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def kind(self) -> str:
        """The feature kind this profile describes (``"numeric"``)."""
        return NUMERIC

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe dict (lists and floats, ``None`` for undefined statistics)."""
        return {
            "kind": NUMERIC,
            "name": self.name,
            "quantiles": self.quantiles.tolist(),
            "ref_bin_shares": self.ref_bin_shares.tolist(),
            "sorted_sample": self.sorted_sample.tolist(),
            "mean": _float_or_none(self.mean),
            "std": _float_or_none(self.std),
            "iqr": _float_or_none(self.iqr),
            "count": int(self.count),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> NumericProfile:
        """Rebuild a profile written by :meth:`to_dict` (e.g. from a per-snapshot cache)."""
        sample = d["sorted_sample"]
        return cls(
            name=str(d["name"]),
            quantiles=d["quantiles"],
            ref_bin_shares=d["ref_bin_shares"],
            sorted_sample=sample,
            mean=_none_to_nan(d.get("mean")),
            std=_none_to_nan(d.get("std")),
            iqr=_none_to_nan(d.get("iqr")),
            count=int(d.get("count", len(sample))),
        )


def _same_float(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


@dataclass(frozen=True)
class CategoricalProfile:
    """Summary of one categorical reference column: the share of each level and the row count.

    Levels are strings; missing values are the level :data:`NULL_LEVEL`.
    """

    name: str
    shares: dict[str, float]
    count: int

    @property
    def kind(self) -> str:
        """The feature kind this profile describes (``"categorical"``)."""
        return CATEGORICAL

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe dict."""
        return {
            "kind": CATEGORICAL,
            "name": self.name,
            "shares": {str(k): float(v) for k, v in self.shares.items()},
            "count": int(self.count),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CategoricalProfile:
        """Rebuild a profile written by :meth:`to_dict` (e.g. from a per-snapshot cache)."""
        return cls(
            name=str(d["name"]),
            shares={str(k): float(v) for k, v in d["shares"].items()},
            count=int(d["count"]),
        )


Profile = NumericProfile | CategoricalProfile


def profile_from_dict(d: Mapping[str, Any]) -> Profile:
    """Rebuild either kind of profile from :meth:`to_dict` output, dispatching on ``kind``."""
    kind = d.get("kind")
    if kind == NUMERIC:
        return NumericProfile.from_dict(d)
    if kind == CATEGORICAL:
        return CategoricalProfile.from_dict(d)
    raise ConfigError(
        f"cannot restore drift profile {d.get('name')!r}: kind {kind!r} is not one of "
        f"{sorted(FEATURE_KINDS)}; delete the cached profile so it is recomputed"
    )


def _finite_values(values: pd.Series | np.ndarray | Sequence[float]) -> np.ndarray:
    """Values as a 1-d float array with nulls and infinities removed."""
    if isinstance(values, pd.Series):
        array = values.to_numpy(dtype=float, na_value=np.nan)
    else:
        array = np.asarray(values, dtype=float).ravel()
    finite = np.isfinite(array)
    return array if finite.all() else array[finite]


def _level(label: Any) -> str:
    """The string level of one categorical value; integral floats lose their ``.0``."""
    if label is None or label is pd.NA or label is pd.NaT:
        return NULL_LEVEL
    if isinstance(label, (float, np.floating)):
        if math.isnan(label):
            return NULL_LEVEL
        if float(label).is_integer():
            return str(int(label))
    return str(label)


def _category_counts(values: pd.Series | np.ndarray | Sequence[Any] | Mapping[str, int]) -> dict[str, int]:
    """Count of each string level, nulls under :data:`NULL_LEVEL` (counts already made pass through)."""
    if isinstance(values, Mapping):
        return {str(k): int(n) for k, n in values.items() if n}
    if isinstance(values, pd.Series):
        series = values
    else:
        series = pd.Series(np.asarray(values, dtype=object))
    counted = series.value_counts(dropna=False, sort=False)
    counts: dict[str, int] = {}
    for label, n in zip(counted.index, counted.to_numpy(), strict=True):
        if n:
            key = _level(label)
            counts[key] = counts.get(key, 0) + int(n)
    return counts


def _thin_sorted(sorted_values: np.ndarray, limit: int) -> np.ndarray:
    """Evenly spaced order statistics of an already sorted array, at most ``limit`` of them."""
    n = sorted_values.size
    if n <= limit:
        return sorted_values
    positions = ((np.arange(limit) + 0.5) * (n / limit)).astype(np.int64)
    return sorted_values[positions]


def profile_numeric(name: str, values: pd.Series) -> NumericProfile:
    """Summarise a numeric reference column once, so drift tests never need the raw data.

    Nulls and infinities are ignored. An all-null column yields an empty profile
    (``count == 0``) which :func:`detect_drift` skips with a warning.
    """
    ordered = np.sort(_finite_values(values))
    n = int(ordered.size)
    if n == 0:
        logger.warning("drift profile of %r: reference column has no finite values", name)
        nan = float("nan")
        return NumericProfile(name, np.empty(0), np.ones(1), np.empty(0), nan, nan, nan, 0)
    edges = np.unique(np.quantile(ordered, _DECILES))
    below_edge = np.searchsorted(ordered, edges, side="left")
    counts = np.diff(np.concatenate(([0], below_edge, [n])))
    q25, q75 = np.quantile(ordered, [0.25, 0.75])
    return NumericProfile(
        name=name,
        quantiles=edges,
        ref_bin_shares=counts / n,
        sorted_sample=_thin_sorted(ordered, MAX_REFERENCE_SAMPLE),
        mean=float(ordered.mean()),
        std=float(ordered.std()),
        iqr=float(q75 - q25),
        count=n,
    )


def profile_numeric_weighted(
    name: str, values: np.ndarray, weights: np.ndarray, mean: float, std: float
) -> NumericProfile:
    """Profile from a weighted sample: each value stands for ``weight`` reference rows.

    Used to merge cached per-part samples into a snapshot profile without reading the parts:
    quantiles, bin shares and the thinned sample come from the weighted empirical distribution
    (error of the order of 1 / :data:`MAX_REFERENCE_SAMPLE` in rank); ``mean`` and ``std`` are
    exact, merged by the caller from per-part moments.
    """
    order = np.argsort(values, kind="stable")
    ordered = np.asarray(values, dtype=float)[order]
    cumulative = np.cumsum(np.asarray(weights, dtype=float)[order])
    total = float(cumulative[-1]) if cumulative.size else 0.0
    if total <= 0:
        return profile_numeric(name, pd.Series(ordered))

    def at_share(shares: np.ndarray) -> np.ndarray:
        index = np.searchsorted(cumulative, shares * total, side="left")
        return ordered[np.minimum(index, ordered.size - 1)]

    edges = np.unique(at_share(_DECILES))
    below_edge = np.searchsorted(ordered, edges, side="left")
    weight_below = np.where(below_edge > 0, cumulative[np.maximum(below_edge - 1, 0)], 0.0)
    shares = np.diff(np.concatenate(([0.0], weight_below, [total]))) / total
    limit = min(MAX_REFERENCE_SAMPLE, ordered.size)
    thinned = at_share((np.arange(limit) + 0.5) / limit)
    q25, q75 = at_share(np.array([0.25, 0.75]))
    return NumericProfile(
        name=name,
        quantiles=edges,
        ref_bin_shares=shares,
        sorted_sample=thinned,
        mean=float(mean),
        std=float(std),
        iqr=float(q75 - q25),
        count=round(total),
    )


def profile_categorical(name: str, values: pd.Series) -> CategoricalProfile:
    """Summarise a categorical reference column as level shares (nulls are level ``__null__``)."""
    counts = _category_counts(values)
    total = sum(counts.values())
    shares = {level: n / total for level, n in counts.items()} if total else {}
    if not total:
        logger.warning("drift profile of %r: reference column is empty", name)
    return CategoricalProfile(name=name, shares=shares, count=total)


def profile_frame(df: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str]) -> dict[str, Profile]:
    """Profile every declared feature of a reference frame, keyed by column name."""
    overlap = sorted(set(numeric) & set(categorical))
    if overlap:
        raise ConfigError(f"features declared both numeric and categorical: {overlap}")
    missing = [c for c in (*numeric, *categorical) if c not in df.columns]
    if missing:
        raise ConfigError(
            f"cannot profile features {missing}: not columns of the reference frame "
            f"(columns are {list(df.columns)}); fix the feature lists in the config"
        )
    profiles: dict[str, Profile] = {c: profile_numeric(c, df[c]) for c in numeric}
    profiles.update({c: profile_categorical(c, df[c]) for c in categorical})
    return profiles
