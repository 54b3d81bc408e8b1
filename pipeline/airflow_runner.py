"""Run the project's DAGs through a real Airflow on the embedded default, from the command line.

``pipeline/`` never imports Airflow: this module starts ``airflow dags test`` as a subprocess with
an Airflow home inside the data directory, so ``ct run`` and ``ct demo`` execute exactly the DAG
code the scheduler would, on Airflow's own SQLite metadata DB.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from pipeline.errors import CTError
from pipeline.redaction import HIDDEN, redact_env_value, scrub, settings_secrets, url_secrets
from pipeline.settings import PROJECT_ROOT, Settings
from pipeline.workspace import PROGRESS_MARK

log = logging.getLogger(__name__)

ERROR_MARK = "CT!"
_PROGRESS = re.compile(re.escape(PROGRESS_MARK) + r"\s*(.*?)\s*(\[[\w.]+\]\s+loc=.*)?$")
_ERROR = re.compile(re.escape(ERROR_MARK) + r"\s*(.*?)\s*(\[[\w.]+\]\s+loc=.*)?$")


class AirflowRunError(CTError):
    """A DAG run started from the CLI did not succeed."""


def airflow_binary() -> str:
    beside = Path(sys.executable).with_name("airflow")
    if beside.exists():
        return str(beside)
    found = shutil.which("airflow")
    if not found:
        raise AirflowRunError("the `airflow` command is not installed; run `make demo` (or pip install -r requirements.txt)")
    return found


def airflow_env(settings: Settings, base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for an embedded Airflow that sees this project's DAGs, plugins and stores."""
    env = dict(os.environ if base is None else base)
    env.setdefault("AIRFLOW_HOME", str(settings.airflow_home))
    env.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(PROJECT_ROOT / "dags"))
    env.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(PROJECT_ROOT / "plugins"))
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    env.setdefault("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", "False")
    env.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")
    env.setdefault("AIRFLOW__API__PORT", "8080")
    # Tasks reach Airflow through the execution API on the api-server's port (else they are killed).
    env.setdefault("AIRFLOW__CORE__EXECUTION_API_SERVER_URL", f"http://127.0.0.1:{env['AIRFLOW__API__PORT']}/execution/")
    # `airflow standalone` starts its components as `airflow ...` subprocesses: use this venv's.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["CT_HOME"] = str(settings.home)
    env["CT_CONFIG"] = str(settings.config_path)
    env["CT_DATABASE_URL"] = settings.database_url
    env["CT_DATA_URL"] = settings.data_url
    if settings.alert_webhook_url:
        env["CT_ALERT_WEBHOOK_URL"] = settings.alert_webhook_url
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT / "plugins"), env.get("PYTHONPATH", "")) if p)
    return env


def env_secrets(env: dict[str, str]) -> list[str]:
    """Secret values of the ``AIRFLOW*``/``CT_*`` variables (by name, or URL passwords), for :func:`scrub`."""
    found: list[str] = []
    for key, value in env.items():
        if key.startswith(("AIRFLOW", "CT_")) and value:
            # a short value under a secret-looking name ("True", a port) would blank every such word in a log
            found += ([value] if len(value) >= 8 else []) if redact_env_value(key, value) == HIDDEN \
                else url_secrets(value)
    return found


def ensure_airflow_db(env: dict[str, str]) -> None:
    """Run ``airflow db migrate`` once per Airflow home (and again after an Airflow upgrade)."""
    home = Path(env["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    from importlib.metadata import version

    stamp = home / ".ct-migrated"
    wanted = version("apache-airflow")
    if stamp.exists() and stamp.read_text().strip() == wanted:
        return
    log.info("preparing Airflow %s metadata DB in %s (once)", wanted, home)
    result = subprocess.run([airflow_binary(), "db", "migrate"], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        secrets = env_secrets(env)
        raise AirflowRunError(f"`airflow db migrate` failed in {home}:\n{scrub(result.stdout[-2000:], secrets)}\n"
                              f"{scrub(result.stderr[-2000:], secrets)}")
    stamp.write_text(wanted)


@dataclass
class DagRunResult:
    dag_id: str
    succeeded: bool
    seconds: float
    log_path: Path
    progress: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def run_dag(settings: Settings, dag_id: str, conf: dict | None = None,
            echo: Callable[[str], None] | None = None) -> DagRunResult:
    """Execute one run of ``dag_id`` with ``airflow dags test``; progress lines go to ``echo``."""
    env = airflow_env(settings)
    ensure_airflow_db(env)
    logs = settings.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{dag_id}-{datetime.now(timezone.utc):%Y%m%dT%H%M%S%f}.log"
    cmd = [airflow_binary(), "dags", "test", dag_id]
    if conf:
        cmd += ["-c", json.dumps(conf)]
    started = time.perf_counter()
    result = DagRunResult(dag_id=dag_id, succeeded=False, seconds=0.0, log_path=log_path)
    secrets = settings_secrets(settings) + env_secrets(env)
    with open(log_path, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                cwd=settings.home)
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = scrub(raw, secrets)  # the saved log and the progress lines never quote a secret
            out.write(line)
            if (m := _PROGRESS.search(line)) and "%s" not in line:
                result.progress.append(m.group(1))
                if echo:
                    echo(m.group(1))
            elif (m := _ERROR.search(line)) and not line.lstrip().startswith("raise"):
                text = m.group(1).strip().strip('"')
                if text and text not in result.errors:
                    result.errors.append(text)
        proc.wait()
    result.seconds = round(time.perf_counter() - started, 1)
    result.succeeded = proc.returncode == 0
    return result
