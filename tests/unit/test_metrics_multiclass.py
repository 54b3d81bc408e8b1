"""Unit tests for pipeline.modeling.metrics_multiclass: agreement with scikit-learn, weights, bootstrap."""

from __future__ import annotations

import logging
import math
import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

from pipeline.core.config import DatasetConfig
from pipeline.core.errors import ConfigError, TrainingError
from pipeline.core.metric_names import MULTICLASS_METRICS, per_class_recall
from pipeline.modeling import metrics_multiclass as mc
from pipeline.modeling import resampling
from pipeline.modeling.metric_suites import MetricSuite, metric_suite
from pipeline.modeling.metrics_multiclass import (
    bootstrap_multiclass,
    compare_multiclass,
    multiclass_curves,
    multiclass_metrics,
    multiclass_replicates,
    multiclass_weights,
    weighted_multiclass_metrics,
)
from pipeline.modeling.resampling import MetricEstimate, PairedDifference

pytestmark = pytest.mark.unit


def _suite(labels: tuple[str, ...]) -> MetricSuite:
    """The multiclass suite of a dataset with these classes."""
    dataset = {
        "name": "d",
        "label": "y",
        "task": "multiclass",
        "classes": labels,
        "features": {"numeric": [{"name": "x"}]},
    }
    return metric_suite(DatasetConfig.model_validate(dataset))


def _labels(k: int) -> list[str]:
    return [f"c{j}" for j in range(k)]


