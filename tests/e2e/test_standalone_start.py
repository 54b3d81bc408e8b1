"""`make airflow` as a person starts it: `ct standalone` in a real Airflow.

It must print the URL and password file really in use (here: a port and an Airflow home that are not
the defaults), listen on 127.0.0.1 only, run no more task processes at once than the machine has
cores (tests/unit/test_airflow_runner.py), and show no failed task in its first minute: the DAGs are
unpaused only once the API answers, so no catch-up run reaches a task runner that cannot talk to the API yet.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from airflow_server import free_port

from pipeline.core.settings import PROJECT_ROOT
from scripts.airflow_rest import AirflowClient, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _listening_hosts(port: int) -> set[str]:
    """Local addresses listening on ``port`` (IPv4, from /proc/net/tcp): 0100007F is 127.0.0.1."""
    hosts = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
            hosts.add(address)
    return hosts


def test_ct_standalone_prints_what_is_in_use_binds_loopback_and_starts_clean(tmp_path: Path) -> None:
    port = free_port()
    home, airflow_home = tmp_path / "ct", tmp_path / "elsewhere" / "airflow"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CT_"))}
    env.update(
        {
            "CT_HOME": str(home),
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "CT_INGEST_CRON": "* * * * *",
            "CT_LANDING_POKE_SECONDS": "10",
        }
    )
    with open(tmp_path / "standalone.out", "w") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("ct")), "standalone"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=PROJECT_ROOT,
            start_new_session=True,
        )
    try:
        printed = wait_for(
            lambda: "Airflow UI:" in (text := (tmp_path / "standalone.out").read_text()) and text,
            300,
            interval=2,
            what="ct standalone to print the URL",
        )
        line = next(x for x in printed.splitlines() if x.startswith("Airflow UI:"))
        passwords = airflow_home / "simple_auth_manager_passwords.json.generated"
        assert f"http://127.0.0.1:{port}" in line and str(passwords) in line
        assert passwords.exists()
        assert _listening_hosts(port) == {"0100007F"}, "the UI must listen on 127.0.0.1 only"

        user, password = next(iter(json.loads(passwords.read_text()).items()))
        client = AirflowClient(f"http://127.0.0.1:{port}", user, password)
        dags = {d["dag_id"]: d for d in client.get("/api/v2/dags?limit=100")["dags"]}
        assert {d: dags[d]["is_paused"] for d in ("ct_ingest", "ct_monitor", "ct_train")} == {
            "ct_ingest": False,
            "ct_monitor": False,
            "ct_train": False,
        }

        time.sleep(60)  # the first minute: catch-up runs are dispatched and run
        bad = [
            (dag, ti["task_id"], ti["state"])
            for dag in ("ct_ingest", "ct_monitor", "ct_train")
            for run in client.dag_runs(dag)
            for ti in client.task_instances(dag, run["dag_run_id"])
            if ti["state"] in ("failed", "upstream_failed", "up_for_retry", "restarting")
        ]
        assert bad == [], f"tasks failed in the first minute: {bad}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
