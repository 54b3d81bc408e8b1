"""Stage contracts cross a task boundary as JSON and come back as the same typed values."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from pipeline.app.contracts import call_stage
from pipeline.app.stages.evaluate import Evaluation
from pipeline.app.stages.folds import FoldScores
from pipeline.app.stages.monitor import MonitorDecision, TrainingTrigger
from pipeline.app.stages.train import FittedCandidate
from pipeline.app.stages.training_plan import TrainingPlan
from pipeline.app.training_flow import TrainingRun

PLAN = TrainingPlan(
    snapshot_id="abc",
    spec_name="",
    config_hash="f00",
    trigger={"kind": "test", "covers": [{"kind": "new_data"}]},
    force=False,
    existing_version=None,
    candidates=("default", "gradient_boosting[max_iter=3]"),
)
FITTED = FittedCandidate("default", "logistic_regression", {"C": 1.0}, 42, "artifacts/x", "ab" * 32, 80, 20, 0.5)


def test_nested_contracts_and_tuples_survive_json() -> None:
    run = TrainingRun(
        plan=PLAN,
        plans=PLAN.per_candidate(),
        trained=(FITTED,),
        scored=(FoldScores("default", 0, 3, "reports/cv/k"),),
        evaluation=Evaluation("reports/evaluations/e.json", PLAN.per_candidate()[0], FITTED),
    )
    data = json.loads(json.dumps(run.to_json()))  # what XCom stores
    assert data["plans"][1]["spec_name"] == "gradient_boosting[max_iter=3]"
    assert data["plan"]["candidates"] == ["default", "gradient_boosting[max_iter=3]"]
    assert data["evaluation"]["candidate"]["cross_validation"] is None
    assert TrainingRun.from_json(data) == run


def test_the_fold_scores_keep_their_xcom_keys() -> None:
    assert FoldScores("default", 1, 3, "k").to_json() == {
        "candidate": "default",
        "fold": 1,
        "folds": 3,
        "scores_key": "k",
    }


def test_an_unknown_key_is_named() -> None:
    with pytest.raises(TypeError, match=r"TrainingTrigger has no field\(s\) \['why'\]"):
        TrainingTrigger.from_json({"kind": "drift", "reason": "", "why": "?"})


def test_call_stage_hands_a_stage_its_contracts_and_returns_json() -> None:
    seen: list[object] = []

    def stage(ws: object, plans: Sequence[TrainingPlan], decision: MonitorDecision, fold: int) -> FoldScores:
        seen.extend([ws, plans, decision, fold])
        return FoldScores(plans[0].spec_name, fold, 3, "k")

    decision = MonitorDecision(retrain=False, kind=None, reason="", checked=("s1",))
    out = call_stage(stage, "ws", [p.to_json() for p in PLAN.per_candidate()], decision.to_json(), 2)

    assert out == {"candidate": "default", "fold": 2, "folds": 3, "scores_key": "k"}
    assert seen == ["ws", PLAN.per_candidate(), decision, 2]
    # a typed value passes through untouched, so in-process callers may hand contracts directly
    assert call_stage(stage, "ws", PLAN.per_candidate(), decision, 0)["fold"] == 0


def test_the_stages_package_lists_every_lazy_export() -> None:
    """``pipeline.app.stages.__all__`` is written out for linters; it must name exactly the lazy exports."""
    from pipeline.app import stages

    assert stages.__all__ == sorted(stages._EXPORTS)
    for name in stages.__all__:
        assert getattr(stages, name) is not None
