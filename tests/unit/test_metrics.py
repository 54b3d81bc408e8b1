"""Unit tests for pipeline.modeling.metrics: agreement with scikit-learn, weighted/bootstrap paths."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import expit
from scipy.stats import norm
from sklearn import metrics as skm

from pipeline.core.errors import ConfigError, TrainingError
from pipeline.modeling import resampling as m
from pipeline.modeling.metrics import (
    HIGHER_IS_BETTER,
    METRIC_NAMES,
    bootstrap_metrics,
    bootstrap_replicates,
    bootstrap_weights,
    classification_metrics,
    compare_bootstrap,
    paired_bootstrap,
    weighted_metrics,
)
from pipeline.modeling.resampling import MetricEstimate, PairedDifference


def _sklearn_metrics(
    y: np.ndarray, p: np.ndarray, threshold: float = 0.5, sample_weight: np.ndarray | None = None
) -> dict[str, float]:
    """Reference values from scikit-learn."""
    pred = (p >= threshold).astype(int)
    kw = {"sample_weight": sample_weight}
    return {
        "roc_auc": skm.roc_auc_score(y, p, **kw),
        "pr_auc": skm.average_precision_score(y, p, **kw),
        "accuracy": skm.accuracy_score(y, pred, **kw),
        "balanced_accuracy": skm.balanced_accuracy_score(y, pred, **kw),
        "f1": skm.f1_score(y, pred, zero_division=0, **kw),
        "precision": skm.precision_score(y, pred, zero_division=0, **kw),
        "recall": skm.recall_score(y, pred, zero_division=0, **kw),
        "log_loss": skm.log_loss(y, p, labels=[0, 1], **kw),
        "brier": skm.brier_score_loss(y, p, **kw),
    }


def _tied_data(n: int, seed: int, decimals: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Informative scores rounded so that many ties (also across classes) occur."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.round(expit(rng.normal(size=n) + 1.2 * y - 0.3), decimals)
    return y, p


def _binormal(n_neg: int, n_pos: int, d: float, rng: np.random.Generator):
    y = np.r_[np.zeros(n_neg, dtype=int), np.ones(n_pos, dtype=int)]
    p = expit(rng.normal(size=y.size) + d * y)
    return y, p


# ---------------------------------------------------------------------------- point metrics


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("threshold", [0.5, 0.3])
def test_classification_metrics_match_sklearn(seed: int, threshold: float) -> None:
    y, p = _tied_data(2000, seed, decimals=2)
    p[:5] = 0.0  # exact 0/1 predictions exercise the log-loss clipping
    p[5:10] = 1.0
    ours = classification_metrics(y, p, threshold=threshold)
    ref = _sklearn_metrics(y, p, threshold)
    assert tuple(ours) == METRIC_NAMES
    for name in METRIC_NAMES:
        assert ours[name] == pytest.approx(ref[name], abs=1e-9, rel=1e-12), name


def test_classification_metrics_continuous_scores_match_sklearn() -> None:
    rng = np.random.default_rng(5)
    y, p = _binormal(700, 300, 1.0, rng)
    ours = classification_metrics(y, p)
    ref = _sklearn_metrics(y, p)
    for name in METRIC_NAMES:
        assert ours[name] == pytest.approx(ref[name], abs=1e-9), name


def test_all_ties_gives_half_auc() -> None:
    y = np.array([0, 1, 0, 1, 1])
    p = np.full(5, 0.4)
    out = classification_metrics(y, p)
    assert out["roc_auc"] == pytest.approx(0.5)
    assert out["pr_auc"] == pytest.approx(skm.average_precision_score(y, p))


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_single_class_gives_nan_rank_metrics() -> None:
    y = np.ones(10, dtype=int)
    p = np.linspace(0.1, 0.9, 10)
    out = classification_metrics(y, p)
    assert math.isnan(out["roc_auc"]) and math.isnan(out["pr_auc"])
    assert out["accuracy"] == pytest.approx(skm.accuracy_score(y, p >= 0.5))
    assert out["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, (p >= 0.5).astype(int)))


def test_metric_subset_and_bool_labels() -> None:
    y, p = _tied_data(300, 3)
    out = classification_metrics(y.astype(bool), p, metrics=["brier", "roc_auc"])
    assert list(out) == ["brier", "roc_auc"]
    assert out["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)


def test_higher_is_better_covers_all_metrics() -> None:
    from pipeline.core.metric_names import METRICS_BY_TASK, higher_is_better

    assert set(HIGHER_IS_BETTER) == {m for names in METRICS_BY_TASK.values() for m in names}
    assert set(METRIC_NAMES) <= set(HIGHER_IS_BETTER)
    assert not HIGHER_IS_BETTER["rmse"] and HIGHER_IS_BETTER["r2"] and higher_is_better("recall[a b]")
    assert not HIGHER_IS_BETTER["log_loss"] and not HIGHER_IS_BETTER["brier"]
    assert HIGHER_IS_BETTER["roc_auc"]


@pytest.mark.parametrize(
    ("y", "p"),
    [
        ([0, 1, 2], [0.1, 0.2, 0.3]),  # not binary
        ([0, 1, 1], [0.1, 0.2]),  # length mismatch
        ([0, 1], [0.1, np.nan]),  # NaN score
        ([0, 1], [0.1, 1.5]),  # not a probability
        ([], []),  # empty
        ([0, 1], [[0.9, 0.1], [0.2, 0.8]]),  # 2-D proba
    ],
)
def test_bad_inputs_raise_training_error(y: list, p: list) -> None:
    with pytest.raises(TrainingError):
        classification_metrics(np.asarray(y), np.asarray(p, dtype=float))


def test_unknown_metric_raises_config_error_listing_names() -> None:
    y, p = _tied_data(50, 0)
    with pytest.raises(ConfigError, match="roc_auc"):
        classification_metrics(y, p, metrics=["auc"])
    with pytest.raises(ConfigError, match="log_loss"):
        bootstrap_metrics(y, p, n_resamples=5, metrics=["nope"])
    with pytest.raises(ConfigError):
        paired_bootstrap(y, p, p, metric="gini", n_resamples=5)


def test_bad_parameters_raise_config_error() -> None:
    y, p = _tied_data(50, 0)
    with pytest.raises(ConfigError):
        bootstrap_metrics(y, p, n_resamples=0)
    with pytest.raises(ConfigError):
        bootstrap_metrics(y, p, n_resamples=10, confidence=1.0)
    with pytest.raises(ConfigError):
        classification_metrics(y, p, threshold=1.5)


# ---------------------------------------------------------------------------- weighted path


def test_weighted_all_ones_equals_classification_metrics() -> None:
    y, p = _tied_data(1500, 7)
    point = classification_metrics(y, p)
    weighted = weighted_metrics(y, p, np.ones((3, y.size)))
    for name in METRIC_NAMES:
        assert weighted[name].shape == (3,)
        np.testing.assert_allclose(weighted[name], point[name], rtol=0, atol=1e-12)


def test_integer_weights_equal_explicitly_repeated_sample() -> None:
    y, p = _tied_data(400, 11, decimals=2)
    rng = np.random.default_rng(11)
    weights = rng.integers(0, 4, size=(5, y.size))
    weights[0, :] = 0
    weights[0, :10] = 2  # a sparse resample
    out = weighted_metrics(y, p, weights)
    for b in range(weights.shape[0]):
        yr, pr = np.repeat(y, weights[b]), np.repeat(p, weights[b])
        ref = _sklearn_metrics(yr, pr) if 0 < yr.sum() < yr.size else None
        if ref is None:
            assert math.isnan(out["roc_auc"][b])
            continue
        for name in METRIC_NAMES:
            assert out[name][b] == pytest.approx(ref[name], abs=1e-9), (b, name)


def test_fractional_weights_match_sklearn_sample_weight() -> None:
    y, p = _tied_data(500, 12)
    w = np.random.default_rng(12).random(y.size)
    out = weighted_metrics(y, p, w, metrics=["roc_auc", "pr_auc", "log_loss", "brier", "f1"])
    ref = _sklearn_metrics(y, p, sample_weight=w)
    for name, vals in out.items():
        assert vals[0] == pytest.approx(ref[name], abs=1e-9), name


def test_weighted_degenerate_rows() -> None:
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.4, 0.35, 0.8])
    w = np.array([[1, 1, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]])
    out = weighted_metrics(y, p, w)
    assert math.isnan(out["roc_auc"][0]) and math.isnan(out["pr_auc"][0])
    assert all(math.isnan(out[name][1]) for name in METRIC_NAMES)  # zero total weight
    assert out["roc_auc"][2] == pytest.approx(0.75)


def test_weighted_rejects_bad_weights() -> None:
    y, p = _tied_data(20, 0)
    with pytest.raises(TrainingError):
        weighted_metrics(y, p, -np.ones((2, 20)))
    with pytest.raises(TrainingError):
        weighted_metrics(y, p, np.ones((2, 19)))


def test_chunking_does_not_change_results(monkeypatch: pytest.MonkeyPatch) -> None:
    y, p = _tied_data(300, 4)
    w = np.random.default_rng(4).integers(0, 3, size=(17, y.size))
    whole = weighted_metrics(y, p, w)
    monkeypatch.setattr(m, "_CACHE_BUDGET_BYTES", m._BYTES_PER_CELL * y.size * 4)
    assert m.chunk_size(y.size) == 4
    chunked = weighted_metrics(y, p, w)
    for name in METRIC_NAMES:
        np.testing.assert_array_equal(whole[name], chunked[name])


# ---------------------------------------------------------------------------- bootstrap


def test_poisson_weight_table_has_poisson_moments() -> None:
    """The 256-point weight distribution: mean 1 and variance 1 exactly, close to Poisson(1)."""
    every_byte = np.arange(256, dtype=np.uint8)[None, :]
    w = m.poisson_weights_from_bytes(every_byte, np.empty_like(every_byte), m.Scratch())[0].astype(float)
    assert w.mean() == 1.0 and w.var() == 1.0
    assert np.bincount(w.astype(int)).tolist() == [94, 95, 46, 16, 4, 1]
    poisson = np.exp(-1.0) / np.array([math.factorial(k) for k in range(6)])
    assert np.abs(np.bincount(w.astype(int)) / 256 - poisson).max() < 0.005


def test_bootstrap_weights_look_like_poisson_draws() -> None:
    y, p = _tied_data(4000, 2)
    w = bootstrap_weights(y, p, n_resamples=50, seed=7)
    assert w.shape == (50, y.size) and w.dtype == np.uint8
    assert w.min() == 0 and w.max() <= 5
    assert w.mean() == pytest.approx(1.0, abs=0.01) and w.var() == pytest.approx(1.0, abs=0.02)
    # rows are independent: resamples are uncorrelated with each other
    assert abs(np.corrcoef(w[0], w[1])[0, 1]) < 0.05


def test_bootstrap_replicates_equal_weighted_metrics_on_bootstrap_weights(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    y, p = _tied_data(200, 8)
    monkeypatch.setattr(m, "_CACHE_BUDGET_BYTES", m._BYTES_PER_CELL * y.size * 7)  # 7 per chunk
    reps = bootstrap_replicates(y, p, n_resamples=40, seed=3)
    via_weights = weighted_metrics(y, p, bootstrap_weights(y, p, 40, seed=3))
    for name in METRIC_NAMES:
        np.testing.assert_allclose(reps[name], via_weights[name], rtol=0, atol=1e-12)


def test_bootstrap_does_not_depend_on_chunks_or_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each resample has its own random stream: chunking and B change nothing."""
    y, p = _tied_data(500, 14)
    reference = bootstrap_replicates(y, p, n_resamples=60, seed=9)
    monkeypatch.setattr(m, "_CACHE_BUDGET_BYTES", m._BYTES_PER_CELL * y.size * 7)
    assert m.chunk_size(y.size) == 7
    chunked = bootstrap_replicates(y, p, n_resamples=60, seed=9)
    fewer = bootstrap_replicates(y, p, n_resamples=25, seed=9)
    for name in METRIC_NAMES:
        np.testing.assert_array_equal(chunked[name], reference[name])
        np.testing.assert_array_equal(fewer[name], reference[name][:25])


