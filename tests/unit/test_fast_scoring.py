"""The NumPy scoring shortcut gives scikit-learn's scores for the pipelines it compiles, and
declines every other shape (which then scores through scikit-learn)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.core.config import ModelSpec, PipelineConfig
from pipeline.modeling.training import fit_model, predict_scores
from pipeline.serving.fast_scoring import compile_scorer
from pipeline.serving.request_schema import build_request_schema, example_record


def request_values(frame, dataset) -> dict[str, list]:
    """Demo rows as the request checker hands them over: NaN for a missing number, None for a missing level."""
    values = {c: frame[c].astype(float).tolist() for c in dataset.numeric_names}
    values |= {c: [None if pd.isna(v) else v for v in frame[c]] for c in dataset.categorical_names}
    return values


@pytest.mark.parametrize(
    "spec",
    [
        ModelSpec(estimator="logistic_regression", params={"C": 1.0, "max_iter": 500}),
        ModelSpec(estimator="gradient_boosting", params={"max_iter": 20}),
        ModelSpec(estimator="random_forest", params={"n_estimators": 10}),
    ],
    ids=lambda s: s.estimator,
)
def test_compiled_scores_equal_scikit_learns_on_demo_rows(config, demo_frame, spec):
    dataset = config.dataset
    model = fit_model(demo_frame, dataset, spec, seed=1, threads=1)
    schema = build_request_schema(dataset)
    scorer = compile_scorer(model, dataset, example_record(schema, dataset))
    assert scorer is not None
    rows = demo_frame.head(200).copy()
    rows.loc[rows.index[:20], "age"] = np.nan  # missing values take the training median
    rows.loc[rows.index[20:40], "region"] = None
    expected = predict_scores(model, rows, dataset, 1)
    np.testing.assert_allclose(scorer(request_values(rows, dataset), len(rows)), expected, rtol=1e-9, atol=1e-12)


def test_other_pipeline_shapes_are_left_to_scikit_learn(config, demo_frame):
    data = config.model_dump()
    data["dataset"]["features"]["categorical"] = [
        {**c, "encoding": "target"} if c["name"] == "plan" else c for c in data["dataset"]["features"]["categorical"]
    ]
    dataset = PipelineConfig.model_validate({**data, "model": config.model.model_dump()}).dataset
    spec = ModelSpec(estimator="logistic_regression", params={"max_iter": 500})
    model = fit_model(demo_frame, dataset, spec, seed=1, threads=1)
    schema = build_request_schema(dataset)
    assert compile_scorer(model, dataset, example_record(schema, dataset)) is None
    assert compile_scorer(object(), dataset, example_record(schema, dataset)) is None
