"""Unit tests for pipeline.modeling.metrics_regression: agreement with scikit-learn, weights, bootstrap, curves."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from sklearn import metrics as skm

from pipeline.core.config import DatasetConfig
from pipeline.core.errors import ConfigError, TrainingError
from pipeline.core.metric_names import HIGHER_IS_BETTER, REGRESSION_METRICS
from pipeline.modeling import metrics_regression as mr
from pipeline.modeling import resampling
from pipeline.modeling.metric_suites import metric_suite
from pipeline.modeling.metrics_regression import (
    bootstrap_regression,
    compare_regression,
    mape_excluded_rows,
    regression_bootstrap_weights,
    regression_curves,
    regression_metrics,
    regression_replicates,
    weighted_regression_metrics,
)
from pipeline.modeling.resampling import RELIABLE_MIN_ROWS, MetricEstimate, PairedDifference


def _sklearn(y: np.ndarray, p: np.ndarray, sample_weight: np.ndarray | None = None) -> dict[str, float]:
    """Reference values from scikit-learn (MAPE on the nonzero targets, as ours is defined)."""
    kw = {"sample_weight": sample_weight}
    nz = y != 0
    mape_w = None if sample_weight is None else sample_weight[nz]
    return {
        "rmse": skm.root_mean_squared_error(y, p, **kw),
        "mae": skm.mean_absolute_error(y, p, **kw),
        "r2": skm.r2_score(y, p, **kw),
        "mape": skm.mean_absolute_percentage_error(y[nz], p[nz], sample_weight=mape_w),
        "median_ae": skm.median_absolute_error(y, p, **kw),
    }


def _data(n: int, seed: int, decimals: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A skewed positive target and a noisy prediction; rounding makes ties in |error|."""
    rng = np.random.default_rng(seed)
    y = rng.lognormal(1.0, 0.8, n)
    p = y + rng.normal(0.0, 1.0, n)
    if decimals is not None:
        y, p = np.round(y, decimals), np.round(p, decimals)
    return y, p


def _on_repeated(y: np.ndarray, p: np.ndarray, counts: np.ndarray) -> dict[str, float]:
    """Each metric on the explicitly repeated sample, computed by scikit-learn / numpy."""
    yy, pp = np.repeat(y, counts), np.repeat(p, counts)
    ref = _sklearn(yy, pp)
    ref["median_ae"] = float(np.median(np.abs(yy - pp)))
    return ref


# ---------------------------------------------------------------------------- point metrics


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("decimals", [None, 1])
def test_point_metrics_match_sklearn(seed: int, decimals: int | None) -> None:
    y, p = _data(3001, seed, decimals)
    y[y == 0] = 0.5  # no zero target: MAPE is scikit-learn's outright
    ours = regression_metrics(y, p)
    assert tuple(ours) == REGRESSION_METRICS
    ref = _sklearn(y, p)
    ref["mape"] = skm.mean_absolute_percentage_error(y, p)
    for name in REGRESSION_METRICS:
        assert ours[name] == pytest.approx(ref[name], abs=1e-9, rel=1e-12), name


@pytest.mark.parametrize("n", [1, 2, 3, 4, 255, 256, 257, 1000])
def test_point_metrics_small_and_block_edge_sizes(n: int) -> None:
    rng = np.random.default_rng(n)
    y = rng.normal(10.0, 3.0, n)
    p = y + rng.standard_t(3, n)
    ours = regression_metrics(y, p)
    if n == 1:
        assert np.isnan(ours.pop("r2"))  # scikit-learn: not defined for a single row (and it warns)
    ref = _sklearn(y, p) if n > 1 else {k: v for k, v in _sklearn(np.r_[y, y], np.r_[p, p]).items() if k != "r2"}
    for name, value in ours.items():
        assert value == pytest.approx(ref[name], abs=1e-9, rel=1e-12), name


def test_large_offset_target_keeps_r2_accurate() -> None:
    rng = np.random.default_rng(3)
    y = 1e9 + rng.normal(0.0, 1.0, 5000)  # the one-pass variance must not lose the signal
    p = y + rng.normal(0.0, 0.5, 5000)
    assert regression_metrics(y, p, ["r2"])["r2"] == pytest.approx(skm.r2_score(y, p), abs=1e-9)


