"""Feature drift between a reference snapshot and a current batch: the verdict per feature.

Reference statistics are summarised once into profiles (:mod:`pipeline.quality.drift_profiles`);
the statistical tests and their registry live in :mod:`pipeline.quality.drift_tests`. This module
holds the entry point, :func:`detect_drift`, which picks a test per feature (or uses the configured
one), applies Benjamini-Hochberg across all p-value tests and returns a :class:`DriftReport`, the
typed result that is stored and serialised (:meth:`DriftReport.to_dict`) in one place. The names
of the two lower modules are re-exported so callers keep one import.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from pipeline.core.errors import ConfigError, ValidationFailed
from pipeline.quality.drift_current import CurrentData
from pipeline.quality.drift_profiles import (
    CATEGORICAL,
    FEATURE_KINDS,
    MAX_REFERENCE_SAMPLE,
    NULL_LEVEL,
    NUMERIC,
    CategoricalProfile,
    NumericProfile,
    Profile,
    _finite_values,
    _float_or_none,
    _none_to_nan,
    profile_categorical,
    profile_frame,
    profile_from_dict,
    profile_numeric,
    profile_numeric_weighted,
)
from pipeline.quality.drift_tests import (
    _NAN,
    DRIFT_TESTS,
    MAX_CURRENT_SAMPLE,
    PSI_EPSILON,
    SMALL_SAMPLE,
    CurrentNumeric,
    DriftTest,
    TestOutcome,
    benjamini_hochberg,
    chi_square,
    choose_test,
    get_drift_test,
    jensen_shannon,
    ks,
    psi,
    wasserstein,
)

__all__ = [
    "CATEGORICAL",
    "DRIFT_TESTS",
    "FEATURE_KINDS",
    "MAX_CURRENT_SAMPLE",
    "MAX_REFERENCE_SAMPLE",
    "NULL_LEVEL",
    "NUMERIC",
    "PSI_EPSILON",
    "SMALL_SAMPLE",
    "CategoricalProfile",
    "DriftReport",
    "DriftTest",
    "FeatureDrift",
    "NumericProfile",
    "Profile",
    "TestOutcome",
    "benjamini_hochberg",
    "chi_square",
    "choose_test",
    "detect_drift",
    "get_drift_test",
    "jensen_shannon",
    "ks",
    "profile_categorical",
    "profile_frame",
    "profile_from_dict",
    "profile_numeric",
    "profile_numeric_weighted",
    "psi",
    "wasserstein",
]

logger = logging.getLogger(__name__)


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

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureDrift:
        """Rebuild a verdict written by :meth:`to_dict`; ``None`` numbers are nan again.

        A p-value test that could not run stored ``None`` p-values; they come back as nan, as
        :func:`detect_drift` made them, so that a stored report reads back to the same verdict.
        """
        p_test = (test := DRIFT_TESTS.get(str(d["test"]))) is not None and test.kind == "p_value"

        def p(key: str) -> float | None:
            value = d.get(key)
            return (_NAN if p_test else None) if value is None else float(value)

        return cls(
            feature=str(d["feature"]),
            kind=str(d["kind"]),
            test=str(d["test"]),
            score=_none_to_nan(d.get("score")),
            p_value=p("p_value"),
            adjusted_p_value=p("adjusted_p_value"),
            effect_size=_none_to_nan(d.get("effect_size")),
            threshold=float(d["threshold"]),
            drifted=bool(d["drifted"]),
        )


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

    def summary(self) -> dict[str, Any]:
        """The dataset-level verdict without the per-feature rows (the drift check's details)."""
        return {
            "drifted_features": self.drifted_features,
            "drift_share": self.drift_share,
            "dataset_drifted": self.dataset_drifted,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DriftReport:
        """Rebuild a report written by :meth:`to_dict` (as stored with a validation)."""
        return cls(
            features=tuple(FeatureDrift.from_dict(f) for f in d["features"]),
            drift_share=float(d["drift_share"]),
            dataset_drifted=bool(d["dataset_drifted"]),
        )


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


def _current_values(profile: Profile, column: Any) -> tuple[Any, int]:
    """Values handed to the test function and how many of them can be tested."""
    if isinstance(column, CurrentNumeric):  # summarised chunk by chunk (pipeline.quality.drift_current)
        return column, column.count
    if isinstance(column, Mapping):  # level counts, summarised chunk by chunk
        return column, sum(column.values())
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
    current: pd.DataFrame | CurrentData,
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
    ``current`` is a frame, or the same rows summarised chunk by chunk (:class:`CurrentData`).
    Raises :class:`ConfigError` for unknown tests/features in the overrides and
    :class:`ValidationFailed` when a profiled feature is not a column of ``current``.
    """
    profiles: dict[str, Profile] = {
        name: profile_from_dict(p) if isinstance(p, Mapping) else p for name, p in reference_profiles.items()
    }
    tests = dict(tests or {})
    thresholds = dict(thresholds or {})
    _check_overrides(profiles, tests, thresholds)
    missing = [name for name in profiles if name not in current.columns]
    if missing:
        raise ValidationFailed(
            f"drift check: features {missing} are in the reference profiles but not in the "
            f"current data (columns are {list(current.columns)})"
        )

    rows: list[tuple[str, Profile, DriftTest, TestOutcome, bool]] = []
    for name, profile in profiles.items():
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
