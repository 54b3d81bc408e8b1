"""Permutation importance on the holdout: the numbers are scikit-learn's, the direction says "helps",
the cost is bounded, and the model report shows it (forest plot and table, most important first)."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.inspection import permutation_importance
from sklearn.metrics import get_scorer
from test_reports import _model_version

from pipeline.app.demo_data import BatchSpec, generate_batch
from pipeline.app.demo_datasets import (
    house_prices_batch,
    house_prices_config,
    ticket_priority_batch,
    ticket_priority_config,
)
from pipeline.core.config import PipelineConfig, parse_config
from pipeline.modeling.evaluation import evaluate_candidate, holdout_split
from pipeline.modeling.importance import holdout_sample, permutation_importances, summarize_repeats
from pipeline.modeling.training import features_and_target, fit_model
from pipeline.reporting.pages import render_model_html


def _with(config: PipelineConfig, **evaluation: Any) -> PipelineConfig:
    return config.model_copy(update={"evaluation": config.evaluation.model_copy(update=evaluation)})


def _fit(frame: pd.DataFrame, config: PipelineConfig):
    split = holdout_split(frame, config)
    model = fit_model(frame.iloc[split.train_index], config.dataset, config.model_spec(), config.evaluation.seed)
    return model, split, frame.iloc[split.holdout_index]


@pytest.fixture(scope="module")
def churn() -> tuple[PipelineConfig, Any, Any, pd.DataFrame, pd.DataFrame]:
    import yaml

    from pipeline.core.settings import BUNDLED_CONFIG

    data = yaml.safe_load(BUNDLED_CONFIG.read_text())
    data["model"].pop("candidates", None)
    config = _with(parse_config(data), bootstrap_resamples=200, folds=3)
    frame = generate_batch(BatchSpec(rows=1500, seed=5))
    model, split, holdout = _fit(frame, config)
    return config, model, split, holdout, frame


def test_binary_importances_are_sklearns_on_the_primary_metric(churn) -> None:
    config, model, _, holdout, _ = churn
    result = permutation_importances(model, holdout, config, threads=1)
    assert result is not None and result.metric == "roc_auc" and result.repeats == 5
    X, y = features_and_target(holdout, config.dataset)
    expected = permutation_importance(
        model, X, y, scoring=get_scorer("roc_auc"), n_repeats=5, random_state=config.evaluation.seed
    )
    by_name = {f.feature: f for f in result.features}
    assert set(by_name) == set(X.columns)
    for k, name in enumerate(X.columns):
        assert by_name[name].mean == pytest.approx(expected["importances_mean"][k], abs=1e-12), name
        drops = expected["importances"][k]
        half = stats.t.ppf(0.975, 4) * drops.std(ddof=1) / math.sqrt(5)
        assert by_name[name].lower == pytest.approx(drops.mean() - half, abs=1e-12)
        assert by_name[name].upper == pytest.approx(drops.mean() + half, abs=1e-12)
    means = [f.mean for f in result.features]
    assert means == sorted(means, reverse=True)  # most important first
    # the demo's churn depends on the contract and the support calls; the customer's age is noise
    top = [f.feature for f in result.features[:4]]
    assert "contract" in top and "support_calls" in top
    assert by_name["age"].lower is not None and by_name["age"].lower < 0.02


def test_a_lower_is_better_metric_is_turned_so_that_positive_means_the_feature_helps(churn) -> None:
    config, model, _, holdout, _ = churn
    log_loss_config = config.model_copy(
        update={"promotion": config.promotion.model_copy(update={"primary_metric": "log_loss"})}
    )
    result = permutation_importances(model, holdout, log_loss_config, threads=1)
    assert result is not None and result.metric == "log_loss"
    X, y = features_and_target(holdout, config.dataset)
    expected = permutation_importance(
        model, X, y, scoring=get_scorer("neg_log_loss"), n_repeats=5, random_state=config.evaluation.seed
    )
    by_name = {f.feature: f.mean for f in result.features}
    for k, name in enumerate(X.columns):
        assert by_name[name] == pytest.approx(expected["importances_mean"][k], rel=1e-6, abs=1e-9), name
    assert by_name["contract"] > 0.01  # shuffling the contract raises the log loss: it helps


def test_regression_importance_is_the_rise_in_rmse() -> None:
    config = _with(parse_config(house_prices_config()), bootstrap_resamples=200, folds=3)
    frame = house_prices_batch(0, rows=800)
    model, _, holdout = _fit(frame, config)
    result = permutation_importances(model, holdout, config, threads=1)
    assert result is not None and result.metric == "rmse"
    X, y = features_and_target(holdout, config.dataset)
    expected = permutation_importance(
        model,
        X,
        y,
        scoring=get_scorer("neg_root_mean_squared_error"),
        n_repeats=5,
        random_state=config.evaluation.seed,
    )
    by_name = {f.feature: f.mean for f in result.features}
    for k, name in enumerate(X.columns):
        assert by_name[name] == pytest.approx(expected["importances_mean"][k], rel=1e-6), name
    assert result.features[0].mean is not None and result.features[0].mean > 0


def test_multiclass_importance_is_measured_on_its_primary_metric() -> None:
    config = _with(parse_config(ticket_priority_config()), bootstrap_resamples=200, folds=3)
    frame = ticket_priority_batch(0, rows=800)
    model, _, holdout = _fit(frame, config)
    result = permutation_importances(model, holdout, config, threads=1)
    assert result is not None and result.metric == config.promotion.primary_metric
    assert {f.feature for f in result.features} == set(config.dataset.feature_names)
    assert result.features[0].mean is not None and result.features[0].mean > 0
    assert all(f.lower is not None and f.lower <= f.mean <= f.upper for f in result.features if f.mean is not None)


def test_the_holdout_is_subsampled_to_importance_rows_and_the_report_says_so(churn) -> None:
    config, model, split, holdout, frame = churn
    small = _with(config, importance_rows=100, importance_repeats=3)
    result = permutation_importances(model, holdout, small, threads=1)
    assert result is not None and (result.rows, result.holdout_rows, result.repeats) == (100, len(holdout), 3)
    np.testing.assert_array_equal(holdout_sample(len(holdout), 100, 42), holdout_sample(len(holdout), 100, 42))
    assert len(set(holdout_sample(len(holdout), 100, 42).tolist())) == 100
    ev = evaluate_candidate(model, frame, split, small, cross_validation={}).to_dict()
    assert ev["importance_setup"] == {
        "metric": "roc_auc",
        "repeats": 3,
        "rows": 100,
        "holdout_rows": len(holdout),
        "seed": 42,
        "interval": "t",
        "confidence": 0.95,
    }
    page = render_model_html(replace(_model_version(), evaluation={**_model_version().evaluation, **ev}))
    text = " ".join(page.split())
    assert f"a random 100 of the {len(holdout)} holdout rows" in text
    assert "Feature importance (permutation on the holdout)" in text


def test_importance_can_be_turned_off() -> None:
    config = parse_config(house_prices_config())
    off = _with(config, importance_repeats=0)
    assert permutation_importances(object(), house_prices_batch(0, rows=50), off) is None
    assert off.content_hash() != config.content_hash()  # a setting that changes the evidence
    assert _with(config, importance_repeats=5).content_hash() == config.content_hash()  # the default


def test_summarize_repeats_handles_one_repeat_and_undefined_values() -> None:
    assert summarize_repeats("x", np.array([0.2])) == summarize_repeats("x", np.array([0.2, np.nan]))
    one = summarize_repeats("x", np.array([0.2]))
    assert (one.mean, one.lower, one.upper) == (0.2, None, None)
    assert summarize_repeats("x", np.array([np.nan, np.nan])).mean is None


def test_the_report_shows_every_feature_sorted_in_a_table_and_a_forest_plot(churn) -> None:
    config, model, split, _, frame = churn
    ev = evaluate_candidate(model, frame, split, config, cross_validation={}).to_dict()
    version = _model_version()
    page = render_model_html(replace(version, evaluation={**version.evaluation, **ev}))
    section = page.split("Feature importance (permutation on the holdout)")[1].split("<h2>")[0]
    assert "<svg" in section and "Drop in roc_auc when shuffled (95% intervals)" in section
    rows = [r.split("</td>")[0] for r in section.split("<tr><td>")[1:]]
    assert rows == [f["feature"] for f in ev["importance"]]  # every feature, most important first
    assert set(rows) == set(config.dataset.feature_names)
    first = ev["importance"][0]
    assert f"{first['mean']:.4g}" in section and f"{first['lower']:.4g} – {first['upper']:.4g}" in section