def test_metric_subset_order_and_duplicates() -> None:
    y, p = _data(200, 4)
    out = regression_metrics(y, p, ["median_ae", "rmse", "median_ae"])
    assert list(out) == ["median_ae", "rmse"]
    assert regression_metrics(y, p, "mae") == {"mae": pytest.approx(skm.mean_absolute_error(y, p))}


def test_every_regression_metric_has_a_direction() -> None:
    assert set(REGRESSION_METRICS) <= set(HIGHER_IS_BETTER)
    assert HIGHER_IS_BETTER["r2"] and not HIGHER_IS_BETTER["rmse"]


# ---------------------------------------------------------------------------- MAPE at zero targets


def test_mape_leaves_zero_targets_out_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    y, p = _data(1000, 5)
    y[:37] = 0.0
    with caplog.at_level(logging.WARNING, logger="pipeline.modeling.metrics_regression"):
        ours = regression_metrics(y, p)
    nz = y != 0
    assert ours["mape"] == pytest.approx(skm.mean_absolute_percentage_error(y[nz], p[nz]), abs=1e-9)
    assert skm.mean_absolute_percentage_error(y, p) > 1e12  # what the guard avoids
    assert mape_excluded_rows(y) == 37
    assert "37 of 1000 rows have a target of 0" in caplog.text
    assert regression_curves(y, p)["summary"]["mape_excluded_rows"] == 37


def test_no_warning_without_zero_targets_or_without_mape(caplog: pytest.LogCaptureFixture) -> None:
    y, p = _data(100, 6)
    y[0] = 0.0
    with caplog.at_level(logging.WARNING, logger="pipeline.modeling.metrics_regression"):
        regression_metrics(y, p, ["rmse", "r2"])
        regression_metrics(y[1:], p[1:])
    assert caplog.text == ""
    assert mape_excluded_rows(y[1:]) == 0


def test_mape_is_nan_when_every_target_is_zero() -> None:
    y = np.zeros(50)
    p = np.linspace(-1, 1, 50)
    out = regression_metrics(y, p)
    assert np.isnan(out["mape"])
    assert out["mae"] == pytest.approx(skm.mean_absolute_error(y, p))
    est = bootstrap_regression(y, p, n_resamples=20, metrics=["mape"])["mape"]
    assert np.isnan(est.value) and np.isnan(est.lower) and np.isnan(est.upper)


def test_mape_resamples_use_only_nonzero_rows() -> None:
    y, p = _data(300, 7)
    y[::3] = 0.0
    weights = regression_bootstrap_weights(y, p, 25, seed=2)
    reps = regression_replicates(y, p, 25, seed=2, metrics=["mape"])["mape"]
    for b in range(25):
        assert reps[b] == pytest.approx(_on_repeated(y, p, weights[b])["mape"], abs=1e-9)


# ---------------------------------------------------------------------------- R^2 with a constant target


def test_r2_constant_target_follows_sklearn_force_finite() -> None:
    y = np.full(20, 3.0)
    assert regression_metrics(y, y.copy(), ["r2"])["r2"] == 1.0 == skm.r2_score(y, y)
    p = y + np.linspace(-1, 1, 20)
    assert regression_metrics(y, p, ["r2"])["r2"] == 0.0 == skm.r2_score(y, p)
    w = np.arange(20)
    assert weighted_regression_metrics(y, p, w, ["r2"])["r2"][0] == 0.0


def test_r2_constant_target_resamples_are_nan_and_left_out(caplog: pytest.LogCaptureFixture) -> None:
    y = np.full(200, 0.1)  # 0.1 is not exact in binary: the mean is not exactly 0.1
    p = y + np.random.default_rng(8).normal(size=200)
    with caplog.at_level(logging.WARNING, logger="pipeline.modeling.metrics"):
        est = bootstrap_regression(y, p, n_resamples=30, metrics=["r2", "rmse"])
    assert est["r2"].value == 0.0
    assert np.isnan(est["r2"].lower) and np.isnan(est["r2"].upper)
    assert np.isfinite(est["rmse"].lower)
    assert "r2: 30 of 30 bootstrap resamples were degenerate" in caplog.text


