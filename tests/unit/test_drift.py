"""Unit tests of pipeline.quality.drift."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pipeline.core.errors import ConfigError, ValidationFailed
from pipeline.quality.drift import (
    DRIFT_TESTS,
    CategoricalProfile,
    NumericProfile,
    benjamini_hochberg,
    choose_test,
    detect_drift,
    get_drift_test,
    profile_categorical,
    profile_frame,
    profile_from_dict,
    profile_numeric,
)

LEVELS = np.array(["a", "b", "c"])
NUMERIC_TESTS = sorted(n for n, t in DRIFT_TESTS.items() if "numeric" in t.kinds)
CATEGORICAL_TESTS = sorted(n for n, t in DRIFT_TESTS.items() if "categorical" in t.kinds)


def normal(seed: int | list[int], n: int, shift: float = 0.0) -> pd.Series:
    return pd.Series(np.random.default_rng(seed).normal(10.0 + shift, 2.0, n))


def categories(seed: int | list[int], n: int, shares: tuple[float, ...] = (0.5, 0.3, 0.2)) -> pd.Series:
    return pd.Series(np.random.default_rng(seed).choice(LEVELS, size=n, p=shares))


def flagged(test_name: str, profile: NumericProfile | CategoricalProfile, current: pd.Series) -> bool:
    test = DRIFT_TESTS[test_name]
    return test.flags(test.fn(profile, current), test.default_threshold, None)


# ---------------------------------------------------------------- same distribution


@pytest.mark.parametrize("n", [2_000, 20_000])
def test_same_distribution_never_flags_at_default_thresholds(n: int) -> None:
    for seed in range(20):
        ref_num = profile_numeric("x", normal([seed, 0], n))
        ref_cat = profile_categorical("c", categories([seed, 0], n))
        cur_num = normal([seed, 1], n)
        cur_cat = categories([seed, 1], n)
        for name in NUMERIC_TESTS:
            assert not flagged(name, ref_num, cur_num), (name, seed, n)
        for name in CATEGORICAL_TESTS:
            assert not flagged(name, ref_cat, cur_cat), (name, seed, n)


def test_same_distribution_detect_drift_reports_nothing() -> None:
    ref = pd.DataFrame({"x": normal(1, 5_000), "c": categories(1, 5_000)})
    cur = pd.DataFrame({"x": normal(2, 5_000), "c": categories(2, 5_000)})
    report = detect_drift(profile_frame(ref, ["x"], ["c"]), cur)
    assert report.drifted_features == []
    assert report.drift_share == 0.0
    assert not report.dataset_drifted


# ---------------------------------------------------------------- real drift


@pytest.mark.parametrize("name", ["ks", "wasserstein"])
@pytest.mark.parametrize("n", [2_000, 20_000])
def test_half_std_mean_shift_is_drift(name: str, n: int) -> None:
    reference = profile_numeric("x", normal(3, n))
    assert flagged(name, reference, normal(4, n, shift=1.0))  # std is 2, so 0.5 std


@pytest.mark.parametrize("name", ["chi_square", "psi", "jensen_shannon"])
@pytest.mark.parametrize("n", [2_000, 20_000])
def test_moved_category_shares_are_drift(name: str, n: int) -> None:
    reference = profile_categorical("c", categories(5, n, (0.5, 0.3, 0.2)))
    assert flagged(name, reference, categories(6, n, (0.2, 0.3, 0.5)))


@pytest.mark.parametrize("name", ["psi", "jensen_shannon"])
def test_binned_numeric_tests_see_a_large_shift(name: str) -> None:
    reference = profile_numeric("x", normal(7, 5_000))
    assert flagged(name, reference, normal(8, 5_000, shift=2.0))


def test_detect_drift_flags_shift_and_dataset() -> None:
    n = 5_000
    ref = pd.DataFrame({"x": normal(1, n), "y": normal(2, n), "c": categories(3, n)})
    cur = pd.DataFrame({"x": normal(4, n, shift=1.0), "y": normal(5, n), "c": categories(6, n, (0.2, 0.3, 0.5))})
    report = detect_drift(profile_frame(ref, ["x", "y"], ["c"]), cur, dataset_drift_share=0.6)
    assert report.drifted_features == ["x", "c"]
    assert report.drift_share == pytest.approx(2 / 3)
    assert report.dataset_drifted
    by_name = {f.feature: f for f in report.features}
    assert by_name["x"].test == "wasserstein"
    assert by_name["c"].test == "jensen_shannon"
    json.dumps(report.to_dict())
    cached = {name: p.to_dict() for name, p in profile_frame(ref, ["x", "y"], ["c"]).items()}
    assert detect_drift(cached, cur, dataset_drift_share=0.6) == report


def test_unseen_current_level_counts_as_drift() -> None:
    reference = profile_categorical("c", categories(1, 500))
    current = pd.Series(["a"] * 200 + ["zzz"] * 300)
    assert flagged("chi_square", reference, current)
    assert flagged("psi", reference, current)


# ---------------------------------------------------------------- large samples


def test_trivial_shift_on_large_sample_is_not_drift_with_auto_choice() -> None:
    n = 200_000
    ref = pd.DataFrame({"x": normal(11, n)})
    cur = pd.DataFrame({"x": normal(12, n, shift=0.02)})  # 0.01 std
    report = detect_drift(profile_frame(ref, ["x"], []), cur)
    (feature,) = report.features
    assert feature.test == "wasserstein"
    assert not feature.drifted
    assert feature.score < 0.05


def test_ks_effect_size_guard_ignores_significant_but_tiny_change() -> None:
    n = 200_000
    reference = profile_numeric("x", normal(13, n))
    outcome = DRIFT_TESTS["ks"].fn(reference, normal(14, n, shift=0.1))  # 0.05 std
    assert outcome.p_value is not None and outcome.p_value < 0.05
    assert outcome.effect_size < 0.1
    assert not DRIFT_TESTS["ks"].flags(outcome, 0.05, outcome.p_value)


def test_choose_test_by_kind_and_size() -> None:
    assert choose_test("numeric", 4_999, 50_000) == "ks"
    assert choose_test("numeric", 5_000, 5_000) == "wasserstein"
    assert choose_test("numeric", 1_000, 1_000) == "ks"  # W1 false-alarms ~5% per feature at 1 000
    assert choose_test("numeric", 1_000, 1_000, small_sample=1_000) == "wasserstein"
    assert choose_test("categorical", 50_000, 10) == "chi_square"
    assert choose_test("categorical", 5_000, 5_000) == "jensen_shannon"
    with pytest.raises(ConfigError):
        choose_test("text", 10, 10)


# ---------------------------------------------------------------- Benjamini-Hochberg


def test_benjamini_hochberg_hand_computed() -> None:
    raw = [0.041, 0.001, 0.205, 0.039, 0.008, 0.074, 0.042, 0.060]
    # sorted: .001 .008 .039 .041 .042 .060 .074 .205; p*m/rank, then running min from the top
    expected = [0.0672, 0.008, 0.205, 0.0672, 0.032, 0.0845714, 0.0672, 0.08]
    adjusted = benjamini_hochberg(raw)
    assert adjusted == pytest.approx(expected, abs=1e-6)
    assert adjusted == pytest.approx(stats.false_discovery_control(raw))


def test_benjamini_hochberg_caps_at_one_and_is_monotone() -> None:
    raw = np.array([0.9, 0.5, 0.99, 0.7])
    adjusted = benjamini_hochberg(raw)
    assert adjusted.max() <= 1.0
    order = np.argsort(raw)
    assert np.all(np.diff(adjusted[order]) >= 0)
    assert benjamini_hochberg([]).size == 0


def test_bh_is_applied_across_p_value_features() -> None:
    n = 300  # small: auto picks ks / chi_square
    ref = pd.DataFrame({f"x{i}": normal(i, n) for i in range(4)})
    cur = pd.DataFrame({f"x{i}": normal(100 + i, n) for i in range(4)})
    report = detect_drift(profile_frame(ref, list(ref.columns), []), cur)
    raw = [f.p_value for f in report.features]
    assert [f.adjusted_p_value for f in report.features] == pytest.approx(benjamini_hochberg(raw))
    assert all(f.test == "ks" for f in report.features)


# ---------------------------------------------------------------- registry and config errors


def test_unknown_test_name_lists_available_tests() -> None:
    with pytest.raises(ConfigError) as excinfo:
        get_drift_test("kolmogorov")
    for name in DRIFT_TESTS:
        assert name in str(excinfo.value)


def test_test_not_applicable_to_kind() -> None:
    with pytest.raises(ConfigError, match="chi_square"):
        get_drift_test("chi_square", "numeric")
    with pytest.raises(ConfigError, match="wasserstein"):
        get_drift_test("wasserstein", "categorical")
    assert get_drift_test("psi", "categorical").name == "psi"


def test_registry_defaults() -> None:
    assert {n: t.default_threshold for n, t in DRIFT_TESTS.items()} == {
        "ks": 0.05,
        "chi_square": 0.05,
        "psi": 0.2,
        "jensen_shannon": 0.1,
        "wasserstein": 0.1,
    }
    assert DRIFT_TESTS["ks"].min_effect == 0.1
    assert DRIFT_TESTS["chi_square"].min_effect == 0.1


def test_detect_drift_rejects_bad_overrides_and_missing_columns() -> None:
    reference = pd.DataFrame({"x": normal(1, 100), "c": categories(1, 100)})
    profiles = profile_frame(reference, ["x"], ["c"])
    current = pd.DataFrame({"x": normal(2, 100), "c": categories(2, 100)})
    with pytest.raises(ConfigError, match="jensen_shannon"):
        detect_drift(profiles, current, tests={"x": "nope"})
    with pytest.raises(ConfigError):
        detect_drift(profiles, current, tests={"c": "ks"})
    with pytest.raises(ConfigError):
        detect_drift(profiles, current, tests={"ghost": "psi"})
    with pytest.raises(ConfigError):
        detect_drift(profiles, current, thresholds={"nope": 0.1})
    with pytest.raises(ValidationFailed, match="c"):
        detect_drift(profiles, current[["x"]])


def test_overrides_pick_test_and_threshold() -> None:
    profiles = profile_frame(pd.DataFrame({"x": normal(1, 5_000)}), ["x"], [])
    current = pd.DataFrame({"x": normal(2, 5_000, shift=0.4)})  # 0.2 std
    default = detect_drift(profiles, current, tests={"x": "psi"})
    strict = detect_drift(profiles, current, tests={"x": "psi"}, thresholds={"psi": 0.01})
    assert default.features[0].test == "psi" and not default.features[0].drifted
    assert strict.features[0].threshold == 0.01 and strict.features[0].drifted


# ---------------------------------------------------------------- nulls


def test_all_null_current_column_is_skipped_not_drifted(caplog: pytest.LogCaptureFixture) -> None:
    reference = pd.DataFrame({"x": normal(1, 500), "y": normal(2, 500)})
    profiles = profile_frame(reference, ["x", "y"], [])
    current = pd.DataFrame({"x": [np.nan] * 500, "y": normal(3, 500, shift=5.0)})
    report = detect_drift(profiles, current)
    skipped, shifted = report.features
    assert not skipped.drifted and np.isnan(skipped.effect_size)
    assert shifted.drifted
    assert report.drift_share == 1.0  # share of tested features
    assert "no usable values" in caplog.text
    json.dumps(report.to_dict())


def test_numeric_nulls_are_ignored_and_categorical_nulls_are_a_level() -> None:
    values = normal(1, 1_000)
    with_nulls = pd.concat([values, pd.Series([np.nan] * 500)], ignore_index=True)
    assert profile_numeric("x", with_nulls) == profile_numeric("x", values)
    profile = profile_categorical("c", pd.Series(["a", None, "b", None]))
    assert profile.shares == {"a": 0.25, "__null__": 0.5, "b": 0.25}


# ---------------------------------------------------------------- profiles


def test_numeric_profile_shape() -> None:
    profile = profile_numeric("x", pd.Series(np.arange(100_000, dtype=float)))
    assert profile.quantiles.size == 9
    assert profile.ref_bin_shares == pytest.approx(np.full(10, 0.1), abs=1e-4)
    assert profile.sorted_sample.size == 20_000
    assert np.all(np.diff(profile.sorted_sample) >= 0)
    assert profile.count == 100_000
    constant = profile_numeric("k", pd.Series([3.0] * 50))
    assert constant.quantiles.tolist() == [3.0] and constant.std == 0.0


def test_profiles_round_trip_through_json() -> None:
    numeric = profile_numeric("x", normal(1, 30_000))
    categorical = profile_categorical("c", categories(1, 1_000))
    for profile, cls in ((numeric, NumericProfile), (categorical, CategoricalProfile)):
        text = json.dumps(profile.to_dict())
        assert cls.from_dict(json.loads(text)) == profile
        assert profile_from_dict(json.loads(text)) == profile
    empty = profile_numeric("e", pd.Series([np.nan, np.nan]))
    text = json.dumps(empty.to_dict(), allow_nan=False)
    assert NumericProfile.from_dict(json.loads(text)) == empty


def test_categorical_levels_are_compared_as_strings() -> None:
    reference = profile_categorical("c", pd.Series([1, 2, 2, 3] * 100))
    upcast = pd.Series([1.0, 2.0, 2.0, 3.0, np.nan] * 100)  # ints upcast to float by a null
    assert set(profile_categorical("c", upcast).shares) == {"1", "2", "3", "__null__"}
    as_float = pd.Series([1.0, 2.0, 2.0, 3.0] * 100)
    assert DRIFT_TESTS["psi"].fn(reference, as_float).score == pytest.approx(0.0)
    assert DRIFT_TESTS["chi_square"].fn(reference, as_float).p_value == pytest.approx(1.0)


def test_reference_profile_is_immutable() -> None:
    profile = profile_numeric("x", normal(1, 100))
    with pytest.raises(ValueError):
        profile.sorted_sample[0] = 0.0