def test_bootstrap_resamples_differ_between_seeds_and_resamples() -> None:
    y, p = _tied_data(500, 15)
    a = bootstrap_replicates(y, p, n_resamples=30, seed=1, metrics=["roc_auc"])["roc_auc"]
    b = bootstrap_replicates(y, p, n_resamples=30, seed=2, metrics=["roc_auc"])["roc_auc"]
    assert np.unique(a).size == 30  # no two resamples alike
    assert not np.array_equal(a, b)


def test_negative_seed_is_a_config_error() -> None:
    y, p = _tied_data(50, 0)
    with pytest.raises(ConfigError, match="seed"):
        bootstrap_metrics(y, p, n_resamples=10, seed=-1)


def test_bootstrap_metrics_value_interval_and_reproducibility() -> None:
    y, p = _tied_data(600, 9)
    first = bootstrap_metrics(y, p, n_resamples=200, seed=42)
    again = bootstrap_metrics(y, p, n_resamples=200, seed=42)
    other = bootstrap_metrics(y, p, n_resamples=200, seed=43)
    point = classification_metrics(y, p)
    assert first == again
    assert first["roc_auc"] != other["roc_auc"]
    for name in METRIC_NAMES:
        est = first[name]
        assert isinstance(est, MetricEstimate)
        assert est.value == point[name]
        assert est.lower <= est.upper and est.std > 0
    assert first["roc_auc"].lower < first["roc_auc"].value < first["roc_auc"].upper
    assert set(first["brier"].to_dict()) == {"value", "lower", "upper", "std", "n", "minority", "reliable"}
    assert (first["brier"].n, first["brier"].minority) == (600, min(int(y.sum()), 600 - int(y.sum())))