def test_r2_resample_that_sees_one_target_value_is_nan() -> None:
    y = np.array([0.0, 0.0, 0.0, 1e6])
    p = np.array([1.0, -1.0, 2.0, 1e6 + 5])
    w = np.array([[2, 1, 3, 0], [1, 1, 1, 1]], dtype=np.uint8)
    weighted = weighted_regression_metrics(y, p, w, ["r2"])["r2"]
    assert weighted[0] == 0.0  # force_finite, as scikit-learn on that weighting
    assert weighted[1] == pytest.approx(skm.r2_score(y, p))
    a = mr._arrange(y, p)
    reps = mr._weighted(a, w[:, a.rows], ("r2",), resampling.Scratch(), force_finite=False)["r2"]
    assert np.isnan(reps[0]) and reps[1] == pytest.approx(skm.r2_score(y, p))


# ---------------------------------------------------------------------------- weights


def test_unit_weights_equal_point_metrics() -> None:
    y, p = _data(777, 9, decimals=1)
    point = regression_metrics(y, p)
    weighted = weighted_regression_metrics(y, p, np.ones(777, dtype=np.int64))
    for name in REGRESSION_METRICS:
        assert weighted[name].shape == (1,)
        assert weighted[name][0] == pytest.approx(point[name], abs=1e-12), name


@pytest.mark.parametrize("n", [5, 256, 600])
def test_integer_weights_equal_the_explicitly_repeated_sample(n: int) -> None:
    rng = np.random.default_rng(n)
    y, p = _data(n, n, decimals=1)  # ties in |error| and in the target
    y[0] = 0.0
    counts = rng.integers(0, 4, size=(12, n))
    counts[0] = 0
    counts[0, n // 2] = 2  # a single row carries the whole weight
    counts[1, :] = 1
    counts[1, 0] = 2  # odd and even totals both occur
    weighted = weighted_regression_metrics(y, p, counts)
    for b in range(counts.shape[0]):
        repeated = _on_repeated(y, p, counts[b])
        with_weights = _sklearn(y, p, sample_weight=counts[b].astype(np.float64))
        for name in REGRESSION_METRICS:
            if name == "r2" and np.ptp(np.repeat(y, counts[b])) == 0:
                assert weighted[name][b] == repeated[name]  # force_finite
                continue
            assert weighted[name][b] == pytest.approx(repeated[name], abs=1e-9, rel=1e-12), (name, b)
            assert weighted[name][b] == pytest.approx(with_weights[name], abs=1e-9, rel=1e-12), (name, b)


def test_weighted_median_even_total_averages_the_two_middle_values() -> None:
    y = np.zeros(4)
    p = np.array([1.0, 2.0, 4.0, 8.0])
    out = weighted_regression_metrics(y, p, np.array([[1, 1, 1, 1], [2, 1, 1, 2], [3, 0, 0, 1], [1, 0, 0, 0]]))
    assert out["median_ae"].tolist() == [3.0, 3.0, 1.0, 1.0]  # np.median of [1,1,1,8] is 1, of [1] is 1


def test_fractional_weights_match_sklearn_sample_weight() -> None:
    rng = np.random.default_rng(10)
    y, p = _data(900, 10)
    for _ in range(5):
        w = rng.random(900) * (rng.random(900) < 0.8)
        ours = weighted_regression_metrics(y, p, w)
        ref = _sklearn(y, p, sample_weight=w)
        for name in REGRESSION_METRICS:
            assert ours[name][0] == pytest.approx(ref[name], abs=1e-9, rel=1e-12), name


def test_zero_total_weight_gives_nan() -> None:
    y, p = _data(10, 11)
    out = weighted_regression_metrics(y, p, np.zeros((2, 10), dtype=np.uint8))
    for name in REGRESSION_METRICS:
        assert np.isnan(out[name]).all(), name


@pytest.mark.parametrize(
    "weights",
    [np.ones((2, 9)), -np.ones(10), np.full(10, np.nan), np.array(["a"] * 10)],
)
def test_bad_weights_raise(weights: np.ndarray) -> None:
    y, p = _data(10, 12)
    with pytest.raises(TrainingError, match="weights"):
        weighted_regression_metrics(y, p, weights)


# ---------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    ("y", "p", "match"),
    [
        ([1.0, 2.0], [1.0], "2 rows but predicted has 1"),
        ([], [], "empty"),
        ([1.0, np.nan], [1.0, 2.0], "NaN/inf"),
        ([1.0, 2.0], [1.0, np.inf], "NaN/inf"),
        ([[1.0, 2.0]], [[1.0, 2.0]], "1-D"),
        (["a", "b"], [1.0, 2.0], "numeric"),
    ],
)
def test_bad_inputs_raise_training_error(y: list, p: list, match: str) -> None:
    with pytest.raises(TrainingError, match=match):
        regression_metrics(np.array(y), np.array(p))


