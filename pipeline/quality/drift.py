"""Feature drift between a reference snapshot and a current batch.

Shaped after Evidently's stattests: each statistical test is one small pure function
``fn(reference_profile, current_values) -> TestOutcome``, registered by name in
:data:`DRIFT_TESTS` together with the feature kinds it applies to, whether it is judged on a
p-value or on a distance, its default threshold and, for p-value tests, the minimum effect size
that must accompany a significant p-value.

Reference statistics are summarised once into :class:`NumericProfile` /
:class:`CategoricalProfile` objects, which are JSON-serialisable so that they can be cached per
snapshot and reused for every later comparison without touching the reference data again.

The main entry point is :func:`detect_drift`, which picks a test per feature (or uses the
configured one), applies Benjamini-Hochberg across all p-value tests and returns a
:class:`DriftReport`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from pipeline.core.errors import ConfigError, ValidationFailed

logger = logging.getLogger(__name__)

NUMERIC = "numeric"
CATEGORICAL = "categorical"
FEATURE_KINDS = frozenset({NUMERIC, CATEGORICAL})

NULL_LEVEL = "__null__"
"""Level under which missing categorical values are counted."""

MAX_REFERENCE_SAMPLE = 20_000
"""Largest number of sorted reference values kept in a :class:`NumericProfile`."""

MAX_CURRENT_SAMPLE = 200_000
"""Largest number of current values fed to the sort-based tests (``ks``, ``wasserstein``).

With the reference capped at :data:`MAX_REFERENCE_SAMPLE`, a current sample ten times larger
already leaves the reference as the limiting source of noise; sorting more buys nothing.
"""

SMALL_SAMPLE = 5_000
"""Below this many values (in either sample) the automatic choice uses a p-value test.

