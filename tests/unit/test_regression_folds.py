"""Unit tests for pipeline.modeling.splits.regression_folds: binned (stratified) and plain folds of a numeric target."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from pipeline.core.errors import ConfigError, TrainingError
from pipeline.modeling.splits import MAX_TARGET_BINS, regression_folds, stratified_folds, target_bins


def _skewed(n: int, seed: int) -> np.ndarray:
    """A heavy-tailed target: a few rows dominate the mean."""
    return np.random.default_rng(seed).lognormal(0.0, 1.0, n)


def _assert_partition(folds: list[tuple[np.ndarray, np.ndarray]], n: int) -> None:
    """Every row is validated exactly once and fitted on in every other fold."""
    validated = np.concatenate([valid for _, valid in folds])
    np.testing.assert_array_equal(np.sort(validated), np.arange(n))
    for fit, valid in folds:
        assert fit.dtype == valid.dtype == np.int64
        assert np.intersect1d(fit, valid).size == 0
        np.testing.assert_array_equal(np.sort(np.r_[fit, valid]), np.arange(n))


@pytest.mark.parametrize("binned", [True, False])
@pytest.mark.parametrize(("n", "n_folds"), [(1000, 5), (101, 3), (7, 7), (23, 2)])
def test_every_row_is_validated_exactly_once(binned: bool, n: int, n_folds: int) -> None:
    y = _skewed(n, n)
    folds = regression_folds(y, n_folds, seed=0, binned=binned)
    assert len(folds) == n_folds
    _assert_partition(folds, n)
    sizes = [valid.size for _, valid in folds]
    assert max(sizes) - min(sizes) <= (MAX_TARGET_BINS if binned else 1)


@pytest.mark.parametrize("binned", [True, False])
def test_folds_are_deterministic_and_depend_on_the_seed(binned: bool) -> None:
    y = _skewed(500, 1)
    a = regression_folds(y, 5, seed=3, binned=binned)
    b = regression_folds(y.copy(), 5, seed=3, binned=binned)
    c = regression_folds(y, 5, seed=4, binned=binned)
    for (fa, va), (fb, vb) in zip(a, b, strict=True):
        np.testing.assert_array_equal(fa, fb)
        np.testing.assert_array_equal(va, vb)
    assert any(not np.array_equal(va, vc) for (_, va), (_, vc) in zip(a, c, strict=True))


def test_binned_and_plain_folds_differ() -> None:
    y = _skewed(300, 2)
    binned = regression_folds(y, 5, seed=0, binned=True)
    plain = regression_folds(y, 5, seed=0, binned=False)
    assert any(not np.array_equal(vb, vp) for (_, vb), (_, vp) in zip(binned, plain, strict=True))


def test_binned_fold_means_stay_closer_to_the_whole_on_a_skewed_target() -> None:
    """Over 20 fixed seeds, the validation folds' means spread less around the whole with bins."""
    spread_binned, spread_plain = [], []
    for seed in range(20):
        y = _skewed(400, 100 + seed)
        for binned, spread in ((True, spread_binned), (False, spread_plain)):
            means = [y[valid].mean() for _, valid in regression_folds(y, 5, seed=seed, binned=binned)]
            spread.append(np.std(means))
    assert np.mean(spread_binned) < 0.75 * np.mean(spread_plain)  # measured: 0.58
    assert np.median(np.array(spread_binned) / np.array(spread_plain)) < 0.8  # measured: 0.52


def test_binned_folds_hold_each_quantile_bin_in_its_share() -> None:
    y = _skewed(1000, 5)
    bins = target_bins(y, 5)
    assert bins.max() + 1 == MAX_TARGET_BINS
    for _, valid in regression_folds(y, 5, seed=0, binned=True):
        counts = np.bincount(bins[valid], minlength=MAX_TARGET_BINS)
        assert counts.min() >= 19 and counts.max() <= 21  # 100 rows per bin, 5 folds: 20 each
        assert y[valid].min() <= np.quantile(y, 0.1)  # every fold has rows of the lowest decile
        assert y[valid].max() >= np.quantile(y, 0.9)  # ... and some of the tail