def test_unknown_metric_and_bad_parameters_raise_config_error() -> None:
    y, p = _data(50, 13)
    with pytest.raises(ConfigError, match="rmse, mae, r2, mape, median_ae"):
        regression_metrics(y, p, ["roc_auc"])
    with pytest.raises(ConfigError, match="No metric"):
        regression_metrics(y, p, [])
    with pytest.raises(ConfigError, match="n_resamples"):
        bootstrap_regression(y, p, n_resamples=0)
    with pytest.raises(ConfigError, match="confidence"):
        bootstrap_regression(y, p, confidence=1.0)
    with pytest.raises(ConfigError, match="seed"):
        bootstrap_regression(y, p, seed=-1)
    with pytest.raises(ConfigError, match="one metric name"):
        compare_regression(y, p, p, metric=["rmse"])  # type: ignore[arg-type]
    with pytest.raises(TrainingError, match="champion predicted 49 rows"):
        compare_regression(y, p, p[:-1])


# ---------------------------------------------------------------------------- bootstrap


def test_replicates_equal_weighted_metrics_on_the_bootstrap_weights() -> None:
    y, p = _data(1300, 14, decimals=1)  # several blocks plus a tail, many ties
    y[:5] = 0.0
    weights = regression_bootstrap_weights(y, p, 40, seed=5)
    assert weights.dtype == np.uint8 and weights.shape == (40, 1300)
    reps = regression_replicates(y, p, 40, seed=5)
    weighted = weighted_regression_metrics(y, p, weights)
    for name in REGRESSION_METRICS:
        np.testing.assert_allclose(reps[name], weighted[name], rtol=1e-12, atol=0, err_msg=name)
    for b in (0, 17, 39):
        repeated = _on_repeated(y, p, weights[b])
        for name in REGRESSION_METRICS:
            assert reps[name][b] == pytest.approx(repeated[name], abs=1e-9, rel=1e-12), (name, b)


def test_bootstrap_weights_look_like_poisson_draws() -> None:
    y, p = _data(5000, 15)
    w = regression_bootstrap_weights(y, p, 20, seed=1).astype(np.float64)
    assert w.mean() == pytest.approx(1.0, abs=0.01)
    assert w.var() == pytest.approx(1.0, abs=0.02)


def test_bootstrap_does_not_depend_on_chunks_or_count(monkeypatch: pytest.MonkeyPatch) -> None:
    y, p = _data(700, 16)
    full = regression_replicates(y, p, 30, seed=3)
    monkeypatch.setattr(resampling, "chunk_size", lambda n: 7)
    monkeypatch.setattr(mr, "chunk_size", lambda n: 7)
    chunked = regression_replicates(y, p, 30, seed=3)
    fewer = regression_replicates(y, p, 11, seed=3)
    for name in REGRESSION_METRICS:
        np.testing.assert_array_equal(full[name], chunked[name])
        np.testing.assert_array_equal(full[name][:11], fewer[name])
    weights = regression_bootstrap_weights(y, p, 30, seed=3)
    np.testing.assert_array_equal(weighted_regression_metrics(y, p, weights)["median_ae"], full["median_ae"])


def test_bootstrap_resamples_differ_between_seeds_and_resamples() -> None:
    y, p = _data(500, 17)
    a = regression_replicates(y, p, 20, seed=0)["rmse"]
    b = regression_replicates(y, p, 20, seed=1)["rmse"]
    assert np.unique(a).size == 20
    assert not np.array_equal(a, b)


def test_bootstrap_regression_estimates() -> None:
    y, p = _data(2000, 18)
    est = bootstrap_regression(y, p, n_resamples=300, seed=4)
    point = regression_metrics(y, p)
    reps = regression_replicates(y, p, 300, seed=4)
    assert tuple(est) == REGRESSION_METRICS
    for name, e in est.items():
        assert isinstance(e, MetricEstimate)
        assert e.value == point[name]
        lower, upper = np.percentile(reps[name], [2.5, 97.5])
        assert (e.lower, e.upper) == pytest.approx((lower, upper), abs=1e-12)
        assert e.std == pytest.approx(np.std(reps[name], ddof=1))
        assert e.lower < e.value < e.upper, name
        assert (e.n, e.minority, e.reliable) == (2000, None, True)
    assert bootstrap_regression(y, p, n_resamples=300, seed=4) == est