Measured (docs/validation.md): with two samples of the same distribution the normalised
Wasserstein distance exceeds its 0.1 threshold for 4-5 % of features at 1 000 rows, 0.3 % at
2 000-3 000 and never (0 of 300, largest 0.06) at 5 000, so distances are trusted from 5 000 on.
"""

PSI_EPSILON = 1e-4
"""Share substituted for empty bins in PSI so that the logarithm stays finite."""

_SUBSAMPLE_SEED = 20_240_611
_DECILES = np.linspace(0.1, 0.9, 9)

TestKind = Literal["p_value", "distance"]


# --------------------------------------------------------------------------------------------
# Reference profiles
# --------------------------------------------------------------------------------------------


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


def _category_counts(values: pd.Series | np.ndarray | Sequence[Any]) -> dict[str, int]:
    """Count of each string level, nulls under :data:`NULL_LEVEL`."""
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


# --------------------------------------------------------------------------------------------
# Statistical tests: one pure function each
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TestOutcome:
    """Raw result of one drift test on one feature.

    ``score`` is the number the threshold is compared with: the (unadjusted) p-value for
    p-value tests, the distance for distance tests. ``effect_size`` is a scale-free measure of
    how large the change is (KS D, Cramér's V, or the distance itself).
    """

    __test__ = False  # not a pytest test class

    score: float
    p_value: float | None
    effect_size: float


_NAN = float("nan")


def _current_sample(values: pd.Series | np.ndarray | Sequence[float]) -> np.ndarray:
    """Finite current values, randomly (but reproducibly) thinned to MAX_CURRENT_SAMPLE."""
    finite = _finite_values(values)
    if finite.size <= MAX_CURRENT_SAMPLE:
        return finite
    rng = np.random.default_rng(_SUBSAMPLE_SEED)
    return finite[rng.choice(finite.size, MAX_CURRENT_SAMPLE, replace=False)]


def _share_vectors(reference: Profile, current: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """Reference and current shares on a common support: reference bins or union of levels."""
    if isinstance(reference, NumericProfile):
        finite = _finite_values(current)
        if finite.size == 0 or reference.count == 0:
            return None
        bins = np.searchsorted(reference.quantiles, finite, side="right")
        counts = np.bincount(bins, minlength=reference.quantiles.size + 1)
        return np.asarray(reference.ref_bin_shares), counts / finite.size
    counts = _category_counts(current)
    total = sum(counts.values())
    if total == 0 or reference.count == 0:
        return None
    levels = [*reference.shares, *(k for k in counts if k not in reference.shares)]
    ref = np.array([reference.shares.get(level, 0.0) for level in levels])
    cur = np.array([counts.get(level, 0) for level in levels], dtype=float) / total
    return ref, cur


def ks(reference: NumericProfile, current: Any) -> TestOutcome:
    """Two-sample Kolmogorov-Smirnov test against the stored reference sample.

    Sensitive to any change of shape or location; its p-value is reliable on small samples.
    """
    cur = _current_sample(current)
    if cur.size == 0 or reference.sorted_sample.size == 0:
        return TestOutcome(_NAN, _NAN, _NAN)
    result = stats.ks_2samp(reference.sorted_sample, cur)
    p_value = float(result.pvalue)
    return TestOutcome(score=p_value, p_value=p_value, effect_size=float(result.statistic))


def _population_stability_index(ref: np.ndarray, cur: np.ndarray) -> float:
    ref = np.clip(ref, PSI_EPSILON, None)
    cur = np.clip(cur, PSI_EPSILON, None)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def psi(reference: Profile, current: Any) -> TestOutcome:
    """Population Stability Index on the reference decile bins (numeric) or levels.

    The credit-scoring rule of thumb reads < 0.1 as stable and >= 0.2 as a major shift.
    """
    shares = _share_vectors(reference, current)
    if shares is None:
        return TestOutcome(_NAN, None, _NAN)
    value = _population_stability_index(*shares)
    return TestOutcome(score=value, p_value=None, effect_size=value)


def chi_square(reference: CategoricalProfile, current: Any) -> TestOutcome:
    """Chi-square test of homogeneity, reference counts vs current counts (all levels).

    The effect size is Cramér's V, so a "significant" but tiny change can be told apart from
    a real one.
    """
    counts = _category_counts(current)
    total = sum(counts.values())
    if total == 0 or reference.count == 0:
        return TestOutcome(_NAN, _NAN, _NAN)
    levels = [*reference.shares, *(k for k in counts if k not in reference.shares)]
    if len(levels) < 2:
        return TestOutcome(score=1.0, p_value=1.0, effect_size=0.0)
    ref_counts = np.rint([reference.shares.get(lv, 0.0) * reference.count for lv in levels])
    cur_counts = np.array([counts.get(lv, 0) for lv in levels], dtype=float)
    table = np.vstack([ref_counts, cur_counts])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return TestOutcome(score=1.0, p_value=1.0, effect_size=0.0)
    result = stats.chi2_contingency(table, correction=False)
    statistic = float(result.statistic)
    cramers_v = math.sqrt(statistic / table.sum()) if table.sum() else 0.0
    p_value = float(result.pvalue)
    return TestOutcome(score=p_value, p_value=p_value, effect_size=min(cramers_v, 1.0))


def _js_distance(p: np.ndarray, q: np.ndarray) -> float:
    p = p / p.sum()
    q = q / q.sum()
    m = 0.5 * (p + q)

    def kl(a: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / m[mask])))

    divergence = 0.5 * kl(p) + 0.5 * kl(q)
    return min(1.0, math.sqrt(max(divergence, 0.0)))


def jensen_shannon(reference: Profile, current: Any) -> TestOutcome:
    """Jensen-Shannon distance (base 2, in [0, 1]) on reference bins (numeric) or levels."""
    shares = _share_vectors(reference, current)
    if shares is None:
        return TestOutcome(_NAN, None, _NAN)
    value = _js_distance(*shares)
    return TestOutcome(score=value, p_value=None, effect_size=value)


def _wasserstein_sorted(a: np.ndarray, b: np.ndarray) -> float:
    """First Wasserstein distance between two sorted samples, via one linear merge."""
    m, n = a.size, b.size
    pos_a = np.searchsorted(b, a, side="right") + np.arange(m)
    from_a = np.zeros(m + n, dtype=bool)
    from_a[pos_a] = True
    merged = np.empty(m + n)
    merged[pos_a] = a
    merged[~from_a] = b
    taken_a = np.cumsum(from_a)[:-1]
    cdf_a = taken_a / m
    cdf_b = (np.arange(1, m + n) - taken_a) / n
    return float(np.sum(np.abs(cdf_a - cdf_b) * np.diff(merged)))


def _reference_scale(reference: NumericProfile) -> float:
    """Reference spread used to make Wasserstein scale-free: std, else IQR/1.349, else 1."""
    for scale in (reference.std, reference.iqr / 1.349):
        if math.isfinite(scale) and scale > 0:
            return float(scale)
    return 1.0


def wasserstein(reference: NumericProfile, current: Any) -> TestOutcome:
    """Wasserstein-1 distance in units of the reference standard deviation.

    Reads as "how many standard deviations the mass had to move on average", so 0.1 means a
    tenth of a std, whatever the feature's unit.
    """
    cur = _current_sample(current)
    if cur.size == 0 or reference.sorted_sample.size == 0:
        return TestOutcome(_NAN, None, _NAN)
    distance = _wasserstein_sorted(np.asarray(reference.sorted_sample), np.sort(cur))
    value = distance / _reference_scale(reference)
    return TestOutcome(score=value, p_value=None, effect_size=value)


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DriftTest:
    """A registered drift test: what it applies to and how its outcome is judged.

    ``kind == "p_value"``: drift when the BH-adjusted p-value < threshold **and** the effect
    size >= ``min_effect``. ``kind == "distance"``: drift when the score >= threshold.
    """

    name: str
    kinds: frozenset[str]
    fn: Callable[[Any, Any], TestOutcome]
    kind: TestKind
    default_threshold: float
    min_effect: float = 0.0

    def applies_to(self, feature_kind: str) -> bool:
        """Whether this test can run on a feature of the given kind."""
        return feature_kind in self.kinds

    def flags(self, outcome: TestOutcome, threshold: float, adjusted_p: float | None) -> bool:
        """Whether an outcome counts as drift under ``threshold``."""
        if self.kind == "p_value":
            p = outcome.p_value if adjusted_p is None else adjusted_p
            if p is None or not math.isfinite(p) or not math.isfinite(outcome.effect_size):
                return False
            return p < threshold and outcome.effect_size >= self.min_effect
        return math.isfinite(outcome.score) and outcome.score >= threshold


_NUM = frozenset({NUMERIC})
_CAT = frozenset({CATEGORICAL})
_BOTH = FEATURE_KINDS

DRIFT_TESTS: dict[str, DriftTest] = {
    t.name: t
    for t in (
        DriftTest("ks", _NUM, ks, "p_value", 0.05, min_effect=0.1),
        DriftTest("chi_square", _CAT, chi_square, "p_value", 0.05, min_effect=0.1),
        DriftTest("psi", _BOTH, psi, "distance", 0.2),
        DriftTest("jensen_shannon", _BOTH, jensen_shannon, "distance", 0.1),
        DriftTest("wasserstein", _NUM, wasserstein, "distance", 0.1),
    )
}


def get_drift_test(name: str, feature_kind: str | None = None) -> DriftTest:
    """Look up a registered drift test, optionally checking it applies to ``feature_kind``."""
    test = DRIFT_TESTS.get(name)
    if test is None:
        raise ConfigError(
            f"unknown drift test {name!r}; available tests are: {', '.join(sorted(DRIFT_TESTS))} (or 'auto')"
        )
    if feature_kind is not None and not test.applies_to(feature_kind):
        usable = sorted(n for n, t in DRIFT_TESTS.items() if t.applies_to(feature_kind))
        raise ConfigError(
            f"drift test {name!r} does not apply to {feature_kind} features; "
            f"use one of: {', '.join(usable)} (or 'auto')"
        )
    return test


def choose_test(kind: str, n_reference: int, n_current: int, small_sample: int = SMALL_SAMPLE) -> str:
    """Pick the drift test for a feature from its kind and the sample sizes.

    Small samples (fewer than ``small_sample`` values on either side, 5 000 by default) get a
    hypothesis test: ``ks`` for numeric and ``chi_square`` for categorical features. Their
    p-values are trustworthy there (and guarded by a minimum effect size), while a distance
    measured on a few thousand rows is too noisy for a fixed threshold.
    Large samples get a distance with a threshold: ``wasserstein`` (numeric) and
    ``jensen_shannon`` (categorical). With tens of thousands of rows every negligible change
    becomes "statistically significant", so what matters is how big the change is.
    """
    small = min(n_reference, n_current) < small_sample
    if kind == NUMERIC:
        return "ks" if small else "wasserstein"
    if kind == CATEGORICAL:
        return "chi_square" if small else "jensen_shannon"
    raise ConfigError(f"unknown feature kind {kind!r}; expected one of {sorted(FEATURE_KINDS)}")


def benjamini_hochberg(p_values: Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (monotone in the raw p-values, capped at 1).

    Testing 25 features at 0.05 would flag one by chance most days; adjusting controls the
    false discovery rate across all features of a run instead.
    """
    p = np.asarray(p_values, dtype=float).ravel()
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    monotone = np.minimum.accumulate(scaled[::-1])[::-1]
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(monotone, 1.0)
    return adjusted


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureDrift:
    """Drift verdict for one feature. ``score`` is nan when the feature could not be tested."""

    feature: str
    kind: str
    test: str
    score: float
    p_value: float | None
    adjusted_p_value: float | None
    effect_size: float
    threshold: float
    drifted: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (nan becomes ``None``)."""
        return {
            "feature": self.feature,
            "kind": self.kind,
            "test": self.test,
            "score": _float_or_none(self.score),
            "p_value": None if self.p_value is None else _float_or_none(self.p_value),
            "adjusted_p_value": (None if self.adjusted_p_value is None else _float_or_none(self.adjusted_p_value)),
            "effect_size": _float_or_none(self.effect_size),
            "threshold": float(self.threshold),
            "drifted": bool(self.drifted),
        }


@dataclass(frozen=True)
class DriftReport:
    """Per-feature drift verdicts plus the dataset-level verdict.

    ``drift_share`` is the share of *tested* features that drifted (features skipped for lack
    of values are listed but not counted).
    """

    features: tuple[FeatureDrift, ...]
    drift_share: float
    dataset_drifted: bool

    @property
    def drifted_features(self) -> list[str]:
        """Names of the features that drifted, in report order."""
        return [f.feature for f in self.features if f.drifted]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict."""
        return {
            "features": [f.to_dict() for f in self.features],
            "drift_share": float(self.drift_share),
            "dataset_drifted": bool(self.dataset_drifted),
            "drifted_features": self.drifted_features,
        }


def _check_overrides(
    profiles: Mapping[str, Profile],
    tests: Mapping[str, str],
    thresholds: Mapping[str, float],
) -> None:
    unknown_features = sorted(set(tests) - set(profiles))
    if unknown_features:
        raise ConfigError(
            f"drift tests configured for unknown features {unknown_features}; profiled features are {sorted(profiles)}"
        )
    for name in set(tests.values()) - {"auto"}:
        get_drift_test(name)
    for name, value in thresholds.items():
        get_drift_test(name)
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ConfigError(f"drift threshold for {name!r} must be a finite number >= 0, got {value!r}")


def _current_values(profile: Profile, column: pd.Series) -> tuple[Any, int]:
    """Values handed to the test function and how many of them can be tested."""
    if isinstance(profile, NumericProfile):
        finite = _finite_values(column)
        return finite, int(finite.size)
    return column, len(column)


def _reference_size(profile: Profile) -> int:
    if isinstance(profile, NumericProfile):
        return int(profile.count or profile.sorted_sample.size)
    return int(profile.count)


def detect_drift(
    reference_profiles: Mapping[str, Profile | Mapping[str, Any]],
    current: pd.DataFrame,
    tests: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    dataset_drift_share: float = 0.5,
    small_sample: int = SMALL_SAMPLE,
) -> DriftReport:
    """Compare a current batch with reference profiles, feature by feature.

    ``tests`` maps a feature to a test name (missing or ``"auto"``: :func:`choose_test`);
    ``thresholds`` maps a test name to a threshold overriding its default; ``small_sample`` is
    the sample size from which the automatic choice trusts distances. p-values of all
    p-value tests are Benjamini-Hochberg adjusted together before thresholding. The dataset
    drifts when the share of drifted features reaches ``dataset_drift_share``.

    Profiles may also be given as their :meth:`to_dict` form (as cached per snapshot).
    Raises :class:`ConfigError` for unknown tests/features in the overrides and
    :class:`ValidationFailed` when a profiled feature is not a column of ``current``.
    """
    reference_profiles = {
        name: profile_from_dict(p) if isinstance(p, Mapping) else p for name, p in reference_profiles.items()
    }
    tests = dict(tests or {})
    thresholds = dict(thresholds or {})
    _check_overrides(reference_profiles, tests, thresholds)
    missing = [name for name in reference_profiles if name not in current.columns]
    if missing:
        raise ValidationFailed(
            f"drift check: features {missing} are in the reference profiles but not in the "
            f"current data (columns are {list(current.columns)})"
        )

    rows: list[tuple[str, Profile, DriftTest, TestOutcome, bool]] = []
    for name, profile in reference_profiles.items():
        values, n_current = _current_values(profile, current[name])
        n_reference = _reference_size(profile)
        requested = tests.get(name, "auto")
        test_name = (
            choose_test(profile.kind, n_reference, n_current, small_sample) if requested == "auto" else requested
        )
        test = get_drift_test(test_name, profile.kind)
        if n_current == 0 or n_reference == 0:
            side = "current" if n_current == 0 else "reference"
            logger.warning("drift of %r not tested: the %s data has no usable values", name, side)
            outcome = TestOutcome(_NAN, _NAN if test.kind == "p_value" else None, _NAN)
            rows.append((name, profile, test, outcome, False))
            continue
        rows.append((name, profile, test, test.fn(profile, values), True))

    p_positions = [
        i
        for i, (_, _, t, o, tested) in enumerate(rows)
        if tested and t.kind == "p_value" and o.p_value is not None and math.isfinite(o.p_value)
    ]
    adjusted = benjamini_hochberg([rows[i][3].p_value for i in p_positions])  # type: ignore[misc]
    adjusted_by_row = dict(zip(p_positions, adjusted.tolist(), strict=True))

    features: list[FeatureDrift] = []
    for i, (name, profile, test, outcome, tested) in enumerate(rows):
        threshold = float(thresholds.get(test.name, test.default_threshold))
        adjusted_p = adjusted_by_row.get(i)
        if test.kind == "p_value" and adjusted_p is None:
            adjusted_p = _NAN
        features.append(
            FeatureDrift(
                feature=name,
                kind=profile.kind,
                test=test.name,
                score=outcome.score,
                p_value=outcome.p_value,
                adjusted_p_value=adjusted_p if test.kind == "p_value" else None,
                effect_size=outcome.effect_size,
                threshold=threshold,
                drifted=tested and test.flags(outcome, threshold, adjusted_p),
            )
        )

    n_tested = sum(1 for row in rows if row[4])
    n_drifted = sum(1 for f in features if f.drifted)
    share = n_drifted / n_tested if n_tested else 0.0
    report = DriftReport(features=tuple(features), drift_share=share, dataset_drifted=share >= dataset_drift_share)
    logger.info(
        "drift: %d of %d tested features drifted (share %.2f, dataset threshold %.2f): %s",
        n_drifted,
        n_tested,
        share,
        dataset_drift_share,
        report.drifted_features or "none",
    )
    return report