def test_bootstrap_interval_is_percentile_of_replicates() -> None:
    y, p = _tied_data(300, 10)
    est = bootstrap_metrics(y, p, n_resamples=150, seed=1, confidence=0.9, metrics=["pr_auc"])
    reps = bootstrap_replicates(y, p, n_resamples=150, seed=1, metrics=["pr_auc"])["pr_auc"]
    assert list(est) == ["pr_auc"]
    assert est["pr_auc"].lower == pytest.approx(np.percentile(reps, 5))
    assert est["pr_auc"].upper == pytest.approx(np.percentile(reps, 95))
    assert est["pr_auc"].std == pytest.approx(np.std(reps, ddof=1))


def test_bootstrap_skips_degenerate_resamples(caplog: pytest.LogCaptureFixture) -> None:
    y = np.array([0] * 9 + [1])  # one positive: many resamples have none
    p = np.linspace(0.05, 0.95, 10)
    with caplog.at_level("WARNING", logger="pipeline.modeling.metrics"):
        est = bootstrap_metrics(y, p, n_resamples=200, seed=0, metrics=["roc_auc"])
    assert est["roc_auc"].value == pytest.approx(1.0)
    assert not math.isnan(est["roc_auc"].lower)
    assert "degenerate" in caplog.text


def test_bootstrap_interval_coverage_binormal() -> None:
    """95% percentile intervals cover the analytic AUC Phi(d / sqrt 2) in ~95% of datasets."""
    d = 1.0
    true_auc = norm.cdf(d / math.sqrt(2.0))
    rng = np.random.default_rng(2024)
    covered = 0
    n_datasets = 200
    for i in range(n_datasets):
        y, p = _binormal(150, 150, d, rng)
        est = bootstrap_metrics(y, p, n_resamples=300, seed=i, metrics=["roc_auc"])["roc_auc"]
        covered += est.lower <= true_auc <= est.upper
    assert 0.88 <= covered / n_datasets <= 0.99