def _data(n: int, k: int, seed: int, signal: float = 1.0, decimals: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Class indices and softmax probabilities; ``decimals`` rounds them so that many ties occur."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += signal
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    if decimals is not None:
        p = np.round(p, decimals)
        p[:, -1] = np.clip(1.0 - p[:, :-1].sum(axis=1), 0.0, 1.0)
        p /= p.sum(axis=1, keepdims=True)
    return y, p


def _ovr_auc(y: np.ndarray, p: np.ndarray, k: int, sample_weight: np.ndarray | None = None) -> float:
    """One-vs-rest macro ROC AUC over the classes with both sides (scikit-learn's when all are present)."""
    w = np.ones(y.shape[0]) if sample_weight is None else sample_weight
    aucs = [
        skm.roc_auc_score(y == j, p[:, j], sample_weight=sample_weight)
        for j in range(k)
        if 0 < w[y == j].sum() < w.sum()
    ]
    return float(np.mean(aucs)) if aucs else float("nan")


def _sklearn(y: np.ndarray, p: np.ndarray, k: int, sample_weight: np.ndarray | None = None) -> dict[str, float]:
    """Reference values from scikit-learn, named as ours."""
    labels = list(range(k))
    pred = p.argmax(axis=1)
    kw = {"sample_weight": sample_weight}
    ref = {
        "accuracy": skm.accuracy_score(y, pred, **kw),
        "balanced_accuracy": skm.balanced_accuracy_score(y, pred, **kw),
        "f1_macro": skm.f1_score(y, pred, labels=labels, average="macro", zero_division=0, **kw),
        "f1_weighted": skm.f1_score(y, pred, labels=labels, average="weighted", zero_division=0, **kw),
        "log_loss": skm.log_loss(y, p, labels=labels, **kw),
        "roc_auc": _ovr_auc(y, p, k, sample_weight),
    }
    recall = skm.recall_score(y, pred, labels=labels, average=None, zero_division=0, **kw)
    ref.update({per_class_recall(c): float(recall[j]) for j, c in enumerate(_labels(k))})
    return ref


def _assert_match(ours: dict[str, float], ref: dict[str, float], tol: float = 1e-9) -> None:
    for name, value in ref.items():
        if math.isnan(value):
            assert math.isnan(ours[name]), name
        else:
            assert ours[name] == pytest.approx(value, abs=tol, rel=tol), name


# ---------------------------------------------------------------------------- point metrics


@pytest.mark.parametrize("k", [3, 10])
@pytest.mark.parametrize("decimals", [None, 1, 2])
@pytest.mark.parametrize("seed", [0, 1])
def test_point_metrics_match_sklearn(k: int, decimals: int | None, seed: int) -> None:
    y, p = _data(1500, k, seed, decimals=decimals)
    ours = multiclass_metrics(y, p, _labels(k))
    _assert_match(ours, _sklearn(y, p, k))
    # where scikit-learn defines the OvR macro AUC itself, it is the same number
    sk_auc = skm.roc_auc_score(y, p, multi_class="ovr", average="macro", labels=list(range(k)))
    assert ours["roc_auc"] == pytest.approx(sk_auc, abs=1e-9)


def test_default_metrics_are_multiclass_metrics_then_each_recall() -> None:
    y, p = _data(200, 4, 0)
    labels = ["setosa", "versicolor", "virginica", "other"]
    assert tuple(multiclass_metrics(y, p, labels)) == (*MULTICLASS_METRICS, *(f"recall[{c}]" for c in labels))
    assert tuple(_suite(tuple(labels)).names) == tuple(multiclass_metrics(y, p, labels))


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
@pytest.mark.parametrize("k", [3, 10])
def test_class_absent_from_y_true(k: int) -> None:
    y, p = _data(800, k, 3)
    y[y == 1] = 0  # class 1 has no rows, but is still predicted sometimes
    assert (p.argmax(axis=1) == 1).any()
    ours = multiclass_metrics(y, p, _labels(k))
    _assert_match(ours, _sklearn(y, p, k))
    assert ours["recall[c1]"] == 0.0
    with warnings.catch_warnings():  # scikit-learn has no value (NaN, or an error before 1.6)
        warnings.simplefilter("ignore")
        try:
            assert math.isnan(skm.roc_auc_score(y, p, multi_class="ovr", labels=list(range(k))))
        except ValueError:
            pass
    # ours averages over the classes present
    aucs = [skm.roc_auc_score(y == j, p[:, j]) for j in range(k) if j != 1]
    assert ours["roc_auc"] == pytest.approx(np.mean(aucs), abs=1e-12)


def test_predicted_class_is_first_maximum() -> None:
    y = np.array([1, 0, 2, 1])
    p = np.array([[0.4, 0.4, 0.2], [0.3, 0.3, 0.4], [1 / 3, 1 / 3, 1 / 3], [0.2, 0.4, 0.4]])
    out = multiclass_metrics(y, p, _labels(3), metrics=["accuracy", "recall[c1]"])
    # predictions 0, 2, 0, 1: only the last row is right
    assert out == {"accuracy": 0.25, "recall[c1]": 0.5}


def test_exact_zero_and_one_probabilities_are_clipped_like_sklearn() -> None:
    y = np.array([0, 1, 2, 2])
    p = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.5, 0.5, 0.0]])
    out = multiclass_metrics(y, p, _labels(3), metrics=["log_loss"])
    assert out["log_loss"] == pytest.approx(skm.log_loss(y, p, labels=[0, 1, 2]), rel=1e-12)
    assert math.isfinite(out["log_loss"])


def test_single_class_sample_has_nan_roc_auc() -> None:
    y = np.zeros(20, dtype=int)
    _, p = _data(20, 3, 0)
    out = multiclass_metrics(y, p, _labels(3))
    assert math.isnan(out["roc_auc"])
    assert out["accuracy"] == pytest.approx(skm.accuracy_score(y, p.argmax(axis=1)))


def test_all_scores_tied_gives_half_auc() -> None:
    y = np.array([0, 1, 2, 0, 1, 2, 2])
    p = np.full((7, 3), 1 / 3)
    assert multiclass_metrics(y, p, _labels(3), metrics=["roc_auc"])["roc_auc"] == pytest.approx(0.5)


