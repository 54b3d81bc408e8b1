"""The native Celery topology's settings and rendered airflow.cfg (scripts/topology_settings.py).

No process is started: these check that the configuration every component reads says what the
topology promises (CeleryExecutor, Redis broker under a private key prefix, PostgreSQL result
backend, separate databases for Airflow and the store, auth on, worker host names), and that bad
settings are refused with a message that names them.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict
from pathlib import Path

import pytest

from scripts import ct_topology_hostname
from scripts.topology_settings import (
    Secrets,
    TopologyError,
    TopologySettings,
    render_airflow_cfg,
)


@pytest.fixture
def settings(tmp_path: Path) -> TopologySettings:
    return TopologySettings(
        root=tmp_path / "topo",
        ct_home=tmp_path / "ct",
        airflow_db="af_meta",
        store_db="ct_meta",
        key_prefix="ct-t1:",
        workers=2,
        concurrency=3,
        api_port=18123,
        serve_port=18124,
        airflow_config={"scheduler.task_instance_heartbeat_timeout": "30"},
    )


def test_rendered_config_is_the_celery_topology(settings: TopologySettings, tmp_path: Path) -> None:
    cfg = render_airflow_cfg(settings, Secrets.generate(), tmp_path / "airflow")
    assert cfg["core"]["executor"] == "CeleryExecutor"
    assert cfg["database"]["sql_alchemy_conn"] == "postgresql+psycopg2://postgres@127.0.0.1:5432/af_meta"
    assert cfg["celery"]["result_backend"] == "db+postgresql+psycopg2://postgres@127.0.0.1:5432/af_meta"
    assert cfg["celery"]["broker_url"] == "redis://127.0.0.1:6379/5"
    assert cfg["celery"]["worker_concurrency"] == "3"
    assert cfg["celery_broker_transport_options"]["global_keyprefix"] == "ct-t1:"
    assert cfg["core"]["execution_api_server_url"] == "http://127.0.0.1:18123/execution/"
    assert cfg["core"]["auth_manager"].endswith("SimpleAuthManager")
    assert cfg["core"]["simple_auth_manager_users"] == "admin:admin"
    assert cfg["core"]["hostname_callable"] == "ct_topology_hostname.hostname"
    assert cfg["scheduler"]["task_instance_heartbeat_timeout"] == "30"  # overrides land last
    assert settings.store_url.endswith("/ct_meta") and settings.store_url != settings.airflow_url


def test_components_share_the_secrets_they_must_agree_on(settings: TopologySettings, tmp_path: Path) -> None:
    secrets = Secrets.generate()
    cfg = render_airflow_cfg(settings, secrets, tmp_path / "airflow")
    assert cfg["api_auth"]["jwt_secret"] == secrets.jwt_secret
    assert cfg["core"]["fernet_key"] == secrets.fernet_key
    assert Secrets.generate() != secrets


def test_settings_round_trip_through_json(settings: TopologySettings) -> None:
    assert TopologySettings.from_json(settings.to_json()) == settings
    old = {k: v for k, v in settings.to_json().items() if k != "serve_port"}  # a state file from before ct serve
    assert TopologySettings.from_json(old).serve_port is None


def test_ct_serve_runs_on_the_topology_store_with_a_token_of_its_own(settings: TopologySettings) -> None:
    from scripts.celery_topology import SERVE, CeleryTopology

    topology = CeleryTopology(settings, Secrets.generate())
    assert topology._command(SERVE)[-6:] == ["pipeline.cli", "serve", "--host", "127.0.0.1", "--port", "18124"]
    serve_env = topology.component_env(SERVE)
    assert serve_env["CT_SERVE_TOKEN"] == topology.secrets.serve_token
    assert serve_env["CT_DATABASE_URL"] == settings.store_url and serve_env["CT_HOME"] == str(settings.ct_home)
    root = str(Path(__file__).resolve().parents[2])
    assert serve_env["PYTHONPATH"].split(os.pathsep)[0] == root, "this checkout's pipeline, not another install"
    for other in ("scheduler", "ct-worker-1"):
        assert "CT_SERVE_TOKEN" not in topology.component_env(other), f"{other} gets ct serve's token"
    assert topology.settings.serve_url == "http://127.0.0.1:18124"


def test_a_state_file_from_before_ct_serve_gets_a_token() -> None:
    kept = {k: v for k, v in asdict(Secrets.generate()).items() if k != "serve_token"}
    a, b = Secrets(**kept), Secrets(**kept)
    assert len(a.serve_token) >= 32 and a.serve_token != b.serve_token
    assert Secrets.generate().serve_token != Secrets.generate().serve_token


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"airflow_db": "Airflow-DB"}, "airflow_db='Airflow-DB' is not a plain PostgreSQL database name"),
        ({"store_db": "x; DROP DATABASE y"}, "store_db="),
        ({"airflow_db": "same", "store_db": "same"}, "must live in separate databases"),
        ({"workers": 0}, "workers=0"),
    ],
)
def test_bad_settings_are_refused_by_name(tmp_path: Path, changes: dict, message: str) -> None:
    with pytest.raises(TopologyError, match=re.escape(message)):
        TopologySettings(root=tmp_path, ct_home=tmp_path, **changes)


def test_bad_override_key_is_refused(settings: TopologySettings, tmp_path: Path) -> None:
    from dataclasses import replace

    with pytest.raises(TopologyError, match=r"'nodot' must be 'section\.key'"):
        render_airflow_cfg(replace(settings, airflow_config={"nodot": "1"}), Secrets.generate(), tmp_path)


def test_worker_hostname_comes_from_its_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ct_topology_hostname.ENV_VAR, "ct-worker-2@box")
    assert ct_topology_hostname.hostname() == "ct-worker-2@box"
    monkeypatch.delenv(ct_topology_hostname.ENV_VAR)
    assert ct_topology_hostname.hostname() == __import__("socket").getfqdn()
