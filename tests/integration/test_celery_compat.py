"""The launcher's fixes for the pinned celery 5.7.0 + apache-airflow-providers-celery 3.26.0 pair.

scripts/airflow_celery_compat.py starts every process of the native Celery topology. These tests
show each fix against the real packages: the provider's executor module imports, and a failed
task's result row, read the way the provider reads it, gives back the exception (unpatched, that
read raised TypeError and took the scheduler down).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pipeline.settings import PROJECT_ROOT

SCRIPTS = PROJECT_ROOT / "scripts"
sys.path.insert(0, str(SCRIPTS))
import airflow_celery_compat


def test_the_celery_executor_module_imports_through_the_launcher(tmp_path: Path) -> None:
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import airflow_celery_compat as c; "
            "c.patch_celery_database_backend(); "
            "from airflow.providers.celery.executors.celery_executor_utils import BulkStateFetcher; print('ok')")
    env = {"AIRFLOW_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    result = subprocess.run([sys.executable, "-c", code, str(SCRIPTS)], capture_output=True, text=True, env=env,
                            timeout=180, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")


def test_a_failed_task_result_reads_back_as_its_exception(tmp_path: Path) -> None:
    from celery import Celery, states
    from celery.backends.database.models import Task

    airflow_celery_compat.patch_result_decoding()
    backend = Celery(backend=f"db+sqlite:///{tmp_path / 'results.db'}").backend
    backend.store_result("task-1", ValueError("execution API timed out"), states.FAILURE)
    session = backend.ResultSession()
    try:
        row = session.query(Task).filter(Task.task_id == "task-1").one()
        meta = backend.meta_from_decoded(row.to_dict())  # what the provider's bulk state read does
    finally:
        session.close()
    assert meta["status"] == states.FAILURE
    assert isinstance(meta["result"], ValueError) and str(meta["result"]) == "execution API timed out"


def test_patches_are_idempotent() -> None:
    airflow_celery_compat.patch_celery_database_backend()
    airflow_celery_compat.patch_result_decoding()
    assert airflow_celery_compat.patch_celery_database_backend() is False
    assert airflow_celery_compat.patch_result_decoding() is False
