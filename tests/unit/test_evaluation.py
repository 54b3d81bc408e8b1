"""Unit tests for pipeline.modeling.evaluation: deterministic holdout and the evidence of one candidate."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from pipeline.app.demo_data import BatchSpec, generate_batch
from pipeline.core.config import PipelineConfig
from pipeline.modeling.evaluation import (
    Evaluation,
    choose_best,
    cv_folds,
    describe_split,
    evaluate_candidate,
    holdout_split,
    score_slices,
)
from pipeline.modeling.metrics import METRIC_NAMES
from pipeline.modeling.training import features_and_target, fit_model


@pytest.fixture
def fast(config: PipelineConfig) -> PipelineConfig:
    return config.model_copy(
        update={"evaluation": config.evaluation.model_copy(update={"bootstrap_resamples": 200, "folds": 3})}
    )


@pytest.fixture
def frame() -> pd.DataFrame:
    return generate_batch(BatchSpec(rows=400, seed=11))


def _holdout_ids(frame: pd.DataFrame, config: PipelineConfig) -> set[str]:
    split = holdout_split(frame, config)
    return set(frame["customer_id"].iloc[split.holdout_index])


# -- holdout_split ------------------------------------------------------------------------------------
def test_holdout_split_partitions_rows(frame: pd.DataFrame, config: PipelineConfig) -> None:
    split = holdout_split(frame, config)
    both = np.concatenate([split.train_index, split.holdout_index])
    assert sorted(both.tolist()) == list(range(len(frame)))
    assert not set(split.train_index) & set(split.holdout_index)
    share = split.n_holdout / len(frame)
    assert 0.12 < share < 0.28  # about holdout_fraction = 0.2


def test_holdout_split_is_deterministic(frame: pd.DataFrame, config: PipelineConfig) -> None:
    a, b = holdout_split(frame, config), holdout_split(frame.copy(), config)
    np.testing.assert_array_equal(a.holdout_index, b.holdout_index)
    np.testing.assert_array_equal(a.train_index, b.train_index)


def test_holdout_split_ignores_row_order(frame: pd.DataFrame, config: PipelineConfig) -> None:
    shuffled = frame.sample(frac=1.0, random_state=3).reset_index(drop=True)
    assert _holdout_ids(shuffled, config) == _holdout_ids(frame, config)


def test_holdout_split_stable_when_rows_appended(frame: pd.DataFrame, config: PipelineConfig) -> None:
    more = generate_batch(BatchSpec(rows=300, seed=12, first_id=50_000))
    grown = pd.concat([frame, more], ignore_index=True)
    before = _holdout_ids(frame, config)
    after = _holdout_ids(grown, config)
    assert after & set(frame["customer_id"]) == before  # no old row changed sides
    assert after - before  # and some new rows joined the holdout


def test_holdout_depends_on_dataset_name(frame: pd.DataFrame, config: PipelineConfig) -> None:
    renamed = config.model_copy(update={"dataset": config.dataset.model_copy(update={"name": "other"})})
    assert _holdout_ids(frame, renamed) != _holdout_ids(frame, config)


# -- evaluate_candidate -------------------------------------------------------------------------------
@pytest.fixture
def fitted(frame: pd.DataFrame, fast: PipelineConfig):
    split = holdout_split(frame, fast)
    model = fit_model(frame.iloc[split.train_index], fast.dataset, fast.model_spec(), fast.evaluation.seed)
    return model, split


def test_evaluate_candidate_without_champion(frame: pd.DataFrame, fast: PipelineConfig, fitted) -> None:
    model, split = fitted
    ev = evaluate_candidate(model, frame, split, fast)
    assert isinstance(ev, Evaluation)
    assert ev.train_rows == split.n_train and ev.holdout_rows == split.n_holdout
    assert set(ev.holdout) == set(METRIC_NAMES)
    for metric, est in ev.holdout.items():
        assert est["lower"] <= est["value"] <= est["upper"], metric
        assert est["std"] >= 0
    assert 0.6 < ev.holdout["roc_auc"]["value"] <= 1.0  # the demo label is learnable
    assert set(ev.cross_validation) == set(METRIC_NAMES)
    for metric, cv in ev.cross_validation.items():
        assert cv["folds"] == 3, metric
        assert cv["std"] >= 0
    assert ev.champion is None
    d = ev.to_dict()
    assert d["champion"] is None and d["holdout"] == ev.holdout and d["train_rows"] == ev.train_rows


def test_evaluate_candidate_is_reproducible(frame: pd.DataFrame, fast: PipelineConfig, fitted) -> None:
    model, split = fitted
    a = evaluate_candidate(model, frame, split, fast).to_dict()
    b = evaluate_candidate(model, frame, split, fast).to_dict()
    a.pop("seconds"), b.pop("seconds")
    assert a == b


def test_identical_champion_differs_by_zero(frame: pd.DataFrame, fast: PipelineConfig, fitted) -> None:
    model, split = fitted
    ev = evaluate_candidate(model, frame, split, fast, champion=model, champion_version=4)
    champ = ev.champion
    assert champ is not None
    assert champ["version"] == 4
    cmp = champ["comparison"]
    assert cmp["metric"] == "roc_auc"
    assert cmp["difference"] == 0.0
    assert cmp["lower"] == 0.0 and cmp["upper"] == 0.0
    assert cmp["challenger"] == pytest.approx(ev.holdout["roc_auc"]["value"])
    assert champ["holdout"]["roc_auc"] == pytest.approx(ev.holdout["roc_auc"]["value"])


def test_weaker_champion_is_measured_on_same_holdout(frame: pd.DataFrame, fast: PipelineConfig, fitted) -> None:
    model, split = fitted
    # a different champion (trained on 30 rows) scored on the very same holdout rows
    weak = fit_model(frame.iloc[split.train_index[:30]], fast.dataset, fast.model_spec(), 0)
    cmp = evaluate_candidate(model, frame, split, fast, champion=weak, champion_version=1).champion["comparison"]
    assert cmp["lower"] <= cmp["difference"] <= cmp["upper"]
    assert cmp["difference"] == pytest.approx(cmp["challenger"] - cmp["champion"])
    assert 0.0 <= cmp["prob_challenger_better"] <= 1.0


# -- time split, evidence record, candidate choice ------------------------------------------------------
def _with_time(config: PipelineConfig) -> PipelineConfig:
    """The demo config with a numeric feature standing in for a time column (tenure as 'days')."""
    return config.model_copy(update={"dataset": config.dataset.model_copy(update={"time_column": "tenure_months"})})


def test_time_column_holds_out_the_latest_rows(frame: pd.DataFrame, config: PipelineConfig) -> None:
    cfg = _with_time(config)
    split = holdout_split(frame, cfg)
    t = frame["tenure_months"]
    assert t.iloc[split.holdout_index].min() > t.iloc[split.train_index].max()
    assert 0.15 < split.n_holdout / len(frame) < 0.35  # ties at the cutoff go to the holdout
    described = describe_split(frame, split, cfg)
    assert described["kind"] == "time" and described["folds"] == "forward-chaining"
    assert float(described["holdout_from"]) > float(described["train_until"])
    assert describe_split(frame, holdout_split(frame, config), config)["kind"] == "hash"


def test_time_column_cross_validates_forward(frame: pd.DataFrame, fast: PipelineConfig) -> None:
    cfg = _with_time(fast)
    split = holdout_split(frame, cfg)
    train = frame.iloc[split.train_index]
    _, y = features_and_target(train, cfg.dataset)
    for fit, valid in cv_folds(train, y, cfg):
        assert train["tenure_months"].iloc[fit].max() < train["tenure_months"].iloc[valid].min()
    model = fit_model(train, cfg.dataset, cfg.model_spec(), cfg.evaluation.seed)
    ev = evaluate_candidate(model, frame, split, cfg)
    assert ev.split["kind"] == "time" and 2 <= ev.cross_validation["roc_auc"]["folds"] <= 3


def test_evaluation_is_plain_json_without_nan(fast: PipelineConfig) -> None:
    ev = Evaluation(
        train_rows=1,
        holdout_rows=1,
        holdout={"roc_auc": {"value": float("nan"), "lower": np.float64(0.5), "upper": float("inf"), "std": 0.0}},
        cross_validation={"roc_auc": {"mean": None, "std": 0.0, "folds": np.int64(0)}},
        champion=None,
        seconds=0.0,
    )
    d = ev.to_dict()
    json.dumps(d, allow_nan=False)  # PostgreSQL's JSON type rejects NaN
    assert d["holdout"]["roc_auc"] == {"value": None, "lower": 0.5, "upper": None, "std": 0.0}
    assert type(d["cross_validation"]["roc_auc"]["folds"]) is int


def test_one_class_slices_are_flagged_and_undefined(fast: PipelineConfig) -> None:
    cfg = fast.model_copy(update={"dataset": fast.dataset.model_copy(update={"slice_columns": ("region",)})})
    holdout = pd.DataFrame({"region": ["north"] * 150 + ["south"] * 20 + [None] * 30})
    y = np.r_[np.arange(150) % 2, np.ones(20, dtype=int), np.arange(30) % 2]
    proba = np.linspace(0.01, 0.99, 200)
    slices = score_slices(holdout, y, proba, cfg)["region"]
    assert [s["value"] for s in slices] == ["(missing)", "north", "south"]
    south = slices[2]
    assert south["small"] is True and math.isnan(south["metrics"]["roc_auc"]["value"])
    assert slices[1]["small"] is False and slices[1]["rows"] == 150 and slices[1]["positives"] == 75


def test_choose_best_by_mean_cv_ties_and_undefined() -> None:
    def cand(name: str, mean: float | None) -> dict:
        return {"candidate": name, "cross_validation": {"roc_auc": {"mean": mean}, "log_loss": {"mean": mean}}}

    cands = [cand("a", 0.8), cand("b", 0.85), cand("c", 0.85), cand("d", None)]
    assert choose_best(cands, "roc_auc")["candidate"] == "b"  # first of the tied best
    assert choose_best(cands, "log_loss")["candidate"] == "a"  # lower is better; undefined ranks last
    assert choose_best([cand("d", None), cand("e", float("nan"))], "roc_auc")["candidate"] == "d"
