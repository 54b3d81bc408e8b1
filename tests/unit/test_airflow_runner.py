"""The environment of the Airflow a person starts with `make airflow` (`ct standalone`)."""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.app.airflow_runner import standalone_env, standalone_urls
from pipeline.core.settings import Settings


def test_standalone_listens_on_loopback_sized_to_the_machine_and_creates_dags_paused(settings: Settings) -> None:
    env = standalone_env(settings, base={})
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["AIRFLOW__CORE__PARALLELISM"] == str(max(2, os.cpu_count() or 2))
    assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "True"
    url, passwords = standalone_urls(env)
    assert url == "http://127.0.0.1:8080"
    assert passwords == settings.airflow_home / "simple_auth_manager_passwords.json.generated"


def test_what_is_printed_follows_the_overrides(settings: Settings, tmp_path: Path) -> None:
    env = standalone_env(
        settings,
        base={
            "AIRFLOW__API__PORT": "9191",
            "AIRFLOW_HOME": str(tmp_path / "af"),
            "AIRFLOW__API__HOST": "0.0.0.0",
            "AIRFLOW__CORE__PARALLELISM": "6",
        },
    )
    assert env["AIRFLOW__CORE__PARALLELISM"] == "6" and env["AIRFLOW__API__HOST"] == "0.0.0.0"
    url, passwords = standalone_urls(env)
    assert url == "http://127.0.0.1:9191"
    assert passwords == tmp_path / "af" / "simple_auth_manager_passwords.json.generated"