def test_runs_cut_at_the_uint16_bound_give_the_same_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """Long runs are cut every _MAX_RUN rows (so a run's weight fits in uint16); cutting must not
    change any value, also inside tie groups (the cut here is 3 rows, with heavy ties)."""
    y, p = _data(600, 4, 7, signal=0.3, decimals=1)
    expected = multiclass_metrics(y, p, _labels(4))
    reps = multiclass_replicates(y, p, _labels(4), n_resamples=6, seed=2)
    monkeypatch.setattr(mc, "_MAX_RUN", 3)
    _assert_match(multiclass_metrics(y, p, _labels(4)), expected, tol=1e-12)
    _assert_match(multiclass_metrics(y, p, _labels(4)), _sklearn(y, p, 4))
    cut = multiclass_replicates(y, p, _labels(4), n_resamples=6, seed=2)
    for name in reps:
        np.testing.assert_allclose(cut[name], reps[name], rtol=1e-12, atol=1e-12)


def test_run_weights_longer_than_uint16_are_exact() -> None:
    """70,000 negatives of class 0 below all its positives (and 50 among them): one run whose
    bootstrap weight (about 70,000) would overflow the uint16 run sums if runs were not cut."""
    n_neg, n_pos = 70_000, 50
    y = np.r_[np.ones(n_neg + 50, dtype=int), np.zeros(n_pos, dtype=int)]
    rng = np.random.default_rng(0)
    p0 = np.r_[rng.uniform(0.0, 0.3, n_neg), rng.uniform(0.4, 1.0, 50), rng.uniform(0.35, 1.0, n_pos)]
    p = np.column_stack([p0, 1.0 - p0])
    labels = ["a", "b"]
    reps = multiclass_replicates(y, p, labels, n_resamples=3, seed=1, metrics=["roc_auc"])["roc_auc"]
    weights = multiclass_weights(y, p, labels, n_resamples=3, seed=1)
    for b in range(3):
        assert reps[b] == pytest.approx(_ovr_auc(y, p, 2, weights[b].astype(float)), abs=1e-12)


# ---------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("y", "p"),
    [
        ([0, 1, 3], [[0.2, 0.3, 0.5]] * 3),  # class index out of range
        ([0, -1], [[0.2, 0.3, 0.5]] * 2),  # negative index
        ([0, 1], [[0.2, 0.3, 0.5]] * 3),  # length mismatch
        ([0, 1], [[0.5, 0.5], [0.5, 0.5]]),  # two columns for three classes
        ([0, 1], [[0.2, 0.3, np.nan], [0.2, 0.3, 0.5]]),  # NaN
        ([0, 1], [[1.2, -0.2, 0.0], [0.2, 0.3, 0.5]]),  # not probabilities
        ([0, 1], [[0.2, 0.2, 0.2], [0.2, 0.3, 0.5]]),  # a row summing to 0.6
        ([0.5, 1], [[0.2, 0.3, 0.5]] * 2),  # not an integer index
        ([], np.empty((0, 3))),  # empty
    ],
)
def test_bad_inputs_raise_training_error(y: list, p: list) -> None:
    with pytest.raises(TrainingError):
        multiclass_metrics(np.asarray(y), np.asarray(p, dtype=float), _labels(3))


def test_row_sum_error_names_the_row() -> None:
    y, p = _data(10, 3, 0)
    p[7] *= 0.9
    with pytest.raises(TrainingError, match=r"row 7 sums to 0\.9"):
        multiclass_metrics(y, p, _labels(3))


def test_unknown_metric_raises_config_error_listing_names() -> None:
    y, p = _data(50, 3, 0)
    with pytest.raises(ConfigError, match=r"f1_macro.*recall\[c2\]"):
        multiclass_metrics(y, p, _labels(3), metrics=["f1"])
    with pytest.raises(ConfigError, match="recall"):
        bootstrap_multiclass(y, p, _labels(3), n_resamples=5, metrics=["recall[nope]"])
    with pytest.raises(ConfigError):
        compare_multiclass(y, p, p, _labels(3), metric="pr_auc", n_resamples=5)
    with pytest.raises(ConfigError):
        multiclass_metrics(y, p, _labels(3), metrics=[])