def test_small_sample_is_marked_unreliable_and_to_dict_leaves_minority_out() -> None:
    y, p = _data(RELIABLE_MIN_ROWS - 1, 19)
    est = bootstrap_regression(y, p, n_resamples=20, metrics=["mae"])["mae"]
    assert est.reliable is False and est.n == RELIABLE_MIN_ROWS - 1
    d = est.to_dict()
    assert list(d) == ["value", "lower", "upper", "std", "n", "reliable"]
    json.dumps(d)
    y, p = _data(RELIABLE_MIN_ROWS, 19)
    assert bootstrap_regression(y, p, n_resamples=20, metrics=["mae"])["mae"].reliable is True


def test_binary_estimates_still_write_minority_first_then_reliable() -> None:
    est = MetricEstimate(value=0.5, lower=0.4, upper=0.6, std=0.05, n=100, minority=0, reliable=False)
    assert list(est.to_dict()) == ["value", "lower", "upper", "std", "n", "minority", "reliable"]
    assert est.to_dict()["minority"] == 0


def test_bootstrap_interval_coverage_of_the_true_mae_and_rmse() -> None:
    """Errors ~ N(0, 2): the true RMSE is 2 and the true MAE 2 sqrt(2 / pi)."""
    rng = np.random.default_rng(20)
    truth = {"rmse": 2.0, "mae": 2.0 * np.sqrt(2.0 / np.pi)}
    covered = dict.fromkeys(truth, 0)
    trials = 150
    for t in range(trials):
        y = rng.normal(size=400)
        p = y + rng.normal(0.0, 2.0, 400)
        est = bootstrap_regression(y, p, n_resamples=200, seed=t, metrics=list(truth))
        for name, value in truth.items():
            covered[name] += est[name].lower <= value <= est[name].upper
    for name in truth:
        assert 0.88 <= covered[name] / trials <= 0.99, (name, covered[name])


# ---------------------------------------------------------------------------- paired comparison


def _paired_reference(
    y: np.ndarray, p_ch: np.ndarray, p_champ: np.ndarray, metric: str, n_resamples: int, seed: int
) -> np.ndarray:
    """The paired differences rebuilt from the challenger's bootstrap weights."""
    weights = regression_bootstrap_weights(y, p_ch, n_resamples, seed)
    ch = regression_replicates(y, p_ch, n_resamples, seed, [metric])[metric]
    champ = weighted_regression_metrics(y, p_champ, weights, [metric])[metric]
    return (1.0 if HIGHER_IS_BETTER[metric] else -1.0) * (ch - champ)


@pytest.mark.parametrize("metric", REGRESSION_METRICS)
def test_compare_uses_identical_resamples_for_both_models(metric: str) -> None:
    y, p_ch = _data(900, 21)
    p_champ = p_ch + np.random.default_rng(21).normal(0.0, 0.3, 900)  # a different error order
    estimates, paired = compare_regression(y, p_ch, p_champ, metric=metric, n_resamples=60, seed=6)
    d = _paired_reference(y, p_ch, p_champ, metric, 60, 6)
    lower, upper = np.percentile(d, [2.5, 97.5])
    assert (paired.lower, paired.upper) == pytest.approx((lower, upper), abs=1e-12)
    assert paired.prob_challenger_better == pytest.approx(((d > 0).sum() + 0.5 * (d == 0).sum()) / d.size)
    assert paired.metric == metric and paired.n_resamples == 60
    assert estimates == bootstrap_regression(y, p_ch, n_resamples=60, seed=6)


def test_compare_clearly_better_challenger_is_positive_for_error_and_r2() -> None:
    rng = np.random.default_rng(22)
    y = rng.normal(5.0, 2.0, 3000)
    good, bad = y + rng.normal(0, 0.5, 3000), y + rng.normal(0, 1.5, 3000)
    for metric in ("rmse", "r2", "median_ae"):
        _, paired = compare_regression(y, good, bad, metric=metric, n_resamples=200, seed=1)
        assert isinstance(paired, PairedDifference)
        assert paired.difference > 0 and paired.lower > 0, metric
        assert paired.prob_challenger_better == 1.0
        _, reverse = compare_regression(y, bad, good, metric=metric, n_resamples=200, seed=1)
        assert reverse.difference == pytest.approx(-paired.difference) and reverse.upper < 0
    _, paired = compare_regression(y, good, bad, metric="rmse", n_resamples=50)
    assert paired.difference == pytest.approx(
        skm.root_mean_squared_error(y, bad) - skm.root_mean_squared_error(y, good), abs=1e-12
    )


