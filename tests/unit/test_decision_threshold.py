"""The decision threshold (``evaluation.decision_threshold``): configurable for binary tasks only,
hash-neutral at its default, used by every threshold metric and by batch scoring's labels,
recorded with the version, and drawn in the report's threshold view."""

from __future__ import annotations

import copy
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.special import expit
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score
from test_reports import _model_version

from pipeline.app.demo_datasets import house_prices_config, ticket_priority_config
from pipeline.core.config import PipelineConfig, parse_config
from pipeline.core.errors import ConfigError
from pipeline.core.settings import BUNDLED_CONFIG
from pipeline.modeling.evaluation import holdout_evidence
from pipeline.modeling.metrics import THRESHOLD_GRID, threshold_curve
from pipeline.modeling.prediction_columns import prediction_frame, recorded_threshold
from pipeline.monitoring.batch_scoring import _Scorer, prediction_summary
from pipeline.reporting.pages import render_model_html

BUNDLED_HASHES = ("879ee119aa625036", "7732679a97c22842")
"""content_hash and full_hash of the bundled config, as tests/unit/test_hashing.py pins them."""


def _raw() -> dict[str, Any]:
    return yaml.safe_load(BUNDLED_CONFIG.read_text())


def _threshold(data: dict[str, Any], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(data)
    data.setdefault("evaluation", {})["decision_threshold"] = value
    return data


@pytest.fixture
def scored() -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 2000)
    proba = expit(1.2 * (2 * y - 1) + rng.normal(size=2000) - 0.8)  # most scores below 0.5
    return y, proba, pd.DataFrame({"region": rng.choice(["north", "south"], 2000)})


# -- config ---------------------------------------------------------------------------------------------
def test_the_default_leaves_the_bundled_config_hashes_as_they_were() -> None:
    config = parse_config(_raw())
    assert config.evaluation.decision_threshold == 0.5
    assert (config.content_hash(), config.full_hash()) == BUNDLED_HASHES
    explicit = parse_config(_threshold(_raw(), 0.5))  # written out at its default: still the same model
    assert (explicit.content_hash(), explicit.full_hash()) == BUNDLED_HASHES
    assert "decision_threshold" not in explicit.model_dump(mode="json")["evaluation"]


def test_another_threshold_is_another_model_identity() -> None:
    moved = parse_config(_threshold(_raw(), 0.3))
    assert moved.evaluation.decision_threshold == 0.3
    assert moved.content_hash() != BUNDLED_HASHES[0]
    assert moved.model_dump(mode="json")["evaluation"]["decision_threshold"] == 0.3


@pytest.mark.parametrize("value", [0, 1, 1.5, -0.1])
def test_a_threshold_outside_zero_one_is_refused_by_name(value: float) -> None:
    with pytest.raises(ConfigError, match="decision_threshold"):
        parse_config(_threshold(_raw(), value))


@pytest.mark.parametrize("make", [house_prices_config, ticket_priority_config])
def test_a_threshold_is_refused_for_regression_and_multiclass(make) -> None:
    parse_config(make())  # without it, fine
    with pytest.raises(ConfigError, match=r"evaluation\.decision_threshold applies to binary tasks only"):
        parse_config(_threshold(make(), 0.5))


# -- metrics --------------------------------------------------------------------------------------------
def _config(threshold: float) -> PipelineConfig:
    data = _threshold(_raw(), threshold)
    data["model"].pop("candidates", None)
    data["dataset"]["slice_columns"] = ["region"]
    data["evaluation"]["bootstrap_resamples"] = 200
    return parse_config(data)


def test_the_threshold_moves_every_threshold_metric_as_sklearn_does(scored) -> None:
    y, proba, frame = scored
    at_half = holdout_evidence(y, proba, frame, _config(0.5))
    at_low = holdout_evidence(y, proba, frame, _config(0.3))
    for evidence, t in ((at_half, 0.5), (at_low, 0.3)):
        predicted = proba >= t
        holdout = evidence["holdout"]
        assert evidence["threshold"] == t
        assert holdout["f1"]["value"] == pytest.approx(f1_score(y, predicted))
        assert holdout["precision"]["value"] == pytest.approx(precision_score(y, predicted))
        assert holdout["recall"]["value"] == pytest.approx(recall_score(y, predicted))
        assert holdout["accuracy"]["value"] == pytest.approx(accuracy_score(y, predicted))
        confusion = evidence["curves"]["confusion"]
        assert confusion["threshold"] == t and confusion["tp"] == int((predicted & (y == 1)).sum())
        for slice_ in evidence["slices"]["region"]:
            rows = (frame["region"] == slice_["value"]).to_numpy()
            assert slice_["metrics"]["f1"]["value"] == pytest.approx(f1_score(y[rows], predicted[rows]))
    # scores sit low, so a lower threshold catches more churners: recall and F1 rise
    assert at_low["holdout"]["recall"]["value"] > at_half["holdout"]["recall"]["value"]
    assert at_low["holdout"]["f1"]["value"] > at_half["holdout"]["f1"]["value"]
    # the ranking metrics do not depend on it
    assert at_low["holdout"]["roc_auc"] == at_half["holdout"]["roc_auc"]


