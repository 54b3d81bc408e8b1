"""Unit tests of pipeline.quality.label_contract."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pipeline.core.errors import ConfigError
from pipeline.quality.label_contract import (
    check_label_contract,
    check_label_contract_counts,
    check_label_parity,
    check_label_parity_counts,
    expected_shares_from,
    label_counts,
)


def labels(counts: dict[object, int]) -> pd.Series:
    values = [label for label, n in counts.items() for _ in range(n)]
    return pd.Series(np.random.default_rng(0).permutation(np.array(values, dtype=object)))


def test_matching_shares_hold() -> None:
    result = check_label_contract(labels({"yes": 1_000, "no": 1_000}), {"yes": 0.5, "no": 0.5})
    assert result.held
    assert result.max_deviation == 0.0
    assert result.counts == {"yes": 1_000, "no": 1_000}
    assert result.p_value == pytest.approx(1.0)
    assert result.message.startswith("label contract held")
    assert "n=2000" in result.message


def test_small_deviation_within_tolerance_holds_even_if_significant() -> None:
    result = check_label_contract(labels({"yes": 53_000, "no": 47_000}), {"yes": 0.5, "no": 0.5}, tolerance=0.05)
    assert result.p_value < 1e-6  # significant, yet the change is small: contract holds
    assert result.held
    assert result.max_deviation == pytest.approx(0.03)


def test_shifted_shares_break_the_contract_and_message_names_class() -> None:
    result = check_label_contract(labels({"yes": 1_400, "no": 600}), {"yes": 0.5, "no": 0.5})
    assert not result.held
    assert result.max_deviation == pytest.approx(0.2)
    assert result.observed_shares == pytest.approx({"yes": 0.7, "no": 0.3})
    assert result.p_value < 1e-20
    message = result.message
    assert message.startswith("label contract broken")
    assert "'yes'" in message and "0.70" in message and "0.50" in message and "0.10" in message
    assert "n=2000" in message
    assert "\n" not in message


def test_unknown_class_breaks_the_contract() -> None:
    result = check_label_contract(labels({"yes": 990, "no": 1_000, "maybe": 10}), {"yes": 0.5, "no": 0.5})
    assert not result.held  # deviation is tiny, but the class is not in the contract
    assert "'maybe'" in result.message
    assert result.counts["maybe"] == 10
    assert result.p_value == 0.0


def test_missing_expected_class_counts_as_deviation() -> None:
    result = check_label_contract(labels({"yes": 100}), {"yes": 0.5, "no": 0.5})
    assert not result.held
    assert result.counts == {"yes": 100, "no": 0}
    assert result.max_deviation == pytest.approx(0.5)


def test_labels_are_compared_as_strings() -> None:
    ints = pd.Series([0, 1] * 500)
    assert check_label_contract(ints, {"0": 0.5, "1": 0.5}).held
    assert check_label_contract(ints, {0: 0.5, 1: 0.5}).held  # type: ignore[dict-item]
    floats_with_null = pd.Series([0.0, 1.0] * 500 + [np.nan])
    assert check_label_contract(floats_with_null, {"0": 0.5, "1": 0.5}).held


def test_empty_labels_do_not_hold() -> None:
    result = check_label_contract(pd.Series([], dtype=object), {"yes": 0.5, "no": 0.5})
    assert not result.held
    assert "no labels" in result.message
    json.dumps(result.to_dict(), allow_nan=False)


def test_bad_expectation_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        check_label_contract(pd.Series(["a"]), {"a": 0.5, "b": 0.4})
    with pytest.raises(ConfigError):
        check_label_contract(pd.Series(["a"]), {})
    with pytest.raises(ConfigError):
        check_label_contract(pd.Series(["a"]), {"a": 1.0}, tolerance=2.0)


def test_expected_shares_from() -> None:
    assert expected_shares_from(pd.Series(["a", "b", "b", "b", None])) == {"a": 0.25, "b": 0.75}
    assert expected_shares_from(pd.Series([], dtype=object)) == {}


def test_label_parity() -> None:
    train = labels({"yes": 300, "no": 700})
    assert check_label_parity(train, labels({"yes": 62, "no": 138})).held
    skewed = check_label_parity(train, labels({"yes": 100, "no": 100}))
    assert not skewed.held
    assert "'yes'" in skewed.message and "0.30" in skewed.message and "0.50" in skewed.message
    new_class = check_label_parity(train, labels({"yes": 60, "no": 139, "other": 1}))
    assert not new_class.held and "'other'" in new_class.message
    assert not check_label_parity(pd.Series([], dtype=object), train).held


def test_label_parity_on_a_small_holdout_is_not_broken_by_chance() -> None:
    """A 75-row holdout of a 35/65 dataset at 0.41 is 1.1 standard errors away: chance, not a broken split."""
    train = {"malignant": 105, "benign": 195}
    wobble = check_label_parity_counts(train, {"malignant": 31, "benign": 44})
    assert wobble.held and "chance" in wobble.message and wobble.max_deviation > 0.05
    skewed = check_label_parity_counts(train, {"malignant": 45, "benign": 30})  # 0.60: no chance at all
    assert not skewed.held and "broken" in skewed.message
    big = check_label_parity_counts({"yes": 35_000, "no": 65_000}, {"yes": 4_100, "no": 5_900})
    assert not big.held  # 0.41 on 10 000 rows is real


def test_result_to_dict_is_json_safe() -> None:
    result = check_label_contract(labels({"yes": 1, "maybe": 1}), {"yes": 1.0})
    payload = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert payload["held"] is False
    assert payload["chi2"] is None  # infinite: a class nobody expected


def test_counts_give_the_same_verdicts_as_labels() -> None:
    series = labels({"yes": 1_400, "no": 600})
    assert label_counts(series) == {"no": 600, "yes": 1_400}
    from_counts = check_label_contract_counts({"yes": 1_400, "no": 600}, {"yes": 0.5, "no": 0.5})
    assert from_counts == check_label_contract(series, {"yes": 0.5, "no": 0.5})
    assert not from_counts.held and "'yes' is 0.70" in from_counts.message
    train, holdout = labels({"yes": 300, "no": 700}), labels({"yes": 100, "no": 100})
    assert check_label_parity_counts(label_counts(train), label_counts(holdout)) == check_label_parity(train, holdout)
    assert check_label_contract_counts({"yes": 5, "no": 0}, {"yes": 0.5, "no": 0.5}).counts == {"yes": 5, "no": 0}
