"""A real Airflow (``airflow standalone``: scheduler, dag-processor, triggerer, api-server) for tests.

Started in its own process group with a private AIRFLOW_HOME and CT_HOME, on free ports, with the
project's DAGs unpaused; driven through the REST API with a JWT from the simple auth manager; and
stopped (the whole group) afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.core.settings import BUNDLED_CONFIG, PROJECT_ROOT
from scripts.airflow_rest import AirflowClient, wait_for

__all__ = ["AirflowServer", "free_port", "wait_for"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class AirflowServer:
    root: Path
    config_path: Path = BUNDLED_CONFIG
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    _rest: AirflowClient | None = field(default=None, repr=False)

    @property
    def airflow_home(self) -> Path:
        return self.root / "airflow"

    @property
    def ct_home(self) -> Path:
        return self.root / "ct"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.root / "standalone.log"

    def env(self) -> dict[str, str]:
        bin_dir = str(Path(sys.executable).parent)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CT_"))}
        env.update(
            {
                "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
                "AIRFLOW_HOME": str(self.airflow_home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
                "PYTHONPATH": str(PROJECT_ROOT / "plugins"),
                "CT_HOME": str(self.ct_home),
                "CT_CONFIG": str(self.config_path),
                "CT_INGEST_CRON": "* * * * *",
                "CT_LANDING_POKE_SECONDS": "5",
            }
        )
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 180) -> AirflowServer:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.ct_home / "landing").mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "w") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "airflow", "standalone"],
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.root,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"airflow standalone exited early; see {self.log_path}")
            try:
                client = self._client()
                client.get("/api/v2/version")
                self._rest = client
                return self
            except (OSError, urllib.error.URLError, KeyError, ValueError, RuntimeError):  # still starting
                time.sleep(2)
        self.stop()
        raise RuntimeError(f"Airflow did not come up in {timeout:.0f}s; see {self.log_path}")

    def _client(self) -> AirflowClient:
        passwords = json.loads((self.airflow_home / "simple_auth_manager_passwords.json.generated").read_text())
        user, password = next(iter(passwords.items()))
        return AirflowClient(self.url, user, password)

    @property
    def client(self) -> AirflowClient:
        """The REST client as the admin user (``scripts/airflow_rest.py``); available once started."""
        if self._rest is None:
            raise RuntimeError("the Airflow server is not started")
        return self._rest

    def get(self, path: str) -> Any:
        return self.client.get(path)

    def post(self, path: str, payload: Any) -> Any:
        return self.client.post(path, payload)

    def dag_runs(self, dag_id: str) -> list[dict[str, Any]]:
        return self.client.dag_runs(dag_id)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return self.client.task_instances(dag_id, run_id)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
