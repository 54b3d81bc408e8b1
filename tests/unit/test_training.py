"""Unit tests for pipeline.modeling.training: pipeline construction, fitting, scoring."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from pipeline.core.config import ESTIMATORS, REGRESSOR_ONLY, ModelSpec, PipelineConfig
from pipeline.core.errors import TrainingError
from pipeline.modeling.training import (
    build_pipeline,
    features_and_target,
    fit_model,
    predict_proba,
)

CLASSIFIERS = [e for e in ESTIMATORS if e not in REGRESSOR_ONLY]

SMALL_PARAMS = {
    "logistic_regression": {"C": 1.0, "max_iter": 500},
    "random_forest": {"n_estimators": 15, "max_depth": 4},
    "gradient_boosting": {"max_iter": 20},
}
EXPECTED_CLASS = {
    "logistic_regression": LogisticRegression,
    "random_forest": RandomForestClassifier,
    "gradient_boosting": HistGradientBoostingClassifier,
}


@pytest.fixture
def frame(demo_frame: pd.DataFrame) -> pd.DataFrame:
    return demo_frame.head(300).reset_index(drop=True)


@pytest.mark.parametrize("estimator", CLASSIFIERS)
def test_build_pipeline_for_each_estimator(estimator: str, config: PipelineConfig) -> None:
    spec = ModelSpec(estimator=estimator, params=SMALL_PARAMS[estimator])
    pipe = build_pipeline(config.dataset, spec, seed=11)
    assert isinstance(pipe, Pipeline)
    model = pipe.named_steps["model"]
    assert isinstance(model, EXPECTED_CLASS[estimator])
    assert model.random_state == 11
    for key, value in SMALL_PARAMS[estimator].items():
        assert model.get_params()[key] == value
    pre = pipe.named_steps["preprocess"]
    columns = {name: cols for name, _, cols in pre.transformers}
    assert columns["numeric"] == config.dataset.numeric_names
    assert columns["categorical"] == config.dataset.categorical_names


def test_explicit_random_state_wins(config: PipelineConfig) -> None:
    spec = ModelSpec(estimator="random_forest", params={"random_state": 3, "n_estimators": 5})
    assert build_pipeline(config.dataset, spec, seed=99).named_steps["model"].random_state == 3


@pytest.mark.parametrize("estimator", CLASSIFIERS)
def test_fit_and_predict_proba(estimator: str, frame: pd.DataFrame, config: PipelineConfig) -> None:
    spec = ModelSpec(estimator=estimator, params=SMALL_PARAMS[estimator])
    model = fit_model(frame, config.dataset, spec, seed=1)
    proba = predict_proba(model, frame.head(50), config.dataset)
    assert proba.shape == (50,)
    assert np.all((proba >= 0) & (proba <= 1))
    # the positive class is "yes": predictions must carry the signal on the training rows
    _, y = features_and_target(frame, config.dataset)
    all_proba = predict_proba(model, frame, config.dataset)
    assert all_proba[y == 1].mean() > all_proba[y == 0].mean()


def test_same_seed_identical_predictions(frame: pd.DataFrame, config: PipelineConfig) -> None:
    spec = ModelSpec(estimator="random_forest", params=SMALL_PARAMS["random_forest"])
    a = predict_proba(fit_model(frame, config.dataset, spec, seed=5), frame, config.dataset)
    b = predict_proba(fit_model(frame, config.dataset, spec, seed=5), frame, config.dataset)
    c = predict_proba(fit_model(frame, config.dataset, spec, seed=6), frame, config.dataset)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)  # the seed really reaches the estimator


def test_unknown_levels_and_missing_values_are_scored(frame: pd.DataFrame, config: PipelineConfig) -> None:
    model = fit_model(frame, config.dataset, config.model_spec(), seed=1)
    odd = frame.head(3).copy()
    odd.loc[0, "region"] = "mars"
    odd.loc[1, "monthly_charges"] = np.nan
    odd.loc[2, "plan"] = None
    proba = predict_proba(model, odd, config.dataset)
    assert proba.shape == (3,)
    assert np.all(np.isfinite(proba))


def test_features_and_target(frame: pd.DataFrame, config: PipelineConfig) -> None:
    X, y = features_and_target(frame, config.dataset)
    assert list(X.columns) == config.dataset.feature_names
    assert "customer_id" not in X.columns and "churned" not in X.columns
    assert y.dtype == np.int8
    np.testing.assert_array_equal(y, (frame["churned"] == "yes").to_numpy().astype(np.int8))


def test_one_class_frame_raises(frame: pd.DataFrame, config: PipelineConfig) -> None:
    only_no = frame[frame["churned"] == "no"]
    with pytest.raises(TrainingError) as info:
        fit_model(only_no, config.dataset, config.model_spec(), seed=1)
    assert "only one class" in str(info.value)
    assert "'churned'" in str(info.value)


def test_unknown_param_raises_training_error_naming_spec(config: PipelineConfig) -> None:
    spec = ModelSpec(estimator="random_forest", params={"max_iter": 10})
    with pytest.raises(TrainingError) as info:
        build_pipeline(config.dataset, spec, seed=1)
    msg = str(info.value)
    assert "random_forest" in msg
    assert "max_iter" in msg


def test_unknown_param_raises_from_fit_model(frame: pd.DataFrame, config: PipelineConfig) -> None:
    spec = ModelSpec(estimator="logistic_regression", params={"n_estimators": 10})
    with pytest.raises(TrainingError, match="logistic_regression"):
        fit_model(frame, config.dataset, spec, seed=1)


def test_bad_param_value_raises_training_error(frame: pd.DataFrame, config: PipelineConfig) -> None:
    spec = ModelSpec(estimator="logistic_regression", params={"C": -1.0})
    with pytest.raises(TrainingError, match="logistic_regression"):
        fit_model(frame, config.dataset, spec, seed=1)