# ---------------------------------------------------------------------------- paired bootstrap


def test_paired_bootstrap_clearly_better_challenger() -> None:
    rng = np.random.default_rng(1)
    y, _ = _binormal(400, 400, 0.0, rng)
    good = expit(2.0 * (2 * y - 1) + rng.normal(size=y.size))
    weak = expit(0.5 * (2 * y - 1) + rng.normal(size=y.size))
    res = paired_bootstrap(y, good, weak, metric="roc_auc", n_resamples=300, seed=0)
    assert isinstance(res, PairedDifference)
    assert res.difference == pytest.approx(res.challenger - res.champion)
    assert res.lower > 0 and res.prob_challenger_better > 0.95
    assert res.n_resamples == 300
    worse = paired_bootstrap(y, weak, good, metric="roc_auc", n_resamples=300, seed=0)
    assert worse.upper < 0 and worse.prob_challenger_better < 0.05
    assert worse.difference == pytest.approx(-res.difference)


def test_paired_bootstrap_lower_is_better_orientation() -> None:
    rng = np.random.default_rng(2)
    y, _ = _binormal(300, 300, 0.0, rng)
    calibrated = np.where(y == 1, 0.8, 0.2)
    noisy = np.clip(calibrated + rng.normal(0, 0.25, y.size), 0.01, 0.99)
    res = paired_bootstrap(y, calibrated, noisy, metric="log_loss", n_resamples=200, seed=0)
    assert res.challenger < res.champion  # lower loss
    assert res.difference == pytest.approx(res.champion - res.challenger)
    assert res.difference > 0 and res.lower > 0


