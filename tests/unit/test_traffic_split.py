"""Canary assignment: stable per entity, close to the configured share, reshuffled by a new challenger."""

from __future__ import annotations

import pytest

from pipeline.data.live_inputs import KEY_SEPARATOR
from pipeline.serving.traffic import assignment_point, entity_rule, to_challenger

IDS = [f"C{n:07d}" for n in range(10_000)]


def test_the_same_entity_always_goes_the_same_way():
    first = [to_challenger("churn", 3, e, 0.2) for e in IDS[:500]]
    again = [to_challenger("churn", 3, e, 0.2) for e in reversed(IDS[:500])]
    assert first == list(reversed(again))
    assert any(first) and not all(first)


@pytest.mark.parametrize("share", [0.05, 0.1, 0.3, 0.5, 0.9])
def test_the_share_sent_to_the_challenger_is_within_two_points_over_10000_ids(share):
    sent = sum(to_challenger("churn-classifier", 7, e, share) for e in IDS) / len(IDS)
    assert abs(sent - share) <= 0.02


def test_a_new_challenger_version_draws_a_new_sample():
    v3 = {e for e in IDS if to_challenger("churn", 3, e, 0.1)}
    v4 = {e for e in IDS if to_challenger("churn", 4, e, 0.1)}
    overlap = len(v3 & v4) / len(v3)
    assert overlap < 0.3  # independent samples of 10% overlap by about 10%
    assert all(0.0 <= assignment_point("churn", 4, e) < 1.0 for e in IDS[:100])


def test_a_larger_share_keeps_every_entity_already_in_the_canary():
    small = {e for e in IDS if to_challenger("churn", 3, e, 0.1)}
    large = {e for e in IDS if to_challenger("churn", 3, e, 0.3)}
    assert small <= large


def test_the_entity_is_the_configured_field_else_the_id_columns_else_the_request():
    rows = [{"customer_id": "A", "region": "north", "account": 7}, {"customer_id": "B", "region": "south"}]
    ids = {"customer_id": ["A", "B"], "region": ["north", "south"]}
    assert entity_rule(None, ["customer_id"]).entities(rows, ids, "req") == ["A", "B"]
    joined = entity_rule(None, ["customer_id", "region"]).entities(rows, ids, "req")
    assert joined == [f"A{KEY_SEPARATOR}north", f"B{KEY_SEPARATOR}south"]
    # a configured field that is not an id column; a row without it falls back to the request id
    assert entity_rule("account", ["customer_id"]).entities(rows, ids, "req") == ["7", "req"]
    assert entity_rule(None, []).entities(rows, {}, "req") == ["req", "req"]
