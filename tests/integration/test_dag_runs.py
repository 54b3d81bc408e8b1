"""The DAGs run end to end in a real Airflow (``airflow dags test`` on its SQLite metadata DB).

These drive the same path as ``ct run``: the CLI starts Airflow, Airflow runs the tasks, the tasks
call ``pipeline/``. Assertions read the project's own stores afterwards.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.app.airflow_runner import run_dag
from pipeline.app.demo_data import BatchSpec, generate_batch
from pipeline.app.local_runner import run_landing
from pipeline.core.settings import Settings
from pipeline.registry.sql import SqlMetadataStore

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _airflow_env(airflow_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(airflow_home))


def drop(settings: Settings, folder: str, files: dict[str, bytes]) -> None:
    target = settings.landing / folder
    target.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (target / name).write_bytes(data)
    (target / "_SUCCESS").touch()


def batch_csv(seed: int, rows: int = 1500, first_id: int = 0, **kw) -> bytes:
    return generate_batch(BatchSpec(rows=rows, seed=seed, first_id=first_id, **kw)).to_csv(index=False).encode()


def test_landing_files_become_a_snapshot_and_a_champion_through_airflow(settings: Settings) -> None:
    good = batch_csv(seed=1)
    broken = generate_batch(BatchSpec(rows=40, seed=2)).drop(columns=["age"]).to_csv(index=False).encode()
    drop(settings, "b1", {"good.csv": good, "broken.csv": broken})
    lines: list[str] = []

    outcome = run_landing(settings, echo=lines.append)

    assert outcome.status == "trained", outcome.errors
    meta = SqlMetadataStore(settings.database_url)
    snapshot = meta.latest_snapshot("churn")
    assert snapshot is not None and snapshot.rows == 1500
    # The malformed file is in quarantine with its reason; the good one went through.
    reasons = list(settings.quarantine.rglob("broken.csv.reason.json"))
    assert len(reasons) == 1
    reason = json.loads(reasons[0].read_text())
    assert reason["code"] == "wrong_columns" and "age" in reason["message"]
    assert list(settings.archive.rglob("good.csv"))
    assert not list(settings.landing.rglob("*.csv")), "nothing is left behind in the landing area"
    # Registered, promoted, and traceable to the run that made it.
    champion = meta.get_alias("churn-classifier")
    assert champion is not None and champion.version == 1 and champion.snapshot_id == snapshot.id
    assert champion.trigger["kind"] == "new_data"
    assert champion.trigger["dag_id"] == "ct_train" and champion.trigger["run_id"]
    assert champion.validation_id is not None
    assert meta.get_validation(champion.validation_id).passed
    assert [p.to_version for p in meta.promotion_history("churn-classifier")] == [1]
    # The task logs told the story in plain words, one line per stage.
    stages = [line.split(":", 1)[0] for line in lines]
    in_order = [s for i, s in enumerate(stages) if i == 0 or stages[i - 1] != s]
    assert in_order == ["ingest", "monitor", "plan", "validate", "train", "choose", "evaluate", "register", "promote"]
    assert stages.count("train") == 2, "one line per candidate (default, gradient_boosting)"

    # Nothing new: no DAG run is needed and nothing is duplicated.
    again = run_landing(settings, echo=lines.append)
    assert again.status == "already_trained" and again.model_version == 1
    assert len(meta.list_model_versions()) == 1 and len(meta.list_snapshots()) == 1


def test_schema_breaking_batch_stops_training_with_a_readable_error(settings: Settings) -> None:
    drop(settings, "b1", {"first.csv": batch_csv(seed=3)})
    assert run_landing(settings, echo=lambda _: None).status == "trained"
    frame = generate_batch(BatchSpec(rows=800, seed=4, first_id=50_000))
    frame["contract"] = "weekly"  # a level the schema does not declare, in every row
    drop(settings, "b2", {"second.csv": frame.to_csv(index=False).encode()})

    outcome = run_landing(settings, echo=lambda _: None)

    assert outcome.status == "failed"
    text = "\n".join(outcome.errors)
    assert "validation failed" in text
    assert "contract" in text and "weekly" in text
    assert "Full report: file://" in text
    meta = SqlMetadataStore(settings.database_url)
    assert [v.version for v in meta.list_model_versions()] == [1], "no model is registered from bad data"
    latest = meta.latest_snapshot("churn")
    stored = meta.latest_validation(latest.id)
    assert stored is not None and stored.passed is False
    # Alerts: the first promotion, the failed validation, and Airflow's failure callback for that task (once:
    # the pipeline's own errors are not retried, and only the final failure calls on_failure_callback).
    alerts = {a.kind: a for a in meta.list_alerts()}
    assert sorted(alerts) == ["promoted", "task_failed", "validation_failed"]
    assert alerts["validation_failed"].details["snapshot_id"] == latest.id
    assert alerts["validation_failed"].source["task_id"] == "validate"
    failed = alerts["task_failed"]
    assert (failed.source["dag_id"], failed.source["task_id"], failed.source["try_number"]) == (
        "ct_train",
        "validate",
        1,
    )
    assert failed.source["run_id"] == alerts["validation_failed"].source["run_id"]
    assert failed.details["error"].startswith("ValidationFailed: validation failed for snapshot")
    assert "/dags/ct_train/runs/" in failed.details["log_url"]


def test_manual_run_with_params_is_recorded_and_idempotent(settings: Settings) -> None:
    drop(settings, "b1", {"first.csv": batch_csv(seed=5)})
    assert run_landing(settings, echo=lambda _: None).status == "trained"
    meta = SqlMetadataStore(settings.database_url)
    snapshot = meta.latest_snapshot("churn")

    # Same inputs, forced: Airflow reruns every task, and the registry still holds one version.
    result = run_dag(
        settings, "ct_train", {"snapshot_id": snapshot.id[:8], "force": True, "reason": "checking reproducibility"}
    )
    assert result.succeeded, result.errors
    assert [v.version for v in meta.list_model_versions()] == [1]
    assert len(meta.promotion_history("churn-classifier")) == 1

    # A different spec from the trigger form is a new version, recorded as manual with its reason.
    result = run_dag(
        settings, "ct_train", {"snapshot_id": snapshot.id, "model_spec": "gradient_boosting", "reason": "try boosting"}
    )
    assert result.succeeded, result.errors
    v2 = meta.get_model_version("churn-classifier", 2)
    assert v2.spec_name == "gradient_boosting"
    assert v2.trigger["kind"] == "manual" and v2.trigger["reason"] == "try boosting"
    assert v2.decision is not None and v2.decision["reason"]


FLAKY_DAG = """
from datetime import timedelta

from airflow.sdk import dag, task
from ct_airflow.defaults import DEFAULT_ARGS, START_DATE


@dag(dag_id="ct_flaky", schedule=None, start_date=START_DATE, catchup=False,
     default_args={**DEFAULT_ARGS, "retries": 1, "retry_delay": timedelta(seconds=0),
                   "retry_exponential_backoff": False})
def ct_flaky():
    @task
    def flaky(**context):
        raise RuntimeError(f"disk full on try {context['ti'].try_number}")

    flaky()


ct_flaky()
"""


def test_a_retried_failure_alerts_once_after_the_last_try(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The project's default args, on a task that keeps failing: the retry is silent, the final failure alerts."""
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "ct_flaky.py").write_text(FLAKY_DAG)
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(dags))

    result = run_dag(settings, "ct_flaky")

    assert not result.succeeded
    [alert] = SqlMetadataStore(settings.database_url).list_alerts()
    assert (alert.kind, alert.severity, alert.source["task_id"], alert.source["try_number"]) == (
        "task_failed",
        "critical",
        "flaky",
        2,
    )
    assert alert.details["error"] == "RuntimeError: disk full on try 2"
