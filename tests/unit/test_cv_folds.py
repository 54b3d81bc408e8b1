"""Cross-validation as separate fold tasks, driven through the stages as plain Python (no Airflow).

The DAG runs ``fit_candidate`` once per candidate, ``list_folds`` once, ``cross_validate_fold`` once
per candidate x fold and ``choose_and_evaluate`` on all their results; ``run_training`` makes the
same calls in the same order, and these tests check that the numbers are those of
cross-validation in one process.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pipeline.app import stages
from pipeline.app.demo_data import BatchSpec, generate_batch
from pipeline.app.stages.evaluate import choose_and_evaluate, cross_validate_in_process
from pipeline.app.stages.folds import (
    FoldScores,
    cross_validate_fold,
    cv_in_process,
    fold_scores_key,
    gather_cross_validation,
    list_folds,
)
from pipeline.app.stages.train import fit_candidate
from pipeline.app.training_flow import TrainingRun, run_training
from pipeline.app.workspace import Workspace
from pipeline.core.config import PipelineConfig, parse_config
from pipeline.core.errors import TrainingError
from pipeline.core.settings import Settings
from pipeline.modeling.evaluation import cross_validate, holdout_split
from pipeline.modeling.metrics import METRIC_NAMES
from pipeline.modeling.training import build_pipeline

CANDIDATES = ["default", "gradient_boosting[learning_rate=0.2,max_iter=3]"]


def _workspace(
    settings: Settings,
    config: PipelineConfig,
    frame_rows: int = 500,
    time_column: str | None = None,
    folds: int = 3,
    labels: list[str] | None = None,
    cv_in_process_max_rows: int = 0,
) -> Workspace:
    """A workspace with one ingested batch; by default every fold is a task (no CV in process)."""
    data = config.model_dump(mode="json")
    data["resources"] = {"cv_in_process_max_rows": cv_in_process_max_rows}
    data["model"]["candidates"] = [
        "default",
        {"spec": "gradient_boosting", "grid": {"max_iter": [3], "learning_rate": [0.2]}},
    ]
    data["dataset"]["time_column"] = time_column
    data["evaluation"].update(bootstrap_resamples=100, folds=folds)
    data["ingest"]["stable_seconds"] = 0
    ws = Workspace(settings=settings, config=parse_config(data))
    frame = generate_batch(BatchSpec(rows=frame_rows, seed=17))
    if labels is not None:
        frame["churned"] = labels
    settings.landing.mkdir(parents=True, exist_ok=True)
    frame.to_csv(settings.landing / "batch.csv", index=False)
    stages.ingest_landing(ws)
    return ws


def _evaluated(ws: Workspace) -> tuple[TrainingRun, dict[str, Any]]:
    """ct_train's steps up to evaluate, and the evaluation they stored."""
    run = run_training(ws, trigger={"kind": "test"}, until="evaluate")
    assert run.evaluation is not None
    return run, json.loads(ws.store.get(run.evaluation.evaluation_key))


@pytest.mark.parametrize("time_column", [None, "tenure_months"], ids=["stratified", "forward-chaining"])
def test_fold_tasks_give_the_numbers_of_cross_validation_in_one_process(
    settings: Settings, config: PipelineConfig, time_column: str | None
) -> None:
    ws = _workspace(settings, config, time_column=time_column)
    run, evaluation = _evaluated(ws)

    assert run.folds == (0, 1, 2)
    assert [(s.candidate, s.fold) for s in run.scored] == [(c, k) for c in CANDIDATES for k in range(3)]
    assert all(t.cross_validation is None for t in run.trained), "the train task only fits"
    frame = stages.snapshot_frame(ws, run.plans[0].snapshot_id)
    train = frame.iloc[holdout_split(frame, ws.config).train_index]
    record = {c["candidate"]: c for c in evaluation["candidates"]}
    for name in CANDIDATES:
        template = build_pipeline(ws.config.dataset, ws.config.model_spec(name), ws.config.evaluation.seed)
        assert record[name]["cross_validation"] == cross_validate(template, train, ws.config), name
    best = max(CANDIDATES, key=lambda n: record[n]["cross_validation"]["roc_auc"]["mean"])
    assert run.evaluation is not None and run.evaluation.candidate.candidate == best
    assert evaluation["cross_validation"] == record[best]["cross_validation"]
    # the evaluate task's own CV (small searches: no fold tasks) does the same work and agrees
    [sequential] = cross_validate_in_process(ws, run.plans[1], [fit_candidate(ws, run.plans[1])])
    assert sequential.cross_validation == record[CANDIDATES[1]]["cross_validation"]
    assert sequential.artifact_sha256 == record[CANDIDATES[1]]["artifact_sha256"]


def test_a_fold_writes_its_scores_once_and_a_retry_reuses_them(settings: Settings, config: PipelineConfig) -> None:
    ws = _workspace(settings, config)
    plan = stages.plan_training(ws, None, None, {"kind": "test"}).per_candidate()[0]

    first = cross_validate_fold(ws, plan, 1)

    key = fold_scores_key(plan.snapshot_id, plan.config_hash, plan.spec_name, 1)
    assert first == FoldScores(candidate="default", fold=1, folds=3, scores_key=key)
    path = Path(ws.store.path(key))
    stamp, content = path.stat().st_mtime_ns, path.read_bytes()
    record = json.loads(content)
    assert set(record["metrics"]) == set(METRIC_NAMES) and record["fit_rows"] > record["validation_rows"] > 0
    assert cross_validate_fold(ws, plan, 1) == first  # the retry
    assert (path.stat().st_mtime_ns, path.read_bytes()) == (stamp, content), "the stored scores are not rewritten"
    assert ws.store.list("reports/cv") == [key]


