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
from datetime import UTC, datetime
from pathlib import Path

from pipeline.core.errors import CTError
from pipeline.core.progress import PROGRESS_MARK
from pipeline.core.redaction import HIDDEN, redact_env_value, scrub, settings_secrets, url_secrets
from pipeline.core.settings import PROJECT_ROOT, Settings

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
        raise AirflowRunError(
            "the `airflow` command is not installed; run `make demo` (or pip install -r requirements.txt)"
        )
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
    env.setdefault(
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL", f"http://127.0.0.1:{env['AIRFLOW__API__PORT']}/execution/"
    )
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


OUR_DAGS = "^ct_"
"""The project's DAG ids, as the regex ``airflow dags pause/unpause --treat-dag-id-as-regex`` takes."""


def standalone_env(settings: Settings, base: dict[str, str] | None = None) -> dict[str, str]:
    """:func:`airflow_env` for a long-running ``airflow standalone`` a person starts (``make airflow``).

    It listens on 127.0.0.1 unless ``AIRFLOW__API__HOST`` says otherwise, runs as many task
    processes at once as the machine has cores (``AIRFLOW__CORE__PARALLELISM``; Airflow's default of
    32 processes on 2 cores makes every task slower), and creates new DAGs paused: they are unpaused
    once the API answers, so no catch-up run is dispatched to a task runner that cannot reach it yet.
    """
    env = airflow_env(settings, base)
    env.setdefault("AIRFLOW__API__HOST", "127.0.0.1")
    env.setdefault("AIRFLOW__CORE__PARALLELISM", str(max(2, os.cpu_count() or 2)))
    env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] = "True"
    return env


def standalone_urls(env: dict[str, str]) -> tuple[str, Path]:
    """The UI's URL and the file holding the admin password, as this environment really has them."""
    host = env.get("AIRFLOW__API__HOST", "127.0.0.1")
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    return (
        f"http://{shown}:{env['AIRFLOW__API__PORT']}",
        Path(env["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated",
    )


def _api_answers(url: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/api/v2/version", timeout=3):
            return True
    except urllib.error.HTTPError:
        return True  # it answered (401 before login): it is up
    except OSError:
        return False


PROJECT_DAGS = ("ct_ingest", "ct_monitor", "ct_train")


def _set_paused(env: dict[str, str], paused: bool) -> None:
    subprocess.run(
        [airflow_binary(), "dags", "pause" if paused else "unpause", "--treat-dag-id-as-regex", "-y", OUR_DAGS],
        check=False,
        env=env,
        capture_output=True,
        text=True,
    )


def _all_unpaused(env: dict[str, str]) -> bool:
    """Whether every project DAG is parsed and unpaused; unpauses the parsed ones that are not."""
    listed = subprocess.run(
        [airflow_binary(), "dags", "list", "-o", "json"], check=False, env=env, capture_output=True, text=True
    )
    # Airflow prints warnings (e.g. "Could not import graphviz") on stdout before the JSON line.
    line = next((ln for ln in reversed(listed.stdout.splitlines()) if ln.startswith("[")), "[]")
    try:
        dags = {d["dag_id"]: d for d in json.loads(line)}
    except ValueError:
        return False
    ours = [dags[d] for d in PROJECT_DAGS if d in dags]
    if any(str(d.get("is_paused")).lower() == "true" for d in ours):
        _set_paused(env, False)
        return False
    return len(ours) == len(PROJECT_DAGS)


def run_standalone(settings: Settings, echo: Callable[[str], None] = print, timeout: float = 300) -> int:
    """``airflow standalone`` with this project's DAGs, unpaused only once its API answers.

    Prints the URL and the password file really in use (port and ``AIRFLOW_HOME`` overrides
    included) and runs until Airflow stops or Ctrl-C.
    """
    env = standalone_env(settings)
    ensure_airflow_db(env)
    _set_paused(env, True)  # DAGs known from an earlier start wait too
    url, passwords = standalone_urls(env)
    proc = subprocess.Popen([airflow_binary(), "standalone"], env=env)
    try:
        deadline = time.monotonic() + timeout
        while not _api_answers(url):
            if proc.poll() is not None:
                return proc.returncode
            if time.monotonic() > deadline:
                raise AirflowRunError(f"Airflow did not answer on {url} within {timeout:.0f}s")
            time.sleep(2)
        while not _all_unpaused(env):  # the dag-processor may not have parsed them yet
            if proc.poll() is not None:
                return proc.returncode
            time.sleep(3)
        echo(f"Airflow UI: {url}  (user admin; password in {passwords})")
        echo(
            "DAGs unpaused: ct_ingest, ct_monitor, ct_train. Feed it from another terminal with: "
            ".venv/bin/ct demo-data --every 30s"
        )
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def env_secrets(env: dict[str, str]) -> list[str]:
    """Secret values of the ``AIRFLOW*``/``CT_*`` variables (by name, or URL passwords), for :func:`scrub`."""
    found: list[str] = []
    for key, value in env.items():
        if key.startswith(("AIRFLOW", "CT_")) and value:
            # a short value under a secret-looking name ("True", a port) would blank every such word in a log
            found += (
                ([value] if len(value) >= 8 else []) if redact_env_value(key, value) == HIDDEN else url_secrets(value)
            )
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
    result = subprocess.run([airflow_binary(), "db", "migrate"], check=False, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        secrets = env_secrets(env)
        raise AirflowRunError(
            f"`airflow db migrate` failed in {home}:\n{scrub(result.stdout[-2000:], secrets)}\n"
            f"{scrub(result.stderr[-2000:], secrets)}"
        )
    stamp.write_text(wanted)


@dataclass
class DagRunResult:
    dag_id: str
    succeeded: bool
    seconds: float
    log_path: Path
    progress: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def run_dag(
    settings: Settings, dag_id: str, conf: dict | None = None, echo: Callable[[str], None] | None = None
) -> DagRunResult:
    """Execute one run of ``dag_id`` with ``airflow dags test``; progress lines go to ``echo``."""
    env = airflow_env(settings)
    ensure_airflow_db(env)
    logs = settings.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{dag_id}-{datetime.now(UTC):%Y%m%dT%H%M%S%f}.log"
    cmd = [airflow_binary(), "dags", "test", dag_id]
    if conf:
        cmd += ["-c", json.dumps(conf)]
    started = time.perf_counter()
    result = DagRunResult(dag_id=dag_id, succeeded=False, seconds=0.0, log_path=log_path)
    secrets = settings_secrets(settings) + env_secrets(env)
    with (
        open(log_path, "w", encoding="utf-8") as out,
        subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=settings.home
        ) as proc,  # closes the pipe it reads (no ResourceWarning) and waits for the process
    ):
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
    result.seconds = round(time.perf_counter() - started, 1)
    result.succeeded = proc.returncode == 0
    return result
