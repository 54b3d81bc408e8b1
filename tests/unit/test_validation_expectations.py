"""Our vectorised expectation checks, and their parity with great-expectations itself."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.quality.expectations import FAST_CHECKS, evaluate_suite
from pipeline.quality.suite import Expectation, Suite


def _suite(*items: tuple[str, str, dict]) -> Suite:
    return Suite(name="t", expectations=tuple(Expectation(i, t, kw, "fail", "schema") for i, t, kw in items))


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x": [1.0, 2.0, np.nan, 9.0, 50.0, 3.0],
            "s": pd.Series(["a", "b", None, "zz", "a", "a"], dtype="str"),
        }
    )


def test_value_checks_ignore_nulls_and_honour_mostly() -> None:
    outcomes = {
        o.id: o
        for o in evaluate_suite(
            _frame(),
            _suite(
                ("between", "expect_column_values_to_be_between", {"column": "x", "min_value": 0, "max_value": 5}),
                (
                    "mostly",
                    "expect_column_values_to_be_between",
                    {"column": "x", "min_value": 0, "max_value": 5, "mostly": 0.6},
                ),
                ("strict", "expect_column_values_to_be_between", {"column": "x", "min_value": 1, "strict_min": True}),
                ("in_set", "expect_column_values_to_be_in_set", {"column": "s", "value_set": ["a", "b"]}),
                ("not_null", "expect_column_values_to_not_be_null", {"column": "x"}),
            ),
        )
    }
    assert (outcomes["between"].success, outcomes["between"].unexpected_count) == (False, 2)
    assert outcomes["between"].unexpected_percent == pytest.approx(40.0)  # of the 5 non-null values
    assert outcomes["between"].sample == [9.0, 50.0]
    assert outcomes["mostly"].success  # 3 of 5 in range = 0.6
    assert (outcomes["strict"].success, outcomes["strict"].unexpected_count) == (False, 1)
    assert outcomes["in_set"].sample == ["zz"]
    assert (outcomes["not_null"].unexpected_count, outcomes["not_null"].sample) == (1, [None])


def test_missing_column_and_wrong_type_fail_with_a_reason() -> None:
    missing, typed = evaluate_suite(
        _frame(),
        _suite(
            ("m", "expect_column_values_to_be_in_set", {"column": "ghost", "value_set": ["a"]}),
            ("t", "expect_column_values_to_be_between", {"column": "s", "min_value": 0}),
        ),
    )
    assert not missing.success and "column 'ghost' is not in the data" in missing.describe()
    assert not typed.success and "not numbers" in typed.error


def test_table_checks_report_observed_values() -> None:
    rows, columns = evaluate_suite(
        _frame(),
        _suite(
            ("rows", "expect_table_row_count_to_be_between", {"min_value": 1, "max_value": 5}),
            ("cols", "expect_table_columns_to_match_set", {"column_set": ["x", "s", "y"], "exact_match": True}),
        ),
    )
    assert (rows.success, rows.observed) == (False, 6)
    assert "observed 6" in rows.describe() and "max_value=5" in rows.describe()
    assert not columns.success
    assert columns.result["details"]["mismatched"] == {"unexpected": [], "missing": ["y"]}


@pytest.mark.slow
def test_fast_checks_agree_with_great_expectations() -> None:
    """Every fast check against GX on the same frame; plus a type only GX knows, handed to GX."""
    rng = np.random.default_rng(3)
    n = 500
    frame = pd.DataFrame(
        {
            "x": rng.normal(10, 3, n),
            "y": rng.integers(0, 5, n).astype(float),
            "s": pd.Series(rng.choice(["a", "b", "c", "zz"], n, p=[0.5, 0.3, 0.15, 0.05]), dtype="str"),
        }
    )
    frame.loc[rng.random(n) < 0.05, "x"] = np.nan
    frame.loc[rng.random(n) < 0.05, "s"] = None
    items = [
        ("rows", "expect_table_row_count_to_be_between", {"min_value": 1, "max_value": 400}),
        ("cols", "expect_table_columns_to_match_set", {"column_set": ["x", "y", "s", "w"], "exact_match": True}),
        ("exists", "expect_column_to_exist", {"column": "w"}),
        ("nn", "expect_column_values_to_not_be_null", {"column": "x", "mostly": 0.9}),
        ("nn_strict", "expect_column_values_to_not_be_null", {"column": "s"}),
        ("between", "expect_column_values_to_be_between", {"column": "x", "min_value": 5, "max_value": 15}),
        (
            "between_m",
            "expect_column_values_to_be_between",
            {"column": "x", "min_value": 5, "max_value": 15, "mostly": 0.8, "strict_max": True},
        ),
        ("in_set", "expect_column_values_to_be_in_set", {"column": "s", "value_set": ["a", "b", "c"]}),
        ("in_set_num", "expect_column_values_to_be_in_set", {"column": "y", "value_set": [0.0, 1.0, 2.0]}),
        ("not_in", "expect_column_values_to_not_be_in_set", {"column": "s", "value_set": ["zz"], "mostly": 0.9}),
        ("type", "expect_column_values_to_be_in_type_list", {"column": "x", "type_list": ["float64"]}),
        ("type_bad", "expect_column_values_to_be_in_type_list", {"column": "y", "type_list": ["int64"]}),
        ("min", "expect_column_min_to_be_between", {"column": "x", "min_value": 0}),
        ("max", "expect_column_max_to_be_between", {"column": "y", "max_value": 3}),
        ("mean", "expect_column_mean_to_be_between", {"column": "x", "min_value": 9, "max_value": 11}),
        ("unique", "expect_column_values_to_be_unique", {"column": "y"}),  # no fast check: GX runs it
    ]
    assert {t for _, t, _ in items} - {"expect_column_values_to_be_unique"} == set(FAST_CHECKS)
    suite = _suite(*items)
    fast = evaluate_suite(frame, suite, "fast")
    gx = evaluate_suite(frame, suite, "great_expectations")
    assert [o.engine for o in fast if o.id == "unique"] == ["great_expectations"]
    assert {o.engine for o in fast if o.id != "unique"} == {"fast"}
    for ours, theirs in zip(fast, gx, strict=True):
        assert ours.id == theirs.id
        assert ours.success == theirs.success, ours.id
        assert ours.unexpected_count == theirs.unexpected_count, ours.id
        assert ours.sample == theirs.sample, ours.id
        assert (
            ours.observed == pytest.approx(theirs.observed)
            if isinstance(ours.observed, float)
            else ours.observed == theirs.observed
        ), ours.id
        if theirs.unexpected_percent is not None:
            assert ours.unexpected_percent == pytest.approx(theirs.unexpected_percent), ours.id
    assert {o.id for o in fast if not o.success} >= {"rows", "cols", "exists", "between", "in_set", "type_bad"}
