"""Unit tests for pipeline.promotion: floors, non-inferiority, manual override."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.config import PromotionConfig
from pipeline.promotion import PromotionDecision, decide_promotion

POLICY = PromotionConfig(primary_metric="roc_auc", margin=0.01, floors={"roc_auc": 0.6})


def _evaluation(roc_auc: float = 0.8, log_loss: float = 0.5, champion: dict[str, Any] | None = None) -> dict[str, Any]:
    def est(v: float) -> dict[str, float]:
        return {"value": v, "lower": v - 0.05, "upper": v + 0.05, "std": 0.02}

    return {"train_rows": 800, "holdout_rows": 200, "holdout": {"roc_auc": est(roc_auc), "log_loss": est(log_loss)},
            "cross_validation": {}, "champion": champion, "seconds": 0.1}


def _champion(lower: float, difference: float = 0.0, upper: float = 0.05, version: int = 3) -> dict[str, Any]:
    return {"version": version, "holdout": {"roc_auc": 0.8},
            "comparison": {"metric": "roc_auc", "challenger": 0.8 + difference, "champion": 0.8,
                           "difference": difference, "lower": lower, "upper": upper,
                           "prob_challenger_better": 0.5, "n_resamples": 200}}


def test_first_model_promoted_when_floors_hold() -> None:
    d = decide_promotion(_evaluation(roc_auc=0.75), POLICY)
    assert isinstance(d, PromotionDecision)
    assert d.promote is True and d.forced is False
    assert d.champion_version is None
    assert d.reason.startswith("first model")
    assert d.checks == ({"check": "floor:roc_auc", "passed": True, "value": 0.75, "floor": 0.6},)


def test_first_model_exactly_at_floor_is_promoted() -> None:
    assert decide_promotion(_evaluation(roc_auc=0.6), POLICY).promote is True


def test_refused_below_floor_names_metric() -> None:
    d = decide_promotion(_evaluation(roc_auc=0.55), POLICY)
    assert d.promote is False
    assert "below floor" in d.reason
    assert "roc_auc" in d.reason
    assert "0.550" in d.reason and "0.600" in d.reason
    assert d.checks[0]["passed"] is False


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
    ni = [c for c in d.checks if c["check"] == "non_inferiority:roc_auc"]
    assert ni and ni[0]["passed"] is True and ni[0]["margin"] == 0.01


def test_refused_when_lower_bound_at_minus_margin() -> None:
    d = decide_promotion(_evaluation(champion=_champion(lower=-0.01, difference=0.0)), POLICY)
    assert d.promote is False
    assert "may be worse than the champion" in d.reason


def test_refused_when_lower_bound_below_minus_margin() -> None:
    d = decide_promotion(_evaluation(champion=_champion(lower=-0.04, difference=-0.02)), POLICY)
    assert d.promote is False
    assert d.champion_version == 3
    assert "-0.020" in d.reason  # the difference is shown
    ni = [c for c in d.checks if c["check"].startswith("non_inferiority")]
    assert ni[0]["passed"] is False and ni[0]["lower"] == -0.04


def test_zero_margin_requires_positive_lower_bound() -> None:
    policy = PromotionConfig(margin=0.0, floors={})
    assert decide_promotion(_evaluation(champion=_champion(lower=0.0)), policy).promote is False
    assert decide_promotion(_evaluation(champion=_champion(lower=0.001)), policy).promote is True


def test_force_promotes_with_reason() -> None:
    d = decide_promotion(_evaluation(roc_auc=0.5, champion=_champion(lower=-0.3, difference=-0.2)), POLICY,
                         force=True, force_reason="hotfix for ticket 42")
    assert d.promote is True and d.forced is True
    assert d.reason == "manual override: hotfix for ticket 42"
    assert d.champion_version == 3
    # the evidence is still recorded, failing checks included
    assert [c["passed"] for c in d.checks] == [False, False]


def test_force_without_reason() -> None:
    d = decide_promotion(_evaluation(), POLICY, force=True)
    assert d.forced is True
    assert d.reason == "manual override: no reason given"


def test_decision_to_dict() -> None:
    d = decide_promotion(_evaluation(champion=_champion(lower=0.0)), POLICY).to_dict()
    assert d["promote"] is True and d["forced"] is False and d["champion_version"] == 3
    assert isinstance(d["checks"], list) and len(d["checks"]) == 2


@pytest.mark.parametrize("floors", [{}, {"roc_auc": 0.0}])
def test_no_or_trivial_floors_first_model(floors: dict[str, float]) -> None:
    assert decide_promotion(_evaluation(roc_auc=0.51), PromotionConfig(floors=floors)).promote is True