def test_bad_labels_and_parameters_raise_config_error() -> None:
    y, p = _data(50, 3, 0)
    with pytest.raises(ConfigError, match="unique"):
        multiclass_metrics(y, p, ["a", "b", "a"])
    with pytest.raises(ConfigError):
        multiclass_metrics(y[:1] * 0, p[:1, :1] / p[:1, :1], ["only"])
    with pytest.raises(ConfigError):
        bootstrap_multiclass(y, p, _labels(3), n_resamples=0)
    with pytest.raises(ConfigError):
        bootstrap_multiclass(y, p, _labels(3), n_resamples=10, confidence=1.5)
    with pytest.raises(ConfigError):
        bootstrap_multiclass(y, p, _labels(3), n_resamples=10, seed=-1)


# ---------------------------------------------------------------------------- weights


def test_integer_weights_equal_the_explicitly_repeated_sample() -> None:
    y, p = _data(300, 5, 4, decimals=2)
    rng = np.random.default_rng(0)
    weights = rng.integers(0, 4, size=(3, y.shape[0]))
    out = weighted_multiclass_metrics(y, p, _labels(5), weights)
    for b in range(3):
        rows = np.repeat(np.arange(y.shape[0]), weights[b])
        repeated = multiclass_metrics(y[rows], p[rows], _labels(5))
        _assert_match({name: float(v[b]) for name, v in out.items()}, repeated, tol=1e-12)
        _assert_match({name: float(v[b]) for name, v in out.items()}, _sklearn(y[rows], p[rows], 5))


def test_fractional_weights_match_sklearn_sample_weight() -> None:
    y, p = _data(400, 4, 5)
    w = np.random.default_rng(1).uniform(0, 2, y.shape[0])
    out = weighted_multiclass_metrics(y, p, _labels(4), w)
    _assert_match({name: float(v[0]) for name, v in out.items()}, _sklearn(y, p, 4, sample_weight=w))


def test_all_zero_weighting_defines_no_metric() -> None:
    y, p = _data(30, 3, 0)
    out = weighted_multiclass_metrics(y, p, _labels(3), np.vstack([np.zeros(30), np.ones(30)]))
    assert all(math.isnan(v[0]) and math.isfinite(v[1]) for v in out.values())


def test_weights_must_fit_and_be_nonnegative() -> None:
    y, p = _data(30, 3, 0)
    with pytest.raises(TrainingError):
        weighted_multiclass_metrics(y, p, _labels(3), np.ones(29))
    with pytest.raises(TrainingError):
        weighted_multiclass_metrics(y, p, _labels(3), -np.ones(30))


# ---------------------------------------------------------------------------- bootstrap


@pytest.mark.parametrize("k", [3, 10])
def test_bootstrap_replicates_are_exact_weighted_metrics(k: int) -> None:
    y, p = _data(500, k, 6, decimals=2)
    weights = multiclass_weights(y, p, _labels(k), n_resamples=12, seed=3)
    reps = multiclass_replicates(y, p, _labels(k), n_resamples=12, seed=3)
    for b in (0, 5, 11):
        ref = _sklearn(y, p, k, sample_weight=weights[b].astype(float))
        _assert_match({name: float(v[b]) for name, v in reps.items()}, ref)


def test_bootstrap_weights_look_like_poisson_draws() -> None:
    y, p = _data(20_000, 3, 0)
    w = multiclass_weights(y, p, _labels(3), n_resamples=5, seed=1)
    assert w.dtype == np.uint8 and w.max() <= 5
    assert w.mean() == pytest.approx(1.0, abs=0.01)
    assert w.var() == pytest.approx(1.0, abs=0.02)
    assert not np.array_equal(w[0], w[1])