def test_the_threshold_curve_is_sklearns_precision_recall_and_f1_at_each_threshold(scored) -> None:
    y, proba, frame = scored
    curve = holdout_evidence(y, proba, frame, _config(0.33))["threshold_curve"]
    assert curve["thresholds"] == sorted({*THRESHOLD_GRID, 0.33})  # the grid and the threshold in use
    for k, t in enumerate(curve["thresholds"]):
        predicted = proba >= t
        assert curve["recall"][k] == pytest.approx(recall_score(y, predicted), abs=1e-4)
        assert curve["f1"][k] == pytest.approx(f1_score(y, predicted), abs=1e-4)
        assert curve["predicted_positive_share"][k] == pytest.approx(predicted.mean(), abs=1e-4)
        if predicted.any():
            assert curve["precision"][k] == pytest.approx(precision_score(y, predicted), abs=1e-4)
        else:
            assert curve["precision"][k] is None  # undefined, not zero


def test_threshold_curve_edge_cases() -> None:
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.5, 0.5, 0.9])
    curve = threshold_curve(y, p, (0.5, 0.95, 0.05))
    assert curve["thresholds"] == [0.05, 0.5, 0.95]
    assert curve["precision"] == [0.5, 0.6667, None]  # a score equal to the threshold is positive
    assert curve["recall"] == [1.0, 1.0, 0.0] and curve["f1"] == [0.6667, 0.8, 0.0]
    assert threshold_curve(np.zeros(3), np.array([0.2, 0.6, 0.9]), (0.5,))["f1"] == [None]


def test_other_tasks_record_no_threshold() -> None:
    rng = np.random.default_rng(0)
    data = house_prices_config()
    data["dataset"]["slice_columns"] = []
    config = parse_config(data)
    y = rng.normal(100, 10, 300)
    evidence = holdout_evidence(y, y + rng.normal(0, 3, 300), pd.DataFrame(index=range(300)), config)
    assert evidence["threshold"] is None and evidence["threshold_curve"] == {}


# -- batch scoring --------------------------------------------------------------------------------------
def test_predicted_labels_and_the_scoring_summary_follow_the_threshold() -> None:
    dataset = parse_config(_raw()).dataset
    scores = np.array([0.1, 0.35, 0.5, 0.8])
    assert prediction_frame(scores, dataset)["predicted_label"].tolist() == ["no", "no", "yes", "yes"]
    assert prediction_frame(scores, dataset, 0.3)["predicted_label"].tolist() == ["no", "yes", "yes", "yes"]
    summary = prediction_summary(scores, dataset, 0.3)
    assert summary["threshold"] == 0.3 and summary["predicted_positive_share"] == 0.75


def test_batch_scoring_uses_the_threshold_recorded_with_the_champion() -> None:
    ws = SimpleNamespace(config=_config(0.4))
    assert _Scorer(ws, SimpleNamespace(evaluation={"threshold": 0.25})).threshold == 0.25  # type: ignore[arg-type]
    # a version recorded before thresholds were: the configured one
    assert _Scorer(ws, SimpleNamespace(evaluation={})).threshold == 0.4  # type: ignore[arg-type]


# -- the report -----------------------------------------------------------------------------------------
def test_the_report_shows_the_threshold_in_use_and_the_threshold_view(scored) -> None:
    y, proba, frame = scored
    evidence = holdout_evidence(y, proba, frame, _config(0.35))
    version = _model_version()
    page = render_model_html(replace(version, evaluation={**version.evaluation, **evidence}))
    text = " ".join(page.split())
    assert "decision threshold</td><td>0.35 (a row is predicted positive" in text
    section = text.split("Precision, recall and F1 by decision threshold (holdout)")[1].split("<h2>")[0]
    assert 'aria-label="Precision, recall and F1 by threshold"' in section
    assert "<title>decision threshold 0.35</title>" in section  # the marked threshold
    assert section.count("<polyline") == 3  # precision, recall, F1
    k = evidence["threshold_curve"]["thresholds"].index(0.35)
    f1 = evidence["threshold_curve"]["f1"][k]
    assert "<tr class='current'><td class='num'>0.35 (in use)</td>" in section and f"{f1:.4g}" in section
    for t in ("0.1", "0.3", "0.5", "0.7", "0.9"):
        assert f"<td class='num'>{t}</td>" in section, t


def test_a_version_is_monitored_at_the_threshold_it_was_evaluated_with() -> None:
    assert recorded_threshold({"threshold": 0.3}, 0.5) == 0.3
    assert recorded_threshold({"threshold": None}, 0.45) == 0.45  # a multiclass or regression version
    assert recorded_threshold({}, 0.5) == 0.5 and recorded_threshold(None, 0.4) == 0.4  # recorded before thresholds
