"""A small client for Airflow 3's REST API (``/api/v2``) behind the simple auth manager.

Used by ``celery_topology.py`` (readiness, status), its end-to-end test and the Celery benchmark:
log in for a JWT, read DAG runs and task instances, trigger and pause DAGs, wait for a run.
Standard library only, so the scripts need nothing beyond the project's virtualenv.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

FINISHED_RUN_STATES = ("success", "failed")


def wait_for(predicate: Callable[[], T | None], timeout: float, interval: float = 2.0, what: str = "") -> T:
    """Poll ``predicate`` until it returns something truthy; raise ``TimeoutError`` naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def parse_time(text: str) -> float:
    """An Airflow API timestamp (ISO 8601, ``Z`` or offset) as seconds since the epoch."""
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def union_length(intervals: list[tuple[float, float]]) -> float:
    """Seconds covered by at least one of the intervals (overlapping tasks count once)."""
    covered, end_so_far = 0.0, float("-inf")
    for raw_start, end in sorted(intervals):
        start = max(raw_start, end_so_far)
        if end > start:
            covered += end - start
            end_so_far = end
    return covered


@dataclass
class AirflowClient:
    """REST access as one user; the token is fetched on first use and renewed after a 401."""

    url: str
    username: str
    password: str
    timeout: float = 30.0
    _token: str | None = field(default=None, repr=False)

    def login(self) -> str:
        body = json.dumps({"username": self.username, "password": self.password}).encode()
        req = urllib.request.Request(f"{self.url}/auth/token", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:
            self._token = json.loads(resp.read())["access_token"]
        return self._token

    def request(self, method: str, path: str, payload: Any = None) -> Any:
        """``method path`` with a JSON body; returns the decoded JSON answer (None when empty)."""
        for attempt in (1, 2):
            token = self._token or self.login()
            data = json.dumps(payload).encode() if payload is not None else None
            req = urllib.request.Request(
                f"{self.url}{path}",
                data=data,
                method=method,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    return json.loads(resp.read() or b"null")
            except urllib.error.HTTPError as err:
                if err.code == 401 and attempt == 1:
                    self._token = None  # expired or issued by an earlier server: log in again
                    continue
                detail = err.read().decode(errors="replace")[:500]
                raise RuntimeError(f"{method} {path} -> HTTP {err.code}: {detail}") from None
        raise AssertionError("unreachable")

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, payload: Any) -> Any:
        return self.request("POST", path, payload)

    def patch(self, path: str, payload: Any) -> Any:
        return self.request("PATCH", path, payload)

    # -- Airflow objects ----------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """``/api/v2/monitor/health``: metadatabase, scheduler, triggerer and dag_processor status."""
        return self.get("/api/v2/monitor/health")

    def dag_ids(self) -> set[str]:
        return {d["dag_id"] for d in self.get("/api/v2/dags?limit=100")["dags"]}

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.patch(f"/api/v2/dags/{dag_id}", {"is_paused": paused})

    def dag_runs(self, dag_id: str) -> list[dict[str, Any]]:
        return self.get(f"/api/v2/dags/{dag_id}/dagRuns?order_by=start_date&limit=100")["dag_runs"]

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.get(f"/api/v2/dags/{dag_id}/dagRuns/{_quote(run_id)}")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return self.get(f"/api/v2/dags/{dag_id}/dagRuns/{_quote(run_id)}/taskInstances?limit=100")["task_instances"]

    def task_intervals(
        self, dag_ids: tuple[str, ...], start: float, end: float, skip: tuple[str, ...] = ("wait_for_landing_files",)
    ) -> list[tuple[str, float, float]]:
        """(dag.task, start, end) of every finished task of these DAGs, clipped to [start, end].

        Sensors waiting for data are skipped: they measure the producer, not the loop.
        """
        found = []
        for dag_id in dag_ids:
            for run in self.dag_runs(dag_id):
                for ti in self.task_instances(dag_id, run["dag_run_id"]):
                    if ti["task_id"] in skip or not (ti.get("start_date") and ti.get("end_date")):
                        continue
                    a, b = max(parse_time(ti["start_date"]), start), min(parse_time(ti["end_date"]), end)
                    if b > a:
                        found.append((f"{dag_id}.{ti['task_id']}", a, b))
        return found

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """Start a run now with ``conf``; returns its run id."""
        run = self.post(f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf or {}})
        return run["dag_run_id"]

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float, interval: float = 2.0) -> str:
        """Wait until the run is ``success`` or ``failed``; returns that state."""

        def finished() -> str | None:
            state = self.dag_run(dag_id, run_id)["state"]
            return state if state in FINISHED_RUN_STATES else None

        return wait_for(finished, timeout, interval, what=f"{dag_id} run {run_id} to finish")


def _quote(run_id: str) -> str:
    return urllib.parse.quote(run_id, safe="")