def test_bootstrap_does_not_depend_on_chunks_or_count(monkeypatch: pytest.MonkeyPatch) -> None:
    y, p = _data(400, 4, 8)
    full = multiclass_replicates(y, p, _labels(4), n_resamples=30, seed=5)
    first = multiclass_replicates(y, p, _labels(4), n_resamples=7, seed=5)
    monkeypatch.setattr(resampling, "chunk_size", lambda n: 4)
    chunked = multiclass_replicates(y, p, _labels(4), n_resamples=30, seed=5)
    for name in full:
        np.testing.assert_array_equal(chunked[name], full[name])
        np.testing.assert_array_equal(first[name], full[name][:7])
    other_seed = multiclass_replicates(y, p, _labels(4), n_resamples=30, seed=6)
    assert not np.array_equal(other_seed["roc_auc"], full["roc_auc"])


def test_bootstrap_estimates_value_interval_and_sample_size() -> None:
    y, p = _data(3000, 5, 9)
    est = bootstrap_multiclass(y, p, _labels(5), n_resamples=200, seed=1)
    point = multiclass_metrics(y, p, _labels(5))
    reps = multiclass_replicates(y, p, _labels(5), n_resamples=200, seed=1)
    assert list(est) == list(point)
    minority = int(np.bincount(y, minlength=5).min())
    for name, e in est.items():
        assert isinstance(e, MetricEstimate)
        assert e.value == point[name]
        lower, upper = np.percentile(reps[name], [2.5, 97.5])
        assert (e.lower, e.upper) == pytest.approx((lower, upper), abs=1e-12)
        assert e.lower <= e.value <= e.upper
        assert e.std == pytest.approx(np.std(reps[name], ddof=1))
        assert (e.n, e.minority, e.reliable) == (3000, minority, True)
    assert bootstrap_multiclass(y, p, _labels(5), n_resamples=200, seed=1) == est


def test_bootstrap_interval_covers_the_truth_at_about_the_nominal_rate() -> None:
    """A 90% interval of accuracy on samples of a model with known accuracy 0.7 covers it ~90% of the time."""
    rng = np.random.default_rng(11)
    covered = 0
    trials = 60
    for _ in range(trials):
        y = rng.integers(0, 3, 400)
        right = rng.uniform(size=400) < 0.7
        pred = np.where(right, y, (y + rng.integers(1, 3, 400)) % 3)
        p = np.full((400, 3), 0.2)
        p[np.arange(400), pred] = 0.6
        e = bootstrap_multiclass(y, p, _labels(3), n_resamples=300, seed=1, confidence=0.9, metrics=["accuracy"])
        covered += e["accuracy"].lower <= 0.7 <= e["accuracy"].upper
    assert 0.75 <= covered / trials <= 0.99


def test_absent_class_marks_estimates_unreliable() -> None:
    y, p = _data(600, 3, 2)
    y[y == 2] = 0
    est = bootstrap_multiclass(y, p, _labels(3), n_resamples=20, metrics=["accuracy", "roc_auc"])
    assert est["accuracy"].minority == 0 and est["accuracy"].reliable is False


def test_degenerate_resamples_are_logged_and_left_out(caplog: pytest.LogCaptureFixture) -> None:
    y = np.array([0, 1, 2])
    p = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]])
    with caplog.at_level(logging.WARNING, logger="pipeline.modeling.metrics"):
        est = bootstrap_multiclass(y, p, _labels(3), n_resamples=200, seed=0, metrics=["accuracy"])
    assert "degenerate" in caplog.text and "accuracy" in caplog.text
    assert math.isfinite(est["accuracy"].lower) and est["accuracy"].reliable is False


# ---------------------------------------------------------------------------- comparison