def test_paired_bootstrap_identical_models() -> None:
    y, p = _tied_data(300, 6)
    res = paired_bootstrap(y, p, p, metric="pr_auc", n_resamples=100, seed=0)
    assert res.difference == 0.0 and res.lower == 0.0 and res.upper == 0.0
    assert res.prob_challenger_better == 0.5
    d = res.to_dict()
    assert d["metric"] == "pr_auc" and d["n_resamples"] == 100
    assert isinstance(d["n_resamples"], int)


def test_paired_bootstrap_is_reproducible_and_shares_resamples() -> None:
    y, p = _tied_data(400, 13)
    q = np.clip(p + np.random.default_rng(0).normal(0, 0.1, p.size), 0, 1)
    a = paired_bootstrap(y, p, q, metric="brier", n_resamples=120, seed=5)
    b = paired_bootstrap(y, p, q, metric="brier", n_resamples=120, seed=5)
    assert a.to_dict() == b.to_dict()
    # both models are scored on the challenger's resamples: the same weight for the same row
    w = bootstrap_weights(y, p, 120, seed=5)
    reps_p = weighted_metrics(y, p, w, metrics=["brier"])["brier"]
    reps_q = weighted_metrics(y, q, w, metrics=["brier"])["brier"]
    np.testing.assert_array_equal(
        reps_p, bootstrap_replicates(y, p, n_resamples=120, seed=5, metrics=["brier"])["brier"]
    )
    diff = reps_q - reps_p  # lower is better: champion - challenger
    assert a.lower == pytest.approx(np.percentile(diff, 2.5))
    assert a.upper == pytest.approx(np.percentile(diff, 97.5))
    assert a.prob_challenger_better == pytest.approx(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)


def test_compare_bootstrap_is_bootstrap_metrics_plus_paired_bootstrap() -> None:
    y, p = _tied_data(500, 21)
    q = np.clip(p + np.random.default_rng(3).normal(0, 0.1, p.size), 0, 1)
    estimates, paired = compare_bootstrap(y, p, q, metric="log_loss", n_resamples=80, seed=4, metrics=["roc_auc", "f1"])
    assert list(estimates) == ["roc_auc", "f1"]  # the primary metric is used, not added to the result
    assert estimates == bootstrap_metrics(y, p, n_resamples=80, seed=4, metrics=["roc_auc", "f1"])
    assert paired == paired_bootstrap(y, p, q, metric="log_loss", n_resamples=80, seed=4)
    with pytest.raises(TrainingError, match="rows"):
        compare_bootstrap(y, p, q[:-1], n_resamples=10)
