"""The thread budget: derived from the worker's slots (config, Airflow's environment, CPUs), set
by ``CT_THREADS`` or ``resources.threads_per_task``, and in force inside every fit and predict."""

from __future__ import annotations

import json
from typing import Any

import pytest
from joblib import effective_n_jobs
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_info

from pipeline.app import stages
from pipeline.app.demo_data import BatchSpec, generate_batch
from pipeline.app.training_flow import run_training
from pipeline.app.workspace import Workspace
from pipeline.core.config import PipelineConfig, ResourcesConfig, parse_config
from pipeline.core.errors import ConfigError
from pipeline.core.settings import Settings
from pipeline.core.thread_budget import derive_budget, limit_threads
from pipeline.modeling import training

SEEN: list[tuple[str, set[int], int]] = []


class SpyBoosting(HistGradientBoostingClassifier):
    """Gradient boosting that records the thread limits in force when it fits and predicts."""

    def fit(self, X: Any, y: Any, **kw: Any) -> SpyBoosting:
        SEEN.append(("fit", {lib["num_threads"] for lib in threadpool_info()}, effective_n_jobs(None)))
        return super().fit(X, y, **kw)

    def predict_proba(self, X: Any) -> Any:
        SEEN.append(("predict", {lib["num_threads"] for lib in threadpool_info()}, effective_n_jobs(None)))
        return super().predict_proba(X)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, set[int], int]]:
    monkeypatch.setitem(training._CLASSIFIERS, "gradient_boosting", SpyBoosting)
    SEEN.clear()
    return SEEN


def test_threads_are_the_cpus_shared_by_the_slots_at_least_one() -> None:
    assert derive_budget(ResourcesConfig(), env={}, cpus=8).threads == 1  # one slot per CPU by default
    assert derive_budget(ResourcesConfig(worker_slots=2), env={}, cpus=8).threads == 4
    assert derive_budget(ResourcesConfig(worker_slots=3), env={}, cpus=8).threads == 2
    assert derive_budget(ResourcesConfig(worker_slots=16), env={}, cpus=2).threads == 1


def test_slots_come_from_the_config_else_celery_concurrency_else_airflow_parallelism() -> None:
    env = {"AIRFLOW__CELERY__WORKER_CONCURRENCY": "2", "AIRFLOW__CORE__PARALLELISM": "4"}
    celery = derive_budget(ResourcesConfig(), env=env, cpus=8)
    assert (celery.slots, celery.threads, celery.slots_from) == (2, 4, "AIRFLOW__CELERY__WORKER_CONCURRENCY")
    parallelism = derive_budget(ResourcesConfig(), env={"AIRFLOW__CORE__PARALLELISM": "4"}, cpus=8)
    assert (parallelism.slots, parallelism.threads) == (4, 2)
    configured = derive_budget(ResourcesConfig(worker_slots=8), env=env, cpus=8)
    assert (configured.slots, configured.threads, configured.slots_from) == (8, 1, "resources.worker_slots")


def test_ct_threads_overrides_the_config_which_overrides_the_derivation() -> None:
    resources = ResourcesConfig(worker_slots=8, threads_per_task=3)
    assert derive_budget(resources, env={}, cpus=8).threads == 3
    overridden = derive_budget(resources, env={"CT_THREADS": "5"}, cpus=8)
    assert (overridden.threads, overridden.set_by) == (5, "CT_THREADS")
    assert "5 threads per task" in overridden.describe() and "CT_THREADS" in overridden.describe()
    derived = derive_budget(ResourcesConfig(), env={}, cpus=2)
    assert (
        derived.describe().startswith("thread budget: 1 thread per task")
        and "2 CPUs, 2 task slots" in derived.describe()
    )


@pytest.mark.parametrize(
    "name,value", [("CT_THREADS", "0"), ("CT_THREADS", "many"), ("AIRFLOW__CELERY__WORKER_CONCURRENCY", "-1")]
)
def test_a_bad_environment_value_is_named(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"{name}='{value}' is not a whole number >= 1"):
        derive_budget(ResourcesConfig(), env={name: value}, cpus=2)


def test_the_resources_section_is_validated(config: PipelineConfig) -> None:
    data = config.model_dump(mode="json")
    assert parse_config(data).resources == ResourcesConfig()
    data["resources"] = {"worker_slots": 0}
    with pytest.raises(ConfigError, match=r"resources\.worker_slots"):
        parse_config(data)
    data["resources"] = {"threads_per_task": 2, "cv_in_process_max_rows": 0}
    parsed = parse_config(data).resources
    assert (parsed.threads_per_task, parsed.cv_in_process_max_rows) == (2, 0)


@pytest.mark.parametrize("threads", [1, 3])
def test_fit_and_predict_run_within_the_budget(spy: list, config: PipelineConfig, threads: int) -> None:
    frame = generate_batch(BatchSpec(rows=200, seed=3))
    outside = {lib["num_threads"] for lib in threadpool_info()}

    model = training.fit_model(frame, config.dataset, config.model_spec("gradient_boosting"), 42, threads)
    training.predict_proba(model, frame, config.dataset, threads)

    assert spy == [("fit", {threads}, 1), ("predict", {threads}, 1)]  # joblib: one job, never a process pool
    assert {lib["num_threads"] for lib in threadpool_info()} == outside, "the limits end with the call"
    with limit_threads(derive_budget(ResourcesConfig(threads_per_task=threads), env={})) as cap:
        assert cap == threads and {lib["num_threads"] for lib in threadpool_info()} == {threads}


@pytest.mark.parametrize("cv_in_process_max_rows", [0, 1_000_000], ids=["fold-tasks", "in-process"])
def test_every_stage_fits_and_predicts_within_the_workspace_budget(
    spy: list,
    settings: Settings,
    config: PipelineConfig,
    monkeypatch: pytest.MonkeyPatch,
    cv_in_process_max_rows: int,
) -> None:
    monkeypatch.delenv("CT_THREADS", raising=False)
    monkeypatch.setattr(stages.register, "code_version", lambda: "test:0")
    data = config.model_dump(mode="json")
    data["model"].update(spec="gradient_boosting", candidates=[])
    data["model"]["specs"]["gradient_boosting"]["params"] = {"max_iter": 5}
    data["evaluation"].update(bootstrap_resamples=100, folds=2)
    data["ingest"]["stable_seconds"] = 0
    data["resources"] = {"threads_per_task": 3, "cv_in_process_max_rows": cv_in_process_max_rows}
    ws = Workspace(settings=settings, config=parse_config(data))
    settings.landing.mkdir(parents=True, exist_ok=True)
    generate_batch(BatchSpec(rows=300, seed=5)).to_csv(settings.landing / "batch.csv", index=False)
    stages.ingest_landing(ws)

    # train, the cross_validate tasks if any, then evaluate (CV in process when no folds, then holdout)
    run = run_training(ws, trigger={"kind": "test"}, until="evaluate")

    assert len(run.folds) == (2 if cv_in_process_max_rows == 0 else 0)
    assert run.evaluation is not None
    assert json.loads(ws.store.get(run.evaluation.evaluation_key))["cross_validation"]["roc_auc"]["folds"] == 2
    # train fit, 2 x (fold fit + fold predict), the holdout predict, then permutation importance's
    # predicts (intact holdout, each feature shuffled 5 times): all under the 3-thread budget
    calls = [s[0] for s in spy]
    features = len(ws.config.dataset.feature_names)
    assert calls == ["fit", "fit", "predict", "fit", "predict", "predict"] + ["predict"] * (1 + 5 * features)
    assert all(limits == {3} and n_jobs == 1 for _, limits, n_jobs in spy), spy