def test_compare_is_bootstrap_plus_paired_difference_on_the_same_weights() -> None:
    y, p_ch = _data(800, 4, 12, signal=1.2)
    _, p_champ = _data(800, 4, 13, signal=0.4)
    p_champ = 0.5 * p_champ + 0.5 * p_ch
    labels = _labels(4)
    estimates, paired = compare_multiclass(y, p_ch, p_champ, labels, metric="roc_auc", n_resamples=150, seed=4)
    assert estimates == bootstrap_multiclass(y, p_ch, labels, n_resamples=150, seed=4)
    # the champion's replicates are its metrics under the challenger's resample weights
    weights = multiclass_weights(y, p_ch, labels, n_resamples=150, seed=4)
    ch = weighted_multiclass_metrics(y, p_ch, labels, weights, metrics=["roc_auc"])["roc_auc"]
    champ = weighted_multiclass_metrics(y, p_champ, labels, weights, metrics=["roc_auc"])["roc_auc"]
    d = ch - champ
    assert isinstance(paired, PairedDifference)
    assert (paired.lower, paired.upper) == pytest.approx(tuple(np.percentile(d, [2.5, 97.5])), abs=1e-12)
    assert paired.prob_challenger_better == pytest.approx(((d > 0).sum() + 0.5 * (d == 0).sum()) / d.size)
    assert paired.challenger == multiclass_metrics(y, p_ch, labels)["roc_auc"]
    assert paired.champion == multiclass_metrics(y, p_champ, labels)["roc_auc"]
    assert paired.difference > 0 and paired.lower > 0 and paired.n_resamples == 150


def test_compare_lower_is_better_orientation_and_per_class_metric() -> None:
    y, good = _data(600, 3, 14, signal=2.0)
    worse = 0.4 * good + 0.6 / 3
    _, paired = compare_multiclass(y, good, worse, _labels(3), metric="log_loss", n_resamples=100)
    assert paired.challenger < paired.champion
    assert paired.difference == pytest.approx(paired.champion - paired.challenger)
    assert paired.difference > 0 and paired.prob_challenger_better > 0.9
    estimates, paired = compare_multiclass(
        y, worse, good, _labels(3), metric="recall[c1]", n_resamples=50, metrics=["accuracy"]
    )
    assert list(estimates) == ["accuracy"] and paired.metric == "recall[c1]"


def test_identical_models_differ_by_nothing() -> None:
    y, p = _data(300, 3, 15)
    _, paired = compare_multiclass(y, p, p.copy(), _labels(3), metric="f1_macro", n_resamples=80)
    assert paired.difference == 0.0 and paired.lower == 0.0 and paired.upper == 0.0
    assert paired.prob_challenger_better == 0.5


def test_compare_rejects_mismatched_champion() -> None:
    y, p = _data(100, 3, 0)
    with pytest.raises(TrainingError):
        compare_multiclass(y, p, p[:50], _labels(3), n_resamples=5)


# ---------------------------------------------------------------------------- report data


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_curves_match_sklearn_and_are_json_ready() -> None:
    import json

    y, p = _data(500, 4, 16, decimals=2)
    y[y == 3] = 0  # class 3 has no rows: no one-vs-rest AUC
    curves = multiclass_curves(y, p, ["a", "b", "c", "d"])
    json.dumps(curves)
    assert curves["confusion"]["labels"] == ["a", "b", "c", "d"]
    assert curves["confusion"]["matrix"] == skm.confusion_matrix(y, p.argmax(axis=1), labels=[0, 1, 2, 3]).tolist()
    pred = p.argmax(axis=1)
    precision, recall, f1, support = skm.precision_recall_fscore_support(y, pred, labels=[0, 1, 2, 3], zero_division=0)
    for j, row in enumerate(curves["per_class"]):
        assert row["class"] == "abcd"[j] and row["support"] == int(support[j])
        assert row["precision"] == round(float(precision[j]), 4)
        assert row["recall"] == round(float(recall[j]), 4)
        assert row["f1"] == round(float(f1[j]), 4)
        if j == 3:
            assert row["roc_auc"] is None
        else:
            assert row["roc_auc"] == round(skm.roc_auc_score(y == j, p[:, j]), 4)


def test_metric_suite_routes_to_this_module() -> None:
    y, p = _data(300, 3, 17)
    suite = _suite(("x", "y", "z"))
    assert suite.point(y, p) == multiclass_metrics(y, p, ["x", "y", "z"])
    est = suite.bootstrap(y, p, n_resamples=20, seed=0, confidence=0.9, metrics=["recall[z]"])
    assert list(est) == ["recall[z]"]
    assert suite.curves(y, p)["confusion"]["labels"] == ["x", "y", "z"]