def test_target_bins_are_ordered_quantiles_with_enough_rows() -> None:
    y = _skewed(1000, 6)
    bins = target_bins(y, 5)
    counts = np.bincount(bins)
    assert counts.size == MAX_TARGET_BINS and counts.min() == counts.max() == 100
    order = np.argsort(y)
    assert np.all(np.diff(bins[order]) >= 0)  # bins follow the target's order


def test_target_bins_count_follows_rows_per_fold() -> None:
    y = np.arange(30, dtype=float)
    assert target_bins(y, 5).max() + 1 == 6  # 30 rows / 5 folds: 6 bins of 5 rows
    assert target_bins(y, 20).max() == 0  # too few rows to bin at all
    assert np.bincount(target_bins(y, 5)).min() >= 5


def test_ties_in_quantile_edges_are_merged_and_small_bins_joined() -> None:
    y = np.r_[np.arange(1.0, 21.0), np.full(60, 50.0), 51.0, np.arange(100.0, 119.0)]  # 100 rows, a heavy tie
    bins = target_bins(y, 5)
    counts = np.bincount(bins)
    assert counts.min() >= 5  # the lone 51.0 is not a bin of its own
    assert np.unique(bins[y == 50.0]).size == 1  # equal targets share a bin
    assert np.all(np.diff(bins[np.argsort(y, kind="stable")]) >= 0)
    folds = regression_folds(y, 5, seed=0, binned=True)
    _assert_partition(folds, y.size)
    for _, valid in folds:
        assert (y[valid] == 50.0).sum() == 12  # the tie is spread evenly too


def test_constant_target_falls_back_to_plain_folds(caplog: pytest.LogCaptureFixture) -> None:
    y = np.full(50, 2.5)
    with caplog.at_level(logging.INFO, logger="pipeline.modeling.splits"):
        folds = regression_folds(y, 5, seed=0, binned=True)
    _assert_partition(folds, 50)
    plain = regression_folds(y, 5, seed=0, binned=False)
    for (_, a), (_, b) in zip(folds, plain, strict=True):
        np.testing.assert_array_equal(a, b)
    assert "using plain folds" in caplog.text


def test_integer_and_bool_targets_are_numbers() -> None:
    _assert_partition(regression_folds(np.arange(40), 4, seed=0, binned=True), 40)
    _assert_partition(regression_folds(np.arange(40) % 2 == 0, 4, seed=0, binned=True), 40)


def test_errors_say_what_to_do() -> None:
    with pytest.raises(TrainingError, match=r"Cannot build 5 folds from 3 training row\(s\).*at most 3"):
        regression_folds(np.array([1.0, 2.0, 3.0]), 5, seed=0, binned=True)
    with pytest.raises(TrainingError, match="2 missing or infinite"):
        regression_folds(np.array([1.0, np.nan, 3.0, np.inf]), 2, seed=0, binned=False)
    with pytest.raises(TrainingError, match="non-empty"):
        regression_folds(np.array([]), 2, seed=0, binned=True)
    with pytest.raises(TrainingError, match=r"dataset\.task"):
        regression_folds(np.array(["a", "b", "c"]), 2, seed=0, binned=True)
    for bad in (1, 2.0, True):
        with pytest.raises(ConfigError, match="n_folds"):
            regression_folds(np.arange(10.0), bad, seed=0, binned=True)  # type: ignore[arg-type]


def test_classification_folds_are_unchanged() -> None:
    y = np.r_[np.zeros(80, dtype=int), np.ones(20, dtype=int)]
    folds = stratified_folds(y, 5, seed=0)
    assert [int(y[valid].sum()) for _, valid in folds] == [4] * 5
