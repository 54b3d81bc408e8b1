"""Pinned outputs of the drift statistics, so that moving them onto SciPy changes no number.

The expected values were produced by the hand-written implementations (BH adjustment, Jensen-Shannon
distance) before they were replaced by ``scipy.stats.false_discovery_control`` and
``scipy.spatial.distance.jensenshannon``; every test outcome, adjusted p-value and drift verdict must
still agree to 1e-12, including the edge cases (empty categories, zero shares, a single value, tied
p-values, no usable values).
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipeline.quality.drift import (
    DRIFT_TESTS,
    CategoricalProfile,
    DriftReport,
    benjamini_hochberg,
    detect_drift,
    profile_categorical,
    profile_frame,
    profile_numeric,
)
from pipeline.quality.drift_tests import _js_distance

nan = float("nan")
TOL = 1e-12


def _numeric_cases() -> dict[str, tuple[Any, Any]]:
    rng = np.random.default_rng(7)
    ref = profile_numeric("x", pd.Series(rng.normal(0, 1, 500)))
    single = profile_numeric("s", pd.Series([1.0] * 50))
    return {
        "shifted": (ref, rng.normal(0.3, 1.2, 400)),
        "same": (ref, rng.normal(0, 1, 400)),
        "one_value_current": (ref, np.array([0.25])),
        "with_nan_inf": (ref, np.array([0.1, np.nan, -0.4, np.inf, 2.0, -1.5])),
        "single_value_same": (single, np.array([1.0] * 30)),
        "single_value_moved": (single, np.array([2.0] * 30)),
        "empty_current": (ref, np.array([], dtype=float)),
    }


def _categorical_cases() -> dict[str, tuple[Any, Any]]:
    ref = profile_categorical("c", pd.Series(["a"] * 50 + ["b"] * 30 + ["c"] * 20))
    return {
        "shifted": (ref, pd.Series(["a"] * 20 + ["b"] * 40 + ["c"] * 40)),
        "new_and_missing_level": (ref, pd.Series(["a"] * 30 + ["b"] * 30 + ["d"] * 10 + [None] * 5)),
        "empty_category_in_reference": (
            CategoricalProfile("z", {"a": 0.5, "b": 0.5, "z": 0.0}, 100),
            pd.Series(["a"] * 10 + ["b"] * 12),
        ),
        "single_level": (CategoricalProfile("one", {"a": 1.0}, 40), pd.Series(["a"] * 10)),
        "single_level_moved": (CategoricalProfile("one", {"a": 1.0}, 40), pd.Series(["b"] * 10)),
        "identical": (ref, pd.Series(["a"] * 5 + ["b"] * 3 + ["c"] * 2)),
        "empty_current": (ref, pd.Series([], dtype=object)),
    }


def _report_case() -> tuple[dict[str, Any], pd.DataFrame, dict[str, str]]:
    rng = np.random.default_rng(11)
    ref = pd.DataFrame(
        {
            "n1": rng.normal(0, 1, 300),
            "n2": rng.exponential(1, 300),
            "n3": rng.normal(5, 2, 300),
            "c1": rng.choice(["a", "b", "c"], 300, p=[0.5, 0.3, 0.2]),
            "c2": rng.choice(["x", "y"], 300),
            "empty": [np.nan] * 300,
        }
    )
    cur = pd.DataFrame(
        {
            "n1": rng.normal(0.4, 1, 200),
            "n2": rng.exponential(1, 200),
            "n3": rng.normal(5, 2, 200),
            "c1": rng.choice(["a", "b", "c", "d"], 200, p=[0.3, 0.3, 0.3, 0.1]),
            "c2": rng.choice(["x", "y"], 200),
            "empty": rng.normal(0, 1, 200),
        }
    )
    profiles = profile_frame(ref, ["n1", "n2", "n3", "empty"], ["c1", "c2"])
    return profiles, cur, {"n3": "jensen_shannon", "c2": "jensen_shannon"}


EXPECTED_OUTCOMES: dict[tuple[str, str, str], tuple[float, float | None, float]] = {
    ("numeric", "shifted", "ks"): (1.093487710099727e-06, 1.093487710099727e-06, 0.179),
    ("numeric", "shifted", "psi"): (0.21088154620993593, None, 0.21088154620993593),
    ("numeric", "shifted", "jensen_shannon"): (0.1923878262193919, None, 0.1923878262193919),
    ("numeric", "shifted", "wasserstein"): (0.390816957228112, None, 0.390816957228112),
    ("numeric", "same", "ks"): (0.055780340656114584, 0.055780340656114584, 0.089),
    ("numeric", "same", "psi"): (0.07852529831582784, None, 0.07852529831582784),
    ("numeric", "same", "jensen_shannon"): (0.1182286992500205, None, 0.1182286992500205),
    ("numeric", "same", "wasserstein"): (0.17317934113146646, None, 0.17317934113146646),
    ("numeric", "one_value_current", "ks"): (0.6506986027944109, 0.6506986027944109, 0.676),
    ("numeric", "one_value_current", "psi"): (8.283089355027482, None, 8.283089355027482),
    ("numeric", "one_value_current", "jensen_shannon"): (0.8707908228691708, None, 0.8707908228691708),
    ("numeric", "one_value_current", "wasserstein"): (0.8669146050675122, None, 0.8669146050675122),
    ("numeric", "with_nan_inf", "ks"): (0.9407697769824075, 0.9407697769824075, 0.238),
    ("numeric", "with_nan_inf", "psi"): (4.690282953346386, None, 4.690282953346386),
    ("numeric", "with_nan_inf", "jensen_shannon"): (0.6291387780159147, None, 0.6291387780159147),
    ("numeric", "with_nan_inf", "wasserstein"): (0.4419813436249107, None, 0.4419813436249107),
    ("numeric", "single_value_same", "ks"): (1.0, 1.0, 0.0),
    ("numeric", "single_value_same", "psi"): (0.0, None, 0.0),
    ("numeric", "single_value_same", "jensen_shannon"): (0.0, None, 0.0),
    ("numeric", "single_value_same", "wasserstein"): (0.0, None, 0.0),
    ("numeric", "single_value_moved", "ks"): (2.2544324166478055e-22, 2.2544324166478055e-22, 1.0),
    ("numeric", "single_value_moved", "psi"): (0.0, None, 0.0),
    ("numeric", "single_value_moved", "jensen_shannon"): (0.0, None, 0.0),
    ("numeric", "single_value_moved", "wasserstein"): (1.0, None, 1.0),
    ("numeric", "empty_current", "ks"): (nan, nan, nan),
    ("numeric", "empty_current", "psi"): (nan, None, nan),
    ("numeric", "empty_current", "jensen_shannon"): (nan, None, nan),
    ("numeric", "empty_current", "wasserstein"): (nan, None, nan),
    ("categorical", "shifted", "chi_square"): (2.8199946528049074e-05, 2.8199946528049074e-05, 0.3236694374850748),
    ("categorical", "shifted", "psi"): (0.4422848629194136, None, 0.4422848629194136),
    ("categorical", "shifted", "jensen_shannon"): (0.27854838569509666, None, 0.27854838569509666),
    ("categorical", "new_and_missing_level", "chi_square"): (
        1.6479898768684692e-07,
        1.6479898768684692e-07,
        0.4609772228646444,
    ),
    ("categorical", "new_and_missing_level", "psi"): (2.9620108495362847, None, 2.9620108495362847),
    ("categorical", "new_and_missing_level", "jensen_shannon"): (0.4573684788666706, None, 0.4573684788666706),
    ("categorical", "empty_category_in_reference", "chi_square"): (
        0.6994243852865399,
        0.6994243852865399,
        0.03495563449841395,
    ),
    ("categorical", "empty_category_in_reference", "psi"): (0.008287343490634296, None, 0.008287343490634296),
    ("categorical", "empty_category_in_reference", "jensen_shannon"): (0.03865220794668758, None, 0.03865220794668758),
    ("categorical", "single_level", "chi_square"): (1.0, 1.0, 0.0),
    ("categorical", "single_level", "psi"): (0.0, None, 0.0),
    ("categorical", "single_level", "jensen_shannon"): (0.0, None, 0.0),
    ("categorical", "single_level_moved", "chi_square"): (1.537459794428033e-12, 1.537459794428033e-12, 1.0),
    ("categorical", "single_level_moved", "psi"): (18.41883867587797, None, 18.41883867587797),
    ("categorical", "single_level_moved", "jensen_shannon"): (1.0, None, 1.0),
    ("categorical", "identical", "chi_square"): (1.0, 1.0, 0.0),
    ("categorical", "identical", "psi"): (0.0, None, 0.0),
    ("categorical", "identical", "jensen_shannon"): (0.0, None, 0.0),
    ("categorical", "empty_current", "chi_square"): (nan, nan, nan),
    ("categorical", "empty_current", "psi"): (nan, None, nan),
    ("categorical", "empty_current", "jensen_shannon"): (nan, None, nan),
}


def _close(actual: float | None, expected: float | None) -> bool:
    if expected is None or actual is None:
        return actual is expected
    if math.isnan(expected):
        return math.isnan(actual)
    return abs(actual - expected) <= TOL


@pytest.mark.parametrize("key", sorted(EXPECTED_OUTCOMES), ids="-".join)
def test_every_drift_test_outcome_is_pinned(key: tuple[str, str, str]) -> None:
    kind, case, test = key
    reference, current = (_numeric_cases() if kind == "numeric" else _categorical_cases())[case]
    outcome = DRIFT_TESTS[test].fn(reference, current)
    expected = EXPECTED_OUTCOMES[key]
    actual = (outcome.score, outcome.p_value, outcome.effect_size)
    assert all(_close(a, e) for a, e in zip(actual, expected, strict=True)), (actual, expected)


def test_every_case_is_pinned_for_every_applicable_test() -> None:
    for kind, cases in (("numeric", _numeric_cases()), ("categorical", _categorical_cases())):
        for case in cases:
            for name, test in DRIFT_TESTS.items():
                assert (kind, case, name) in EXPECTED_OUTCOMES or not test.applies_to(kind)


@pytest.mark.parametrize(
    ("p_values", "expected"),
    [
        ([], []),
        ([0.5], [0.5]),
        ([0.01, 0.04, 0.03, 0.2], [0.04, 0.05333333333333334, 0.05333333333333334, 0.2]),
        ([0.05, 0.05, 0.05, 0.05], [0.05, 0.05, 0.05, 0.05]),
        ([0.0, 0.0, 0.5], [0.0, 0.0, 0.5]),
        ([1.0, 1.0], [1.0, 1.0]),
        ([0.01, 0.01, 0.02, 0.9, 0.3], [0.025, 0.025, 0.03333333333333333, 0.9, 0.375]),
        ([0.6, 0.7, 0.8], [0.8, 0.8, 0.8]),
    ],
)
def test_benjamini_hochberg_is_pinned(p_values: list[float], expected: list[float]) -> None:
    adjusted = benjamini_hochberg(p_values)
    assert adjusted.shape == (len(expected),)
    np.testing.assert_allclose(adjusted, expected, rtol=0, atol=TOL)


def test_benjamini_hochberg_with_a_nan_p_value_is_all_nan() -> None:
    """The old adjustment let one NaN spread to every p-value; detect_drift never passes one."""
    assert np.isnan(benjamini_hochberg([0.2, nan, 0.01])).all()


EXPECTED_REPORT: dict[str, Any] = {
    "features": [
        (
            "n1",
            "numeric",
            "ks",
            2.3442970360179507e-06,
            2.3442970360179507e-06,
            3.516445554026926e-06,
            0.23666666666666666,
            0.05,
            True,
        ),
        ("n2", "numeric", "ks", 0.9149913972436401, 0.9149913972436401, 0.91499139724364, 0.05, 0.05, False),
        ("n3", "numeric", "jensen_shannon", 0.08722693560538058, None, None, 0.08722693560538058, 0.1, False),
        ("empty", "numeric", "ks", None, None, None, None, 0.05, False),
        (
            "c1",
            "categorical",
            "chi_square",
            1.8439472565214993e-08,
            1.8439472565214993e-08,
            5.531841769564498e-08,
            0.27884020641289703,
            0.05,
            True,
        ),
        ("c2", "categorical", "jensen_shannon", 0.0028318462925751853, None, None, 0.0028318462925751853, 0.1, False),
    ],
    "drift_share": 0.4,
    "dataset_drifted": False,
    "drifted_features": ["n1", "c1"],
}


def test_detect_drift_report_is_pinned() -> None:
    """BH across the p-value tests, JS on the overridden features, an untestable feature skipped."""
    profiles, current, tests = _report_case()
    report = detect_drift(profiles, current, tests=tests).to_dict()
    fields = ("feature", "kind", "test", "score", "p_value", "adjusted_p_value", "effect_size", "threshold", "drifted")
    assert len(report["features"]) == len(EXPECTED_REPORT["features"])
    for got, want in zip(report["features"], EXPECTED_REPORT["features"], strict=True):
        assert list(got) == list(fields)
        for name, expected in zip(fields, want, strict=True):
            value = got[name]
            if isinstance(expected, float):
                assert value is not None and abs(value - expected) <= TOL, (got["feature"], name, value, expected)
            else:
                assert value == expected, (got["feature"], name, value, expected)
    assert {k: report[k] for k in ("drift_share", "dataset_drifted", "drifted_features")} == {
        k: EXPECTED_REPORT[k] for k in ("drift_share", "dataset_drifted", "drifted_features")
    }


@pytest.mark.parametrize(
    ("p", "q", "expected"),
    [
        ([0.5, 0.5], [0.5, 0.5], 0.0),
        ([1.0, 0.0], [0.0, 1.0], 1.0),
        ([0.2, 0.3, 0.5], [0.1, 0.1, 0.8], 0.27421926797752677),
        ([0.3, 0.7, 0.0], [0.3, 0.69999, 1e-5], 0.002236073738185633),
        ([2.0, 3.0, 5.0], [1.0, 1.0, 8.0], 0.27421926797752677),
        ([0.25] * 4, [0.25 + 1e-15, 0.25, 0.25, 0.25 - 1e-15], 1.2161883888976235e-15),
    ],
)
def test_jensen_shannon_distance_is_pinned(p: list[float], q: list[float], expected: float) -> None:
    """The reported number is the base-2 distance (square root of the divergence), never nan."""
    value = _js_distance(np.array(p), np.array(q))
    assert 0.0 <= value <= 1.0 and abs(value - expected) <= TOL


def test_drift_reexports_the_statistics_module() -> None:
    """Callers importing from pipeline.quality.drift get the very objects of drift_tests/drift_profiles."""
    from pipeline.quality import drift, drift_profiles, drift_tests

    assert drift.DRIFT_TESTS is drift_tests.DRIFT_TESTS and drift.benjamini_hochberg is drift_tests.benjamini_hochberg
    assert drift.NumericProfile is drift_profiles.NumericProfile


def test_a_stored_drift_report_reads_back_to_the_same_verdicts() -> None:
    """DriftReport.to_dict is the one serialised form; from_dict restores nan where None was written."""
    profiles, current, tests = _report_case()
    report = detect_drift(profiles, current, tests=tests)
    restored = DriftReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert restored.to_dict() == report.to_dict()
    assert restored.drifted_features == report.drifted_features == ["n1", "c1"]
    skipped = next(f for f in restored.features if f.feature == "empty")
    assert math.isnan(skipped.score) and skipped.p_value is not None and math.isnan(skipped.p_value)
    js = next(f for f in restored.features if f.feature == "n3")
    assert js.p_value is None and js.adjusted_p_value is None
    assert report.summary() == {"drifted_features": ["n1", "c1"], "drift_share": 0.4, "dataset_drifted": False}
