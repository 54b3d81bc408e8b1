"""The drift statistics: one small pure function per test, and the registry that judges them.

Shaped after Evidently's stattests: each test is ``fn(reference_profile, current_values) ->
TestOutcome``, registered by name in :data:`DRIFT_TESTS` with the feature kinds it applies to,
whether it is judged on a p-value or on a distance, its default threshold and, for p-value tests,
the minimum effect size that must accompany a significant p-value. Where SciPy has the statistic it
is used (KS, chi-square, Jensen-Shannon, Benjamini-Hochberg); PSI and the merge-based Wasserstein
distance on presorted samples are written out here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial.distance import jensenshannon

from pipeline.core.errors import ConfigError
from pipeline.quality.drift_profiles import (
    CATEGORICAL,
    FEATURE_KINDS,
    NUMERIC,
    CategoricalProfile,
    NumericProfile,
    Profile,
    _category_counts,
    _finite_values,
)

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

TestKind = Literal["p_value", "distance"]


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


@dataclass(frozen=True, eq=False)
class CurrentNumeric:
    """The current values of one numeric feature, summarised chunk by chunk instead of held whole.

    ``count`` finite values were seen; ``sample`` holds all of them when there are at most
    :data:`MAX_CURRENT_SAMPLE` (so every test is exactly what it is on the whole column), else a
    seeded random sample of about that many drawn in proportion from each chunk (what the
    sort-based tests would have thinned to anyway); ``bin_counts`` are the exact counts of all
    finite values in the reference profile's bins (what ``psi`` and ``jensen_shannon`` read).
    """

    count: int
    sample: np.ndarray
    bin_counts: np.ndarray


def _current_sample(values: pd.Series | np.ndarray | Sequence[float] | CurrentNumeric) -> np.ndarray:
    """Finite current values, randomly (but reproducibly) thinned to MAX_CURRENT_SAMPLE."""
    finite = values.sample if isinstance(values, CurrentNumeric) else _finite_values(values)
    if finite.size <= MAX_CURRENT_SAMPLE:
        return finite
    rng = np.random.default_rng(_SUBSAMPLE_SEED)
    return finite[rng.choice(finite.size, MAX_CURRENT_SAMPLE, replace=False)]


def _share_vectors(reference: Profile, current: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """Reference and current shares on a common support: reference bins or union of levels."""
    if isinstance(reference, NumericProfile):
        if isinstance(current, CurrentNumeric):
            if current.count == 0 or reference.count == 0:
                return None
            return np.asarray(reference.ref_bin_shares), current.bin_counts / current.count
        finite = _finite_values(current)
        if finite.size == 0 or reference.count == 0:
            return None
        bins = np.searchsorted(reference.quantiles, finite, side="right")
        counts = np.bincount(bins, minlength=reference.quantiles.size + 1)
        return np.asarray(reference.ref_bin_shares), counts / finite.size
    level_counts = _category_counts(current)
    total = sum(level_counts.values())
    if total == 0 or reference.count == 0:
        return None
    levels = [*reference.shares, *(k for k in level_counts if k not in reference.shares)]
    ref = np.array([reference.shares.get(level, 0.0) for level in levels])
    cur = np.array([level_counts.get(level, 0) for level in levels], dtype=float) / total
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
    """Jensen-Shannon *distance* (base 2, so in [0, 1]) between two share vectors.

    SciPy normalises both vectors and returns the square root of the divergence, which is the
    number reported and thresholded. Rounding can leave the divergence of (nearly) equal vectors a
    hair below zero, where the square root is nan: that is a distance of 0, as it always was here.
    """
    with np.errstate(invalid="ignore"):
        distance = float(jensenshannon(p, q, base=2))
    return 0.0 if math.isnan(distance) else min(1.0, distance)


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
    false discovery rate across all features of a run instead. SciPy's
    ``false_discovery_control`` does the adjustment; it refuses a nan, which :func:`detect_drift`
    never passes (untestable features are left out), so a nan here makes every adjusted value
    nan, as the adjustment always did.
    """
    p = np.asarray(p_values, dtype=float).ravel()
    if p.size == 0:
        return p.copy()
    if np.isnan(p).any():
        return np.full(p.size, np.nan)
    return np.asarray(stats.false_discovery_control(p, method="bh"), dtype=float)
