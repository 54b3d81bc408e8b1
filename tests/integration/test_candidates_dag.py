"""Candidate search through a real Airflow: one mapped ``train`` task instance per candidate.

Drives ``ct_ingest`` and ``ct_train`` with ``airflow dags test`` (as tests/integration/test_dag_runs.py
does) on a config that declares three candidates, then reads Airflow's own metadata DB for the
mapped task instances and the project's registry for what was chosen and recorded.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest
import yaml

from pipeline.airflow_runner import run_dag
from pipeline.demo import BatchSpec, generate_batch
from pipeline.registry.sql import SqlMetadataStore
from pipeline.settings import BUNDLED_CONFIG, Settings

pytestmark = pytest.mark.slow

CANDIDATES = ["default", "gradient_boosting[max_iter=10]", "gradient_boosting[max_iter=30]"]


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("airflow_home_candidates")


@pytest.fixture
def search_settings(settings: Settings, airflow_home: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The bundled config plus a three-candidate search, a slice column and a cheap evaluation."""
    monkeypatch.setenv("AIRFLOW_HOME", str(airflow_home))
    data = yaml.safe_load(BUNDLED_CONFIG.read_text())
    data["model"]["candidates"] = ["default", {"spec": "gradient_boosting", "grid": {"max_iter": [10, 30]}}]
    data["dataset"]["slice_columns"] = ["region"]
    data["evaluation"].update(bootstrap_resamples=200, folds=3)
    data["ingest"]["stable_seconds"] = 0
    path = settings.home / "pipeline.yaml"
    path.write_text(yaml.safe_dump(data))
    return dataclasses.replace(settings, config_path=path)


def _mapped_train_instances(airflow_home: Path, run_id: str) -> list[tuple[int, str]]:
    """(map_index, state) of the ``train`` task instances of one ct_train run, from Airflow's DB."""
    with sqlite3.connect(airflow_home / "airflow.db") as db:
        rows = db.execute("SELECT map_index, state FROM task_instance WHERE dag_id = 'ct_train' "
                          "AND task_id = 'train' AND run_id = ? ORDER BY map_index", (run_id,)).fetchall()
    return [(int(i), str(s)) for i, s in rows]


def test_each_candidate_is_one_mapped_task_and_the_best_by_cv_is_registered(
    search_settings: Settings, airflow_home: Path
) -> None:
    folder = search_settings.landing / "b1"
    folder.mkdir(parents=True)
    generate_batch(BatchSpec(rows=1200, seed=21)).to_csv(folder / "batch.csv", index=False)
    (folder / "_SUCCESS").touch()
    assert run_dag(search_settings, "ct_ingest").succeeded

    result = run_dag(search_settings, "ct_train", {"trigger": "manual", "reason": "candidate search"})

    assert result.succeeded, result.errors
    meta = SqlMetadataStore(search_settings.database_url)
    [mv] = meta.list_model_versions()
    run_id = mv.trigger["run_id"]
    # Airflow expanded the train task into one instance per candidate, and all of them ran.
    assert _mapped_train_instances(airflow_home, run_id) == [(i, "success") for i in range(len(CANDIDATES))]
    trained = sorted(line.split(" ", 2)[1] for line in result.progress if line.startswith("train:"))
    assert trained == sorted(CANDIDATES)
    # Every candidate is recorded with its spec, params, CV scores and artifact; the best mean wins.
    record = mv.evaluation["candidates"]
    assert [c["candidate"] for c in record] == CANDIDATES
    assert all(c["artifact_key"] and c["cross_validation"]["roc_auc"]["folds"] == 3 for c in record)
    assert {c["params"].get("max_iter") for c in record if c["estimator"] == "gradient_boosting"} == {10, 30}
    best = max(record, key=lambda c: c["cross_validation"]["roc_auc"]["mean"])
    assert [c["candidate"] for c in record if c["chosen"]] == [best["candidate"]]
    assert mv.spec_name == best["candidate"] == mv.evaluation["selection"]["chosen"]
    assert mv.artifact_sha256 == best["artifact_sha256"]
    assert any(line.startswith("choose:") for line in result.progress)
    # the slice column is evaluated per value and the first model is promoted on its floors
    assert {s["value"] for s in mv.evaluation["slices"]["region"]} == {"north", "south", "east", "west"}
    assert meta.get_alias(mv.name).version == mv.version