def test_keys_are_per_snapshot_config_candidate_and_fold() -> None:
    key = fold_scores_key("abc", "f00", "gradient_boosting[max_iter=10]", 4)
    assert key.startswith("reports/cv/abc/f00/gradient_boosting_max_iter=10-") and key.endswith("/fold-04.json")
    assert "[" not in key
    others = {
        fold_scores_key("abd", "f00", "gradient_boosting[max_iter=10]", 4),
        fold_scores_key("abc", "f01", "gradient_boosting[max_iter=10]", 4),
        fold_scores_key("abc", "f00", "gradient_boosting(max_iter=10)", 4),  # same safe name, other spec
        fold_scores_key("abc", "f00", "gradient_boosting[max_iter=10]", 3),
    }
    assert key not in others and len(others) == 4


def test_a_missing_or_inconsistent_fold_is_reported_by_name(settings: Settings, config: PipelineConfig) -> None:
    ws = _workspace(settings, config)
    plan = stages.plan_training(ws, None, "default", {"kind": "test"}).per_candidate()[0]
    scored = [cross_validate_fold(ws, plan, k) for k in list_folds(ws, plan)]

    with pytest.raises(TrainingError, match=r"'default' lacks fold\(s\) \[2\] of 3"):
        gather_cross_validation(ws, [scored[0], scored[2]])
    with pytest.raises(TrainingError, match="disagree on the number of folds"):
        gather_cross_validation(ws, [*scored[:2], replace(scored[2], folds=4)])
    trained = [fit_candidate(ws, plan)]
    with pytest.raises(TrainingError, match=r"no cross-validation results for candidate\(s\) \['other'\]"):
        choose_and_evaluate(ws, plan, [*trained, replace(trained[0], candidate="other")], scored)
    with pytest.raises(TrainingError, match="config changed since this run was planned"):
        cross_validate_fold(ws, replace(plan, config_hash="0" * 16), 0)
    with pytest.raises(TrainingError, match="fold 4 of 'default' does not exist"):
        cross_validate_fold(ws, plan, 3)


def test_the_data_decide_how_many_folds_run(settings: Settings, config: PipelineConfig) -> None:
    """Fewer folds than configured when the rarer class has fewer training rows than folds."""
    labels = ["no"] * 300
    for row in range(0, 240, 60):  # 4 churners in all (fewer in training if the holdout draws some)
        labels[row] = "yes"
    ws = _workspace(settings, config, frame_rows=300, folds=5, labels=labels)
    plan = stages.plan_training(ws, None, "default", {"kind": "test"}).per_candidate()[0]
    frame = stages.snapshot_frame(ws, plan.snapshot_id)
    churners = int((frame["churned"].iloc[holdout_split(frame, ws.config).train_index] == "yes").sum())
    assert 2 <= churners < 5

    assert list_folds(ws, plan) == list(range(churners))


def test_cv_runs_in_the_evaluate_task_up_to_the_threshold_and_as_fold_tasks_above_it(
    settings: Settings, config: PipelineConfig
) -> None:
    """Training rows x candidates at or below ``resources.cv_in_process_max_rows``: no fold tasks,
    and the evaluate task cross-validates itself, with the numbers the fold tasks give."""
    ws = _workspace(settings, config)
    mapped, mapped_evaluation = _evaluated(ws)
    frame = stages.snapshot_frame(ws, mapped.plans[0].snapshot_id)
    train_rows = len(holdout_split(frame, ws.config).train_index)
    limit = train_rows * len(CANDIDATES)

    def with_limit(rows: int) -> Workspace:
        data = ws.config.model_dump(mode="json")
        data["resources"]["cv_in_process_max_rows"] = rows
        return Workspace(settings=settings, config=parse_config(data))

    above, at = with_limit(limit - 1), with_limit(limit)

    assert not cv_in_process(above, train_rows, len(CANDIDATES)) and cv_in_process(at, train_rows, len(CANDIDATES))
    assert list_folds(above, mapped.plans[0]) == [0, 1, 2]
    assert list_folds(at, mapped.plans[0]) == []
    for key in at.store.list("reports/cv"):  # score afresh: nothing may be read back from the mapped run
        at.store.delete(key)
    in_process, in_process_evaluation = _evaluated(at)
    assert in_process.scored == ()
    assert in_process.evaluation is not None and mapped.evaluation is not None
    assert in_process.evaluation.candidate.candidate == mapped.evaluation.candidate.candidate
    assert [(c["candidate"], c["cross_validation"]) for c in in_process_evaluation["candidates"]] == [
        (c["candidate"], c["cross_validation"]) for c in mapped_evaluation["candidates"]
    ]
    assert sorted(at.store.list("reports/cv")) == sorted(s.scores_key for s in mapped.scored)
