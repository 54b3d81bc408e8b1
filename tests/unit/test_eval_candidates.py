"""Candidate search and reproducibility, driven through the stages as plain Python (no Airflow).

The DAG maps its train task over ``TrainingPlan.per_candidate()`` and then calls
``choose_and_evaluate``; ``run_training`` makes the same calls in the same order.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest

from pipeline.app import stages
from pipeline.app.demo_data import BatchSpec, generate_batch
from pipeline.app.stages.evaluate import choose_and_evaluate, cross_validate_in_process
from pipeline.app.stages.plan import find_trained_version
from pipeline.app.stages.train import fit_candidate
from pipeline.app.training_flow import run_training
from pipeline.app.workspace import Workspace
from pipeline.core.config import PipelineConfig, parse_config
from pipeline.core.errors import ConfigError
from pipeline.core.settings import Settings
from pipeline.modeling.evaluation import evaluate_candidate, holdout_split
from pipeline.reporting.pages import model_report_key

CANDIDATES = ["default", "default[C=0.001]", "gradient_boosting[learning_rate=0.2,max_iter=3]"]


def _config(config: PipelineConfig, **model: Any) -> PipelineConfig:
    data = config.model_dump(mode="json")
    data["model"]["specs"]["forest"] = {"estimator": "random_forest", "params": {"n_estimators": 10, "max_depth": 4}}
    data["model"].update(model)
    data["dataset"]["slice_columns"] = ["contract"]
    data["evaluation"].update(bootstrap_resamples=200, folds=3)
    data["ingest"]["stable_seconds"] = 0
    return parse_config(data)


pytestmark = pytest.mark.usefixtures("fixed_code_version")


@pytest.fixture
def ws(settings: Settings, config: PipelineConfig) -> Workspace:
    grids = [
        {"spec": "default", "grid": {"C": [0.001]}},  # (cheap candidates: the test is about the search)
        {"spec": "gradient_boosting", "grid": {"max_iter": [3], "learning_rate": [0.2]}},
    ]
    ws = Workspace(settings=settings, config=_config(config, candidates=["default", *grids]))
    settings.landing.mkdir(parents=True, exist_ok=True)
    generate_batch(BatchSpec(rows=700, seed=31)).to_csv(settings.landing / "batch.csv", index=False)
    stages.ingest_landing(ws)
    return ws


def test_grid_expands_to_named_specs(ws: Workspace) -> None:
    assert list(ws.config.model.candidate_names) == CANDIDATES
    spec = ws.config.model_spec(CANDIDATES[1])
    assert spec.estimator == "logistic_regression" and spec.params == {"C": 0.001, "max_iter": 2000}
    spec = ws.config.model_spec(CANDIDATES[2])
    assert spec.estimator == "gradient_boosting" and spec.params == {"max_iter": 3, "learning_rate": 0.2}


@pytest.mark.parametrize(
    ("candidates", "message"),
    [
        (["nope"], "not one of the declared specs"),
        (["default", "default"], "listed twice"),
        ([{"spec": "gradient_boosting", "grid": {"max_iter": []}}], "list no values"),
        ([{"spec": "gradient_boosting", "grid": {"max_iter": list(range(60))}}], "at most 50"),
    ],
)
def test_bad_candidates_are_config_errors(config: PipelineConfig, candidates: list, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        _config(config, candidates=candidates)
    assert "model" in str(info.value)


@pytest.mark.slow
def test_search_trains_every_candidate_keeps_the_best_and_records_all(ws: Workspace) -> None:
    run = run_training(ws, trigger={"kind": "test"})

    assert list(run.plan.candidates) == CANDIDATES and run.plan.spec_name == ""
    assert [p.spec_name for p in run.plans] == CANDIDATES
    # every candidate with its cross-validation (read back from the fold scores the run stored)
    trained = {t.candidate: t for t in cross_validate_in_process(ws, run.plan, run.trained)}
    assert set(trained) == set(CANDIDATES)
    assert len({t.artifact_sha256 for t in run.trained}) == 3  # three different models
    means = {name: (t.cross_validation or {})["roc_auc"]["mean"] for name, t in trained.items()}
    best = max(CANDIDATES, key=lambda name: means[name])
    assert means[best] > min(means.values())  # the search made a difference
    assert run.registration is not None
    mv = ws.meta.get_model_version("churn-classifier", run.registration.version)
    assert mv.spec_name == best and mv.artifact_sha256 == trained[best].artifact_sha256
    assert mv.params["estimator"] == trained[best].estimator
    record = mv.evaluation["candidates"]
    assert [c["candidate"] for c in record] == CANDIDATES
    assert [c["candidate"] for c in record if c["chosen"]] == [best]
    for c in record:  # spec, params, CV mean/std and artifact of every candidate
        assert c["cross_validation"]["roc_auc"]["mean"] == means[c["candidate"]]
        assert c["cross_validation"]["roc_auc"]["std"] >= 0
        assert c["artifact_key"] == trained[c["candidate"]].artifact_key
        assert c["params"] == dict(ws.config.model_spec(c["candidate"]).params)
    assert mv.evaluation["selection"] == {
        "metric": "roc_auc",
        "rule": "highest mean roc_auc over the CV folds",
        "chosen": best,
    }
    # the evaluation reuses the winner's CV instead of recomputing it
    assert mv.evaluation["cross_validation"] == trained[best].cross_validation
    page = ws.store.get(model_report_key(mv.name, mv.version)).decode()
    assert "Candidates (3" in page and "<svg" in page

    # a searched snapshot is not trained again, whichever candidate won
    snapshot_id = run.plan.snapshot_id
    again = stages.plan_training(ws, None, None, {"kind": "test"})
    assert again.existing_version == run.registration.version
    assert find_trained_version(ws, snapshot_id).version == run.registration.version
    # the trigger form's model_spec trains exactly that spec
    single = stages.plan_training(ws, None, "default", {"kind": "test"})
    assert single.candidates == ("default",) and single.spec_name == "default"


def test_same_snapshot_and_config_give_the_same_model_and_evidence(ws: Workspace) -> None:
    """Retraining with the fixed seeds reproduces the artifact byte for byte and every number."""
    plan = stages.plan_training(ws, None, "forest", {"kind": "test"})  # a randomised estimator
    first, second = fit_candidate(ws, plan), fit_candidate(ws, plan)
    assert first.artifact_sha256 == second.artifact_sha256
    reseeded = Workspace(
        settings=ws.settings,
        config=ws.config.model_copy(update={"evaluation": ws.config.evaluation.model_copy(update={"seed": 7})}),
    )
    assert fit_candidate(reseeded, plan).artifact_sha256 != first.artifact_sha256  # the seed is used
    [first], [second] = cross_validate_in_process(ws, plan, [first]), cross_validate_in_process(ws, plan, [second])
    assert first.cross_validation == second.cross_validation
    a_key = choose_and_evaluate(ws, plan, [first]).evaluation_key
    b_key = choose_and_evaluate(ws, plan, [second]).evaluation_key
    assert a_key == b_key  # the key hashes the evidence: identical evidence, identical key
    a = json.loads(ws.store.get(a_key))
    model = ws.artifacts.load(second.artifact_key, second.artifact_sha256)
    frame = stages.snapshot_frame(ws, plan.snapshot_id)
    again = evaluate_candidate(
        model, frame, holdout_split(frame, ws.config), ws.config, cross_validation=second.cross_validation
    ).to_dict()
    for key in ("holdout", "slices", "curves", "cross_validation", "split"):
        assert again[key] == a[key], key
    assert a["bootstrap"] == {
        "method": "poisson",
        "resamples": 200,
        "confidence": 0.95,
        "seed": 42,
        "interval": "percentile",
    }


def test_slices_are_evaluated_per_value(ws: Workspace) -> None:
    evaluated = run_training(ws, spec="default", trigger={"kind": "test"}, until="evaluate").evaluation
    assert evaluated is not None
    evaluation = json.loads(ws.store.get(evaluated.evaluation_key))
    slices = evaluation["slices"]["contract"]
    assert [s["value"] for s in slices] == ["month-to-month", "one-year", "two-year"]
    assert sum(s["rows"] for s in slices) == evaluation["holdout_rows"]
    for s in slices:
        roc = s["metrics"]["roc_auc"]
        assert roc["value"] is None or roc["lower"] <= roc["value"] <= roc["upper"]
        assert s["small"] == (s["rows"] < 100 or min(s["positives"], s["rows"] - s["positives"]) < 10)
        assert "comparison" not in s  # no champion yet
    frame = pd.DataFrame(slices)
    assert frame["rows"].gt(0).all()