def test_compare_identical_models_is_a_tie() -> None:
    y, p = _data(500, 23)
    _, paired = compare_regression(y, p, p.copy(), metric="mae", n_resamples=100)
    assert paired.difference == 0.0 and paired.lower == 0.0 and paired.upper == 0.0
    assert paired.prob_challenger_better == 0.5


def test_compare_reports_the_requested_metrics_only() -> None:
    y, p = _data(300, 24)
    estimates, paired = compare_regression(y, p, p + 0.1, metric="median_ae", n_resamples=30, metrics=["rmse"])
    assert list(estimates) == ["rmse"] and paired.metric == "median_ae"


# ---------------------------------------------------------------------------- curves


def test_curves_shape_and_values() -> None:
    y, p = _data(5000, 25)
    curves = regression_curves(y, p)
    json.dumps(curves)
    scatter = curves["scatter"]
    assert len(scatter["actual"]) == len(scatter["predicted"]) == 500
    assert scatter["actual"] == sorted(scatter["actual"])
    assert scatter["actual"][0] == round(float(y.min()), 4) and scatter["actual"][-1] == round(float(y.max()), 4)
    order = np.argsort(y, kind="stable")
    assert scatter["predicted"][0] == round(float(p[order[0]]), 4)
    res = curves["residuals"]
    assert len(res["bin_edges"]) == 31 and sum(res["counts"]) == 5000
    assert res["bin_edges"][0] == round(float((p - y).min()), 4)
    deciles = curves["by_decile"]
    assert len(deciles["rows"]) == 10 and sum(deciles["rows"]) == 5000
    assert deciles["mean_predicted"] == sorted(deciles["mean_predicted"])
    top = p >= np.quantile(p, 0.9)
    assert deciles["mean_actual"][-1] == pytest.approx(y[top].mean(), abs=1e-3)
    summary = curves["summary"]
    assert summary["mean_residual"] == pytest.approx((p - y).mean(), abs=1e-4)
    assert summary["rows"] == 5000 and summary["mape_excluded_rows"] == 0
    assert regression_curves(y, p) == curves


def test_curves_small_sample_ties_and_tiny_scale() -> None:
    y = np.array([1e-6, 2e-6, 3e-6, 4e-6])
    p = np.array([1e-6, 1e-6, 1e-6, 5e-6])  # tied predictions share a group
    curves = regression_curves(y, p)
    assert curves["scatter"]["actual"] == [1e-6, 2e-6, 3e-6, 4e-6]  # 4 significant digits survive rounding
    assert curves["by_decile"]["rows"] == [3, 1]
    assert curves["by_decile"]["mean_actual"] == [2e-6, 4e-6]
    single = regression_curves(np.array([2.0]), np.array([2.5]))
    assert sum(single["residuals"]["counts"]) == 1 and len(single["residuals"]["bin_edges"]) == 31
    assert single["summary"]["mean_residual"] == 0.5


# ---------------------------------------------------------------------------- the suite


def test_regression_metric_suite_calls_this_module() -> None:
    dataset = DatasetConfig.model_validate(
        {"name": "d", "label": "y", "task": "regression", "features": {"numeric": [{"name": "x"}]}}
    )
    suite = metric_suite(dataset)
    y, p = _data(400, 26)
    assert suite.names == REGRESSION_METRICS
    assert suite.point(y, p) == regression_metrics(y, p)
    assert suite.bootstrap(y, p, n_resamples=20, seed=1, confidence=0.9) == bootstrap_regression(
        y, p, n_resamples=20, seed=1, confidence=0.9
    )
    estimates, paired = suite.compare(y, p, p + 0.2, metric="rmse", n_resamples=20, seed=1, confidence=0.9)
    assert paired.difference > 0 and set(estimates) == set(REGRESSION_METRICS)
    assert suite.curves(y, p)["summary"]["rows"] == 400
    assert suite.class_rows(y) == {} and suite.minority_rows(y) is None
