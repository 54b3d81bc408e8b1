"""Head-to-head gating on simulated holdouts: the real evidence (paired bootstrap, slices) read by
the real policy.  A clearly better challenger is promoted, a clearly worse one is refused, and one
that is better on average but much worse for one group is refused by the slice gate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from pipeline.core.config import PipelineConfig, PromotionConfig, SliceGates
from pipeline.modeling.evaluation import Evaluation, holdout_evidence
from pipeline.modeling.promotion import PromotionDecision, decide_promotion

GROUPS = ("north", "south", "east", "west")
N = 4000


@pytest.fixture
def cfg(config: PipelineConfig) -> PipelineConfig:
    return config.model_copy(
        update={
            "dataset": config.dataset.model_copy(update={"slice_columns": ("region",)}),
            "evaluation": config.evaluation.model_copy(update={"bootstrap_resamples": 300}),
        }
    )


@pytest.fixture
def holdout() -> tuple[pd.DataFrame, np.ndarray, np.random.Generator]:
    rng = np.random.default_rng(17)
    frame = pd.DataFrame({"region": np.repeat(GROUPS, N // len(GROUPS))})
    return frame, rng.integers(0, 2, N), rng


def _scores(y: np.ndarray, signal: np.ndarray | float, rng: np.random.Generator) -> np.ndarray:
    """Probabilities whose separation of the classes grows with ``signal`` (0: pure noise)."""
    return expit(signal * (2 * y - 1) + rng.normal(size=y.size))


def _decide(
    cfg: PipelineConfig,
    frame: pd.DataFrame,
    y: np.ndarray,
    challenger: np.ndarray,
    champion: np.ndarray,
    policy: PromotionConfig,
) -> tuple[PromotionDecision, dict]:
    evidence = holdout_evidence(y, challenger, frame, cfg, champion, champion_version=1)
    evaluation = Evaluation(
        train_rows=0, holdout_rows=len(frame), cross_validation={}, seconds=0.0, **evidence
    ).to_dict()
    return decide_promotion(evaluation, policy), evaluation


POLICY = PromotionConfig(
    primary_metric="roc_auc", margin=0.01, floors={"roc_auc": 0.6}, slice_gates=SliceGates(max_drop=0.05, min_rows=100)
)


def test_clearly_better_challenger_is_promoted(cfg, holdout) -> None:
    frame, y, rng = holdout
    decision, evaluation = _decide(cfg, frame, y, _scores(y, 2.0, rng), _scores(y, 1.0, rng), POLICY)
    cmp = evaluation["champion"]["comparison"]
    assert cmp["lower"] > 0.02  # the paired interval excludes "no better"
    assert decision.promote is True, decision.reason
    assert decision.reason.startswith("not worse than the champion")
    assert all(c.passed for c in decision.checks)
    gated = [c for c in decision.checks if c.kind == "slice" and (c.subject or "").startswith("region=")]
    assert len(gated) == len(GROUPS)


def test_clearly_worse_challenger_is_refused(cfg, holdout) -> None:
    frame, y, rng = holdout
    decision, evaluation = _decide(cfg, frame, y, _scores(y, 0.4, rng), _scores(y, 1.5, rng), POLICY)
    assert evaluation["champion"]["comparison"]["upper"] < -0.05
    assert decision.promote is False
    assert decision.reason.startswith("may be worse than the champion")


def test_better_on_average_but_worse_for_one_group_is_refused_by_the_slice_gate(cfg, holdout) -> None:
    frame, y, rng = holdout
    signal = np.where(frame["region"] == "west", 0.0, 2.0)  # useless for one group, excellent elsewhere
    challenger, champion = _scores(y, signal, rng), _scores(y, 1.0, rng)

    decision, evaluation = _decide(cfg, frame, y, challenger, champion, POLICY)

    cmp = evaluation["champion"]["comparison"]
    assert cmp["lower"] > 0  # better on average, and clearly so
    west = next(s for s in evaluation["slices"]["region"] if s["value"] == "west")
    assert west["comparison"]["difference"] < -0.2 and west["comparison"]["upper"] < 0
    assert decision.promote is False
    assert decision.reason.startswith("fails a slice gate")
    assert "region=west" in decision.reason
    failed = [c.name for c in decision.checks if c.passed is False]
    assert failed == ["slice:region=west"]
    # without the slice gate the same evidence would promote: the gate is what refuses
    ungated = decide_promotion(evaluation, POLICY.model_copy(update={"slice_gates": None}))
    assert ungated.promote is True


def test_small_slices_are_reported_but_not_gated(cfg, holdout) -> None:
    frame, y, rng = holdout
    signal = np.where(frame["region"] == "west", 0.0, 2.0)
    policy = POLICY.model_copy(update={"slice_gates": SliceGates(max_drop=0.05, min_rows=N)})  # every slice too small
    decision, _ = _decide(cfg, frame, y, _scores(y, signal, rng), _scores(y, 1.0, rng), policy)
    skipped = [c for c in decision.checks if c.kind == "slice"]
    assert skipped and all(c.passed is None and c.skip == "small" and "min_rows" in (c.message or "") for c in skipped)
    assert decision.promote is True


def test_min_improvement_needs_a_clear_gain(cfg, holdout) -> None:
    frame, y, rng = holdout
    same = _scores(y, 1.0, rng)
    slightly = np.clip(same + rng.normal(0, 0.01, y.size), 0, 1)  # practically the same model
    strict = POLICY.model_copy(update={"min_improvement": 0.005, "slice_gates": None})
    decision, _ = _decide(cfg, frame, y, slightly, same, strict)
    assert decision.promote is False
    assert decision.reason.startswith("not clearly better than the champion")
    better, _ = _decide(cfg, frame, y, _scores(y, 2.0, rng), same, strict)
    assert better.promote is True and better.reason.startswith("better than the champion by more than 0.005")
