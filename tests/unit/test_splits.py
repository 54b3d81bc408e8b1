"""Unit tests for pipeline.modeling.splits: row keys, hashed holdout, stratified folds, time split and folds."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from pipeline.core.errors import ConfigError, TrainingError
from pipeline.modeling.splits import (
    Split,
    holdout_mask,
    row_keys,
    split_by_time,
    split_holdout,
    stratified_folds,
    time_folds,
    time_values,
)


def _frame(n: int, seed: int = 0, start: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": np.arange(start, start + n),
            "region": rng.choice(["north", "south", "east"], size=n),
            "amount": rng.normal(size=n).round(3),
        }
    )


# ---------------------------------------------------------------------------- row keys


def test_row_keys_from_id_columns() -> None:
    df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"], "v": [0.1, 0.2, 0.3]})
    df.index = [10, 11, 12]
    assert row_keys(df, ["a"]).tolist() == ["1", "2", "3"]
    keys = row_keys(df, ["a", "b"])
    assert keys.tolist() == ["1|x", "2|y", "3|z"]
    assert keys.index.tolist() == [10, 11, 12]


def test_row_keys_composite_is_unambiguous() -> None:
    df = pd.DataFrame({"a": ["p|q", "p"], "b": ["r", "q|r"]})
    keys = row_keys(df, ["a", "b"])
    assert keys.iloc[0] != keys.iloc[1]


def test_row_keys_stable_when_int_ids_are_upcast_to_float() -> None:
    ints = pd.DataFrame({"id": [1, 2, 3]})
    floats = pd.DataFrame({"id": [1.0, 2.0, 3.0, np.nan]})
    assert row_keys(floats, ["id"]).iloc[:3].tolist() == row_keys(ints, ["id"]).tolist()
    assert row_keys(floats, ["id"]).iloc[3] == "<NA>"


def test_row_keys_without_ids_hash_full_row() -> None:
    df = _frame(50)
    keys = row_keys(df, [])
    assert keys.str.fullmatch(r"[0-9a-f]{16}").all()
    # Independent of index and of column order; equal rows give equal keys.
    shuffled = df[["amount", "customer_id", "region"]].set_axis(range(100, 150))
    assert row_keys(shuffled, []).tolist() == keys.tolist()
    dup = pd.concat([df.iloc[[3]], df.iloc[[3]]])
    assert row_keys(dup, []).nunique() == 1
    changed = df.copy()
    changed.loc[0, "amount"] += 1.0
    assert row_keys(changed, []).iloc[0] != keys.iloc[0]
    assert (row_keys(changed, []).iloc[1:] == keys.iloc[1:]).all()


def test_row_keys_missing_id_column_names_it() -> None:
    with pytest.raises(ConfigError, match="account_id"):
        row_keys(_frame(5), ["customer_id", "account_id"])


# ---------------------------------------------------------------------------- holdout


def test_holdout_fraction_close_to_requested() -> None:
    keys = row_keys(_frame(20_000), ["customer_id"])
    for fraction in (0.1, 0.2, 0.5):
        mask = holdout_mask(keys, fraction)
        assert mask.dtype == bool and mask.shape == (20_000,)
        assert abs(mask.mean() - fraction) < 0.02


def test_holdout_stable_when_rows_are_appended() -> None:
    old = _frame(20_000, seed=1)
    new = pd.concat([old, _frame(5_000, seed=2, start=20_000)], ignore_index=True)
    new = new.sample(frac=1.0, random_state=0)  # arrival order must not matter either
    old_mask = pd.Series(holdout_mask(row_keys(old, ["customer_id"]), 0.2), index=old.index)
    new_mask = pd.Series(holdout_mask(row_keys(new, ["customer_id"]), 0.2), index=new.index)
    pd.testing.assert_series_equal(new_mask.loc[old.index], old_mask, check_names=False)


def test_holdout_depends_on_salt() -> None:
    keys = row_keys(_frame(20_000), ["customer_id"])
    a = holdout_mask(keys, 0.2, salt="ct-holdout")
    b = holdout_mask(keys, 0.2, salt="another-salt")
    assert (a != b).mean() > 0.2  # independent draws disagree on ~32% of rows
    np.testing.assert_array_equal(a, holdout_mask(keys, 0.2))  # default salt, reproducible


def test_holdout_accepts_plain_sequences() -> None:
    assert holdout_mask(["a", "b", "c"], 0.5).shape == (3,)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5, float("nan"), "abc"])
def test_holdout_bad_fraction(fraction: object) -> None:
    with pytest.raises(ConfigError):
        holdout_mask(pd.Series(["a", "b"]), fraction)  # type: ignore[arg-type]


def test_split_holdout_partitions_rows() -> None:
    df = _frame(5_000)
    split = split_holdout(df, ["customer_id"], 0.25, salt="s1")
    assert isinstance(split, Split)
    together = np.sort(np.r_[split.train_index, split.holdout_index])
    np.testing.assert_array_equal(together, np.arange(len(df)))
    assert split.n_train + split.n_holdout == len(df)
    mask = holdout_mask(row_keys(df, ["customer_id"]), 0.25, salt="s1")
    np.testing.assert_array_equal(split.holdout_index, np.flatnonzero(mask))
    assert abs(split.n_holdout / len(df) - 0.25) < 0.03


def test_split_holdout_without_id_columns() -> None:
    df = _frame(2_000).drop(columns="customer_id")
    split = split_holdout(df, [], 0.3)
    assert 0.25 < split.n_holdout / len(df) < 0.35


# ---------------------------------------------------------------------------- folds


def test_stratified_folds_regular() -> None:
    y = np.r_[np.zeros(80, dtype=int), np.ones(20, dtype=int)]
    folds = stratified_folds(y, 5, seed=0)
    assert len(folds) == 5
    valid = np.sort(np.concatenate([v for _, v in folds]))
    np.testing.assert_array_equal(valid, np.arange(100))
    for train, val in folds:
        assert np.intersect1d(train, val).size == 0
        assert y[val].sum() == 4
    again = stratified_folds(y, 5, seed=0)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again, strict=True))


def test_stratified_folds_reduce_when_class_is_tiny(caplog: pytest.LogCaptureFixture) -> None:
    y = np.array(["a"] * 30 + ["b"] * 3)
    with caplog.at_level(logging.WARNING, logger="pipeline.modeling.splits"):
        folds = stratified_folds(y, 5, seed=1)
    assert len(folds) == 3
    assert "3 folds" in caplog.text
    for _, val in folds:
        assert (y[val] == "b").sum() == 1


def test_stratified_folds_single_member_class() -> None:
    y = np.array([0] * 10 + [1])
    with pytest.raises(TrainingError, match="only 1 member"):
        stratified_folds(y, 5, seed=0)


def test_stratified_folds_single_class_and_bad_n_folds() -> None:
    with pytest.raises(TrainingError, match="single class"):
        stratified_folds(np.zeros(10), 3, seed=0)
    with pytest.raises(ConfigError):
        stratified_folds(np.array([0, 1] * 5), 1, seed=0)


# ---------------------------------------------------------------------------- time-based split


def test_time_split_holds_out_the_most_recent_rows() -> None:
    rng = np.random.default_rng(3)
    times = rng.permutation(np.arange(1000.0))  # row order says nothing about time
    split = split_by_time(times, 0.2)
    assert split.n_holdout == 200 and split.n_train == 800
    assert times[split.holdout_index].min() > times[split.train_index].max()
    assert sorted(np.r_[split.train_index, split.holdout_index].tolist()) == list(range(1000))


def test_time_split_keeps_equal_times_together() -> None:
    times = np.repeat(np.arange(10.0), 10)  # ten days, ten rows each
    split = split_by_time(times, 0.15)  # 15 rows asked: the whole day at the cutoff goes to the holdout
    assert set(times[split.holdout_index]) == {8.0, 9.0}
    assert not set(times[split.train_index]) & set(times[split.holdout_index])


def test_time_split_needs_more_than_one_time() -> None:
    with pytest.raises(TrainingError, match="distinct times"):
        split_by_time(np.full(50, 7.0), 0.2)


def test_time_values_parse_dates_and_keep_numbers() -> None:
    dates = pd.Series(["2024-03-01", "2024-01-15", "2024-02-10T12:00:00"], name="signup")
    order = np.argsort(time_values(dates))
    assert order.tolist() == [1, 2, 0]
    numbers = pd.Series([3, 1, 2], name="day")
    np.testing.assert_array_equal(time_values(numbers), [3.0, 1.0, 2.0])


@pytest.mark.parametrize(
    ("values", "match"), [(["2024-01-01", None], "missing"), (["2024-01-01", "last tuesday"], "last tuesday")]
)
def test_time_values_bad_input_names_column_and_value(values: list, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        time_values(pd.Series(values, name="signup"))
    assert "signup" in str(info.value)


def test_time_folds_chain_forward() -> None:
    times = np.random.default_rng(5).permutation(np.arange(600.0))
    folds = time_folds(times, 5)
    assert len(folds) == 5
    previous_fit = 0
    for fit, valid in folds:
        assert times[fit].max() < times[valid].min()  # never validated on the past
        assert fit.size > previous_fit  # the training window grows
        previous_fit = fit.size
        assert valid.size == 100
    assert not set(folds[-1][0]) & set(folds[-1][1])


def test_time_folds_skip_empty_blocks_and_refuse_too_few() -> None:
    times = np.r_[np.zeros(50), np.ones(50), np.full(50, 2.0)]  # three distinct times only
    folds = time_folds(times, 5)
    assert 2 <= len(folds) < 5
    for fit, valid in folds:
        assert times[fit].max() < times[valid].min()
    with pytest.raises(TrainingError, match="fold"):
        time_folds(np.r_[np.zeros(10), np.ones(10)], 3)
