"""Candidate search through a real Airflow: one mapped ``train`` task instance per candidate and
one mapped ``cross_validate`` task instance per candidate x fold — or, for a search small enough
(``resources.cv_in_process_max_rows``), no fold task at all and the folds scored by ``evaluate``.

Drives ``ct_ingest`` and ``ct_train`` with ``airflow dags test`` (as tests/integration/test_dag_runs.py
does) on a config that declares three candidates and three folds, once per placement for the
module, then reads Airflow's own metadata DB for the mapped task instances, the object store for
the fold scores and the project's registry for what was chosen and recorded.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path

import pytest
import yaml

from pipeline.app.airflow_runner import DagRunResult, run_dag
from pipeline.app.demo_data import BatchSpec, generate_batch
from pipeline.app.stages.folds import fold_scores_key
from pipeline.core.settings import BUNDLED_CONFIG, Settings
from pipeline.core.storage import ObjectStore
from pipeline.modeling.evaluation import summarize_folds
from pipeline.registry.sql import SqlMetadataStore

pytestmark = pytest.mark.slow

CANDIDATES = ["default", "gradient_boosting[max_iter=10]", "gradient_boosting[max_iter=30]"]
FOLDS = 3


@dataclasses.dataclass(frozen=True)
class SearchRun:
    settings: Settings
    airflow_home: Path
    result: DagRunResult


@pytest.fixture(scope="module")
def search_run(tmp_path_factory: pytest.TempPathFactory) -> SearchRun:
    """One ct_train run of a three-candidate, three-fold search on 1 200 rows, shared by the tests;
    every fold is a mapped task (``cv_in_process_max_rows: 0``)."""
    return _search(tmp_path_factory, "candidates", cv_in_process_max_rows=0)


@pytest.fixture(scope="module")
def in_process_run(tmp_path_factory: pytest.TempPathFactory) -> SearchRun:
    """The same search on the same rows, small enough to cross-validate inside the evaluate task."""
    return _search(tmp_path_factory, "candidates_in_process", cv_in_process_max_rows=1_000_000)


def _search(tmp_path_factory: pytest.TempPathFactory, name: str, cv_in_process_max_rows: int) -> SearchRun:
    root = tmp_path_factory.mktemp(name)
    home, airflow_home = root / "ct_home", root / "airflow_home"
    home.mkdir()
    data = yaml.safe_load(BUNDLED_CONFIG.read_text())
    data["model"]["candidates"] = ["default", {"spec": "gradient_boosting", "grid": {"max_iter": [10, 30]}}]
    data["dataset"]["slice_columns"] = ["region"]
    data["evaluation"].update(bootstrap_resamples=200, folds=FOLDS)
    data["ingest"]["stable_seconds"] = 0
    data["resources"] = {"cv_in_process_max_rows": cv_in_process_max_rows}
    (home / "pipeline.yaml").write_text(yaml.safe_dump(data))
    settings = Settings(
        home=home,
        config_path=home / "pipeline.yaml",
        database_url=f"sqlite:///{home / 'ct.db'}",
        data_url=home.as_uri(),
    )
    folder = settings.landing / "b1"
    folder.mkdir(parents=True)
    generate_batch(BatchSpec(rows=1200, seed=21)).to_csv(folder / "batch.csv", index=False)
    (folder / "_SUCCESS").touch()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW_HOME", str(airflow_home))
        assert run_dag(settings, "ct_ingest").succeeded
        result = run_dag(settings, "ct_train", {"reason": "candidate search"})
    return SearchRun(settings, airflow_home, result)


def _mapped_instances(airflow_home: Path, run_id: str, task_id: str) -> list[tuple[int, str]]:
    """(map_index, state) of one task's mapped instances in one ct_train run, from Airflow's DB."""
    with sqlite3.connect(airflow_home / "airflow.db") as db:
        rows = db.execute(
            "SELECT map_index, state FROM task_instance WHERE dag_id = 'ct_train' "
            "AND task_id = ? AND run_id = ? ORDER BY map_index",
            (task_id, run_id),
        ).fetchall()
    return [(int(i), str(s)) for i, s in rows]


def _returned(airflow_home: Path, run_id: str, task_id: str) -> dict[int, dict]:
    """What each mapped instance of a task returned (its XCom), by map_index."""
    with sqlite3.connect(airflow_home / "airflow.db") as db:
        rows = db.execute(
            "SELECT map_index, value FROM xcom WHERE dag_id = 'ct_train' AND task_id = ? "
            "AND run_id = ? AND key = 'return_value'",
            (task_id, run_id),
        ).fetchall()
    return {int(i): json.loads(v) for i, v in rows}


def test_each_candidate_is_one_mapped_task_and_the_best_by_cv_is_registered(search_run: SearchRun) -> None:
    result, search_settings, airflow_home = search_run.result, search_run.settings, search_run.airflow_home
    assert result.succeeded, result.errors
    meta = SqlMetadataStore(search_settings.database_url)
    [mv] = meta.list_model_versions()
    run_id = mv.trigger["run_id"]
    # Airflow expanded the train task into one instance per candidate, and all of them ran.
    assert _mapped_instances(airflow_home, run_id, "train") == [(i, "success") for i in range(len(CANDIDATES))]
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


def test_each_fold_of_each_candidate_is_one_mapped_task_with_its_scores_in_the_store(search_run: SearchRun) -> None:
    assert search_run.result.succeeded, search_run.result.errors
    meta = SqlMetadataStore(search_run.settings.database_url)
    [mv] = meta.list_model_versions()
    run_id = mv.trigger["run_id"]
    pairs = [(c, k) for c in CANDIDATES for k in range(FOLDS)]
    # Airflow expanded cross_validate into candidates x folds task instances, and all of them ran.
    assert _mapped_instances(search_run.airflow_home, run_id, "cross_validate") == [
        (i, "success") for i in range(len(pairs))
    ]
    returned = _returned(search_run.airflow_home, run_id, "cross_validate")
    assert sorted((r["candidate"], r["fold"]) for r in returned.values()) == sorted(pairs)
    store = ObjectStore(search_run.settings.data_url)
    records: dict[str, list[dict]] = {c: [] for c in CANDIDATES}
    for r in sorted(returned.values(), key=lambda r: (CANDIDATES.index(r["candidate"]), r["fold"])):
        # only ids and the store key went through XCom; the scores are on the data root
        assert set(r) == {"candidate", "fold", "folds", "scores_key"} and r["folds"] == FOLDS
        assert r["scores_key"] == fold_scores_key(mv.snapshot_id, mv.config_hash, r["candidate"], r["fold"])
        record = json.loads(store.get(r["scores_key"]))
        assert (record["candidate"], record["fold"], record["snapshot_id"]) == (
            r["candidate"],
            r["fold"],
            mv.snapshot_id,
        )
        records[r["candidate"]].append(record)
    # the folds of a candidate partition its training rows, and the recorded CV is their summary
    for c in mv.evaluation["candidates"]:
        folds = records[c["candidate"]]
        assert sum(f["validation_rows"] for f in folds) == mv.evaluation["train_rows"]
        assert c["cross_validation"] == summarize_folds([f["metrics"] for f in folds])


def test_a_small_search_cross_validates_in_the_evaluate_task_with_the_same_numbers(
    search_run: SearchRun, in_process_run: SearchRun
) -> None:
    result = in_process_run.result
    assert result.succeeded, result.errors
    meta = SqlMetadataStore(in_process_run.settings.database_url)
    [mv] = meta.list_model_versions()
    run_id = mv.trigger["run_id"]
    # No fold task ran: cross_validate was mapped over no folds; the candidates still trained apart
    # and evaluate (which must not be skipped with it) scored the folds.
    states = _mapped_instances(in_process_run.airflow_home, run_id, "cross_validate")
    assert all(state != "success" for _, state in states), states
    assert _returned(in_process_run.airflow_home, run_id, "cross_validate") == {}
    assert _mapped_instances(in_process_run.airflow_home, run_id, "train") == [
        (i, "success") for i in range(len(CANDIDATES))
    ]
    assert _mapped_instances(in_process_run.airflow_home, run_id, "evaluate") == [(-1, "success")]
    # The same choice and the same cross-validation numbers as the mapped fold tasks gave.
    [mapped] = SqlMetadataStore(search_run.settings.database_url).list_model_versions()
    assert mv.snapshot_id == mapped.snapshot_id
    assert mv.spec_name == mapped.spec_name
    assert [(c["candidate"], c["cross_validation"]) for c in mv.evaluation["candidates"]] == [
        (c["candidate"], c["cross_validation"]) for c in mapped.evaluation["candidates"]
    ]
    assert mv.evaluation["cross_validation"] == mapped.evaluation["cross_validation"]
    assert all(c["cross_validation"]["roc_auc"]["folds"] == FOLDS for c in mv.evaluation["candidates"])
    # the fold scores are stored under the same keys the fold tasks use
    store = ObjectStore(in_process_run.settings.data_url)
    for c in CANDIDATES:
        for k in range(FOLDS):
            assert store.exists(fold_scores_key(mv.snapshot_id, mv.config_hash, c, k)), (c, k)
