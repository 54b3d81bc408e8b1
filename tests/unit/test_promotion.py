"""Unit tests for pipeline.modeling.promotion: floors, non-inferiority, manual override."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.core.config import PromotionConfig
from pipeline.modeling.promotion import PromotionDecision, decide_promotion

POLICY = PromotionConfig(primary_metric="roc_auc", margin=0.01, floors={"roc_auc": 0.6})


def _evaluation(roc_auc: float = 0.8, log_loss: float = 0.5, champion: dict[str, Any] | None = None) -> dict[str, Any]:
    def est(v: float) -> dict[str, float]:
        return {"value": v, "lower": v - 0.05, "upper": v + 0.05, "std": 0.02}

    return {
        "train_rows": 800,
        "holdout_rows": 200,
        "holdout": {"roc_auc": est(roc_auc), "log_loss": est(log_loss)},
        "holdout_classes": {"no": 100, "yes": 100},
        "cross_validation": {},
        "champion": champion,
        "seconds": 0.1,
    }


def _champion(lower: float, difference: float = 0.0, upper: float = 0.05, version: int = 3) -> dict[str, Any]:
    return {
        "version": version,
        "holdout": {"roc_auc": 0.8},
        "comparison": {
            "metric": "roc_auc",
            "challenger": 0.8 + difference,
            "champion": 0.8,
            "difference": difference,
            "lower": lower,
            "upper": upper,
            "prob_challenger_better": 0.5,
            "n_resamples": 200,
        },
    }


def test_first_model_promoted_when_floors_hold() -> None:
    d = decide_promotion(_evaluation(roc_auc=0.75), POLICY)
    assert isinstance(d, PromotionDecision)
    assert d.promote is True and d.forced is False
    assert d.champion_version is None
    assert d.reason.startswith("first model")
    assert tuple(c.to_dict() for c in d.checks) == (
        {"check": "floor:roc_auc", "passed": True, "value": 0.75, "floor": 0.6},
        {
            "check": "holdout_rows",
            "passed": True,
            "rows": 200,
            "min_rows": 200,
            "message": "holdout has 200 rows, at least 200 needed",
        },
        {
            "check": "class_rows:no",
            "passed": True,
            "rows": 100,
            "min_rows": 20,
            "message": "class 'no' has 100 holdout rows, at least 20 needed",
        },
        {
            "check": "class_rows:yes",
            "passed": True,
            "rows": 100,
            "min_rows": 20,
            "message": "class 'yes' has 100 holdout rows, at least 20 needed",
        },
    )
    assert d.thin_evidence == ()


def test_first_model_exactly_at_floor_is_promoted() -> None:
    assert decide_promotion(_evaluation(roc_auc=0.6), POLICY).promote is True


def test_refused_below_floor_names_metric() -> None:
    d = decide_promotion(_evaluation(roc_auc=0.55), POLICY)
    assert d.promote is False
    assert "below floor" in d.reason
    assert "roc_auc" in d.reason
    assert "0.550" in d.reason and "0.600" in d.reason
    assert d.checks[0].passed is False and d.checks[0].name == "floor:roc_auc"


def test_floor_on_lower_is_better_metric() -> None:
    policy = PromotionConfig(floors={"log_loss": 0.6})
    assert decide_promotion(_evaluation(log_loss=0.5), policy).promote is True
    refused = decide_promotion(_evaluation(log_loss=0.7), policy)
    assert refused.promote is False
    assert "log_loss" in refused.reason


def test_floor_failure_wins_over_good_comparison() -> None:
    d = decide_promotion(_evaluation(roc_auc=0.5, champion=_champion(lower=0.02, difference=0.05)), POLICY)
    assert d.promote is False
    assert "below floor" in d.reason
    assert d.champion_version == 3


def test_promoted_when_lower_bound_above_minus_margin() -> None:
    d = decide_promotion(_evaluation(champion=_champion(lower=-0.005, difference=0.01)), POLICY)
    assert d.promote is True
    assert d.champion_version == 3
    assert "not worse than the champion" in d.reason
    assert "v3" in d.reason
    ni = [c for c in d.checks if c.name == "non_inferiority:roc_auc"]
    assert ni and ni[0].passed is True and ni[0].threshold == 0.01 and ni[0].to_dict()["margin"] == 0.01


def test_refused_when_lower_bound_at_minus_margin() -> None:
    d = decide_promotion(_evaluation(champion=_champion(lower=-0.01, difference=0.0)), POLICY)
    assert d.promote is False
    assert "may be worse than the champion" in d.reason


def test_refused_when_lower_bound_below_minus_margin() -> None:
    d = decide_promotion(_evaluation(champion=_champion(lower=-0.04, difference=-0.02)), POLICY)
    assert d.promote is False
    assert d.champion_version == 3
    assert "-0.020" in d.reason  # the difference is shown
    ni = [c for c in d.checks if c.kind == "non_inferiority"]
    assert ni[0].passed is False and ni[0].lower == -0.04


def test_zero_margin_requires_positive_lower_bound() -> None:
    policy = PromotionConfig(margin=0.0, floors={})
    assert decide_promotion(_evaluation(champion=_champion(lower=0.0)), policy).promote is False
    assert decide_promotion(_evaluation(champion=_champion(lower=0.001)), policy).promote is True


def test_force_promotes_with_reason() -> None:
    d = decide_promotion(
        _evaluation(roc_auc=0.5, champion=_champion(lower=-0.3, difference=-0.2)),
        POLICY,
        force=True,
        force_reason="hotfix for ticket 42",
    )
    assert d.promote is True and d.forced is True
    assert d.reason == "manual override: hotfix for ticket 42"
    assert d.champion_version == 3
    # the evidence is still recorded, failing checks included (floor, holdout size, two classes, non-inferiority)
    assert [c.passed for c in d.checks] == [False, True, True, True, False]


def test_force_without_reason() -> None:
    d = decide_promotion(_evaluation(), POLICY, force=True)
    assert d.forced is True
    assert d.reason == "manual override: no reason given"


def test_decision_to_dict() -> None:
    d = decide_promotion(_evaluation(champion=_champion(lower=0.0)), POLICY).to_dict()
    assert d["promote"] is True and d["forced"] is False and d["champion_version"] == 3
    assert isinstance(d["checks"], list) and len(d["checks"]) == 5  # floor, holdout size, 2 classes, non-inferiority
    assert d["thin_evidence"] == []


@pytest.mark.parametrize("floors", [{}, {"roc_auc": 0.0}])
def test_no_or_trivial_floors_first_model(floors: dict[str, float]) -> None:
    assert decide_promotion(_evaluation(roc_auc=0.51), PromotionConfig(floors=floors)).promote is True


# -- minimum improvement and slice gates ----------------------------------------------------------------
def _slice(value: str, rows: int, difference: float | None) -> dict[str, Any]:
    cmp = (
        None
        if difference is None
        else {
            "metric": "roc_auc",
            "difference": difference,
            "lower": difference - 0.02,
            "upper": difference + 0.02,
            "challenger": 0.8,
            "champion": 0.8 - difference,
        }
    )
    return {"value": value, "rows": rows, "positives": rows // 2, "small": rows < 100, "metrics": {}, "comparison": cmp}


GATED = PromotionConfig(
    primary_metric="roc_auc", margin=0.01, floors={}, slice_gates={"max_drop": 0.05, "min_rows": 100}
)


def test_min_improvement_checks_the_lower_bound() -> None:
    policy = PromotionConfig(margin=0.01, min_improvement=0.01, floors={})
    refused = decide_promotion(_evaluation(champion=_champion(lower=0.005, difference=0.02)), policy)
    assert refused.promote is False and refused.reason.startswith("not clearly better")
    check = next(c for c in refused.checks if c.name == "improvement:roc_auc")
    assert check.passed is False and check.threshold == 0.01 and check.to_dict()["min_improvement"] == 0.01
    accepted = decide_promotion(_evaluation(champion=_champion(lower=0.011, difference=0.03)), policy)
    assert accepted.promote is True and accepted.reason.startswith("better than the champion by more than 0.010")


def test_slice_gate_refuses_the_worst_slice_and_counts_the_others() -> None:
    ev = _evaluation(champion=_champion(lower=0.0, difference=0.02))
    ev["slices"] = {"region": [_slice("north", 500, 0.03), _slice("east", 400, -0.08), _slice("west", 300, -0.12)]}
    d = decide_promotion(ev, GATED)
    assert d.promote is False
    assert "region=west" in d.reason and "drops 0.120" in d.reason and "1 more slice" in d.reason
    outcome = {c.name: c.passed for c in d.checks if c.kind == "slice"}
    assert outcome == {"slice:region=north": True, "slice:region=east": False, "slice:region=west": False}


def test_slice_gate_allows_a_drop_within_max_drop_and_skips_small_or_undefined_slices() -> None:
    ev = _evaluation(champion=_champion(lower=0.0, difference=0.02))
    ev["slices"] = {"plan": [_slice("basic", 500, -0.05), _slice("premium", 40, -0.4), _slice("standard", 300, None)]}
    d = decide_promotion(ev, GATED)
    assert d.promote is True, d.reason
    outcome = {c.name: c.passed for c in d.checks if c.kind == "slice"}
    assert outcome == {"slice:plan=basic": True, "slice:plan=premium": None, "slice:plan=standard": None}


def test_slice_gates_without_slice_evidence_refuse_with_what_to_do() -> None:
    d = decide_promotion(_evaluation(champion=_champion(lower=0.0, difference=0.02)), GATED)
    assert d.promote is False and "dataset.slice_columns" in d.reason


def test_first_model_is_not_slice_gated() -> None:
    ev = _evaluation()
    ev["slices"] = {"region": [_slice("west", 300, None)]}
    assert decide_promotion(ev, GATED).promote is True


def test_undefined_values_never_pass_a_check() -> None:
    ev = _evaluation(champion=_champion(lower=0.0))
    ev["holdout"]["roc_auc"]["value"] = None  # e.g. a one-class holdout
    ev["champion"]["comparison"]["lower"] = None
    d = decide_promotion(ev, POLICY)
    assert d.promote is False and "missing" in d.reason
    assert [c.passed for c in d.checks] == [False, True, True, True, False]
