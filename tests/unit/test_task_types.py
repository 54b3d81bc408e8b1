"""Task types end to end in the modelling code: config rules, targets and scores, the output step,
and the promotion and retrain policies reading each metric's direction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline.core.config import OutputConfig, PromotionConfig, parse_config
from pipeline.core.errors import ConfigError, TrainingError
from pipeline.core.settings import BUNDLED_CONFIG
from pipeline.modeling.promotion import decide_promotion
from pipeline.modeling.training import build_pipeline, fit_model, predict_scores, target_values
from pipeline.monitoring.retrain_policy import LiveWindow, RetrainPolicy, decide_retrain

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def _mapping(task: str, **dataset: Any) -> dict[str, Any]:
    """A small valid config mapping for ``task`` (features x1, x2, colour)."""
    base: dict[str, Any] = {
        "dataset": {
            "name": f"{task}-data",
            "label": "y",
            "id_columns": ["id"],
            "features": {
                "numeric": [{"name": "x1"}, {"name": "x2"}],
                "categorical": [{"name": "colour", "levels": ["red", "blue"]}],
            },
        },
        "model": {"name": f"{task}-model", "specs": {"default": {"estimator": "random_forest", "params": {}}}},
    }
    if task == "binary":
        base["dataset"].update(classes=["no", "yes"], positive_class="yes")
    elif task == "multiclass":
        base["dataset"].update(task="multiclass", classes=["a", "b", "c"])
    else:
        base["dataset"].update(task="regression")
    base["dataset"].update(dataset)
    return base


def _frame(task: str, n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    colour = rng.choice(["red", "blue"], size=n)
    signal = 2 * x1 - x2 + (colour == "red")
    if task == "regression":
        y: Any = 10 * signal + rng.normal(size=n)
    elif task == "multiclass":
        y = np.array(["a", "b", "c"])[np.digitize(signal + rng.normal(scale=0.3, size=n), [-1.0, 1.0])]
    else:
        y = np.where(signal + rng.normal(size=n) > 0, "yes", "no")
    return pd.DataFrame({"id": np.arange(n), "x1": x1, "x2": x2, "colour": colour, "y": y})


# --- config --------------------------------------------------------------------------------------


def test_existing_binary_configs_keep_their_hashes_and_dumps() -> None:
    bundled = yaml.safe_load(BUNDLED_CONFIG.read_text())
    config = parse_config(bundled)
    dumped = config.model_dump(mode="json")
    assert config.dataset.task == "binary"
    assert "task" not in dumped["dataset"] and "output" not in dumped["model"]
    assert "regression_folds" not in dumped["evaluation"]
    assert config.promotion.primary_metric == "roc_auc"


def test_each_task_gets_its_default_primary_metric() -> None:
    assert parse_config(_mapping("multiclass")).promotion.primary_metric == "roc_auc"
    assert parse_config(_mapping("regression")).promotion.primary_metric == "rmse"
    chosen = {**_mapping("regression"), "promotion": {"primary_metric": "mae"}}
    assert parse_config(chosen).promotion.primary_metric == "mae"


@pytest.mark.parametrize(
    ("task", "change", "expected"),
    [
        ("binary", {"classes": ["a", "b", "c"], "positive_class": "a"}, "set dataset.task: multiclass"),
        ("multiclass", {"classes": ["a", "b"]}, "three or more classes"),
        ("multiclass", {"positive_class": "a"}, "has no positive_class"),
        ("regression", {"classes": ["a", "b"]}, "remove dataset.classes"),
        ("multiclass", {"classes": ["a", "b", "a"]}, "lists a class twice"),
    ],
)
def test_classes_must_fit_the_task(task: str, change: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        parse_config(_mapping(task, **change))


def test_metrics_and_estimators_must_fit_the_task() -> None:
    with pytest.raises(ConfigError, match="unknown metric 'roc_auc' for a regression task"):
        parse_config({**_mapping("regression"), "promotion": {"primary_metric": "roc_auc"}})
    with pytest.raises(ConfigError, match="unknown metric 'rmse' for a binary task"):
        parse_config({**_mapping("binary"), "promotion": {"floors": {"rmse": 3.0}}})
    floored = parse_config({**_mapping("multiclass"), "promotion": {"floors": {"recall[b]": 0.5}}})
    assert floored.promotion.floors == {"recall[b]": 0.5}
    with pytest.raises(ConfigError, match="names no class"):
        parse_config({**_mapping("multiclass"), "promotion": {"floors": {"recall[z]": 0.5}}})
    linear = _mapping("binary")
    linear["model"]["specs"]["default"]["estimator"] = "ridge"
    with pytest.raises(ConfigError, match="ridge does not fit a binary task"):
        parse_config(linear)
    logistic = _mapping("regression")
    logistic["model"]["specs"]["default"]["estimator"] = "logistic_regression"
    with pytest.raises(ConfigError, match="logistic_regression does not fit a regression task"):
        parse_config(logistic)
    clipped = _mapping("binary")
    clipped["model"]["output"] = {"clip_min": 0}
    with pytest.raises(ConfigError, match=r"model\.output"):
        parse_config(clipped)
    inverted = _mapping("regression")
    inverted["model"]["output"] = {"clip_min": 5, "clip_max": 1}
    with pytest.raises(ConfigError, match=r"clip_min 5\.0 is above clip_max 1\.0"):
        parse_config(inverted)


# --- targets, scores and the output step ---------------------------------------------------------


def test_targets_per_task() -> None:
    frame = pd.DataFrame({"y": ["c", "a", "b"]})
    multiclass = parse_config(_mapping("multiclass")).dataset
    assert target_values(frame, multiclass).tolist() == [2, 0, 1]
    with pytest.raises(TrainingError, match=r"\['z'\] are not among dataset.classes"):
        target_values(pd.DataFrame({"y": ["a", "z"]}), multiclass)
    regression = parse_config(_mapping("regression")).dataset
    assert target_values(pd.DataFrame({"y": [1.5, -2.0]}), regression).dtype == np.float64


def test_multiclass_scores_follow_the_declared_class_order_even_when_training_lacked_a_class() -> None:
    config = parse_config(_mapping("multiclass"))
    frame = _frame("multiclass")
    without_b = frame[frame["y"] != "b"]
    model = fit_model(without_b, config.dataset, config.model_spec(), seed=0)
    scores = predict_scores(model, frame.head(50), config.dataset)
    assert scores.shape == (50, 3)
    assert np.allclose(scores.sum(axis=1), 1.0)
    assert (scores[:, 1] == 0).all()  # "b" never seen: probability 0, in its own column


def test_regression_output_is_clipped_and_rounded_by_the_fitted_model_itself() -> None:
    mapping = _mapping("regression")
    mapping["model"]["output"] = {"clip_min": 0.0, "clip_max": 15.0, "round_decimals": 0}
    config = parse_config(mapping)
    frame = _frame("regression")
    model = fit_model(frame, config.dataset, config.model_spec(), seed=0, output=config.model.output)
    scores = predict_scores(model, frame, config.dataset)
    assert scores.min() >= 0.0 and scores.max() <= 15.0
    assert (scores == np.round(scores)).all()
    raw = build_pipeline(config.dataset, config.model_spec(), seed=0).fit(
        frame[["x1", "x2", "colour"]].astype({"colour": object}), frame["y"]
    )
    raw_scores = raw.predict(frame[["x1", "x2", "colour"]].astype({"colour": object}))
    assert raw_scores.min() < 0 and raw_scores.max() > 15  # the clip really did something
    assert np.array_equal(scores, np.round(np.clip(raw_scores, 0, 15)))


def test_a_constant_regression_target_is_refused() -> None:
    config = parse_config(_mapping("regression"))
    frame = _frame("regression").assign(y=3.0)
    with pytest.raises(TrainingError, match="single value of 'y'"):
        fit_model(frame, config.dataset, config.model_spec(), seed=0)


def test_output_config_defaults_do_nothing() -> None:
    assert OutputConfig().model_dump() == {"clip_min": None, "clip_max": None, "round_decimals": None}


# --- policies read the direction -----------------------------------------------------------------


def _rmse_evaluation(challenger: float, champion: float, lower: float, upper: float) -> dict[str, Any]:
    def est(v: float) -> dict[str, float]:
        return {"value": v, "lower": v * 0.95, "upper": v * 1.05, "std": v * 0.02}

    return {
        "task": "regression",
        "holdout_rows": 500,
        "holdout": {"rmse": est(challenger), "mae": est(challenger * 0.8)},
        "holdout_classes": {},
        "champion": {
            "version": 1,
            "holdout": {"rmse": champion},
            "comparison": {
                "metric": "rmse",
                "challenger": challenger,
                "champion": champion,
                "difference": champion - challenger,  # positive: the challenger's error is lower
                "lower": lower,
                "upper": upper,
                "prob_challenger_better": 0.5,
                "n_resamples": 200,
            },
        },
    }


def test_a_worse_regressor_is_held_back_and_the_margin_is_a_share_of_the_champion_rmse() -> None:
    policy = PromotionConfig(primary_metric="rmse", margin=0.01, min_class_rows=20)
    worse = decide_promotion(_rmse_evaluation(challenger=1100.0, champion=1000.0, lower=-130.0, upper=-70.0), policy)
    assert not worse.promote and "may be worse" in worse.reason and "lower is better" in worse.reason
    check = next(c for c in worse.checks if c.kind == "non_inferiority")
    assert check.threshold == pytest.approx(10.0)  # 1% of the champion's RMSE of 1000
    # within 1%: not worse beyond the margin (lower bound -8 > -10)
    tied = decide_promotion(_rmse_evaluation(challenger=1001.0, champion=1000.0, lower=-8.0, upper=6.0), policy)
    assert tied.promote and "not worse" in tied.reason
    assert not [c for c in tied.checks if c.kind == "class_rows"]  # regression has no classes to count


def test_a_floor_on_an_error_metric_is_a_ceiling() -> None:
    policy = PromotionConfig(primary_metric="rmse", floors={"rmse": 1050.0}, min_class_rows=20)
    evaluation = _rmse_evaluation(challenger=1100.0, champion=1000.0, lower=1.0, upper=2.0)
    evaluation["champion"] = None
    refused = decide_promotion(evaluation, policy)
    assert not refused.promote and "below floor: rmse 1100.000" in refused.reason
    evaluation["holdout"]["rmse"]["value"] = 1000.0
    assert decide_promotion(evaluation, policy).promote


def _window(i: int, value: float, half: float) -> LiveWindow:
    return LiveWindow(f"w{i}", 1, 1000, value, value - half, value + half)


def test_a_rising_rmse_is_a_performance_drop() -> None:
    policy = RetrainPolicy(metric="rmse", max_drop=0.05, min_samples=500, consecutive_windows=2)
    rising = [_window(1, 1300.0, 50.0), _window(2, 1280.0, 50.0)]
    decision = decide_retrain(rising, baseline=1000.0, policy=policy, last_retrain_at=None, now=NOW)
    assert decision.retrain and decision.kind == "performance_drop"
    assert "rose above 1050.000" in decision.reason  # 5% of the baseline RMSE
    assert decision.evidence["higher_is_better"] is False
    falling = [_window(1, 700.0, 50.0), _window(2, 650.0, 50.0)]  # better than promised: no drop
    assert not decide_retrain(falling, 1000.0, policy, None, NOW).retrain
    noisy = [_window(1, 1060.0, 30.0), _window(2, 1070.0, 30.0)]  # intervals reach below the ceiling
    assert not decide_retrain(noisy, 1000.0, policy, NOW - timedelta(days=3), NOW).retrain


def test_r2_keeps_absolute_margins() -> None:
    policy = RetrainPolicy(metric="r2", max_drop=0.05, min_samples=500, consecutive_windows=1)
    decision = decide_retrain([_window(1, 0.70, 0.02)], baseline=0.80, policy=policy, last_retrain_at=None, now=NOW)
    assert decision.retrain and "fell below 0.750" in decision.reason
