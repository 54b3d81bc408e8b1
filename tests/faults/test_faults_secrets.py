"""Secrets never reach the screen or a saved log: database, broker and webhook credentials are redacted.

``CT_DATABASE_URL`` (and Airflow's own connection strings) carry passwords; ``ct airflow``
prints the environment, ``ct demo`` names the metadata database, and ``ct run``/``ct demo``
echo the task logs' progress lines and save the full log. None of them may show a password.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from pipeline.app import airflow_runner
from pipeline.cli import main
from pipeline.core.redaction import redact_env_value, redact_url, scrub
from pipeline.core.settings import BUNDLED_CONFIG, Settings

PASSWORD = "Pa55-w0rd-CT-x9"
BROKER_PASSWORD = "redis-Secret-77"
FERNET = "fernet-key-ABCDEFGHIJKLMNOP"
WEBHOOK_TOKEN = "T000-B000-hookTOKEN123"
DB_URL = f"postgresql+psycopg2://ct:{PASSWORD}@127.0.0.1:5432/ct"
SECRETS = (PASSWORD, BROKER_PASSWORD, FERNET, WEBHOOK_TOKEN)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    home = tmp_path / "ct_home"
    home.mkdir()
    for name, value in {
        "CT_HOME": str(home),
        "CT_CONFIG": str(BUNDLED_CONFIG),
        "CT_DATABASE_URL": DB_URL,
        "CT_DATA_URL": home.as_uri(),
        "CT_ALERT_WEBHOOK_URL": f"https://hooks.example.com/services/{WEBHOOK_TOKEN}",
        "AIRFLOW__CELERY__BROKER_URL": f"redis://:{BROKER_PASSWORD}@redis:6379/0",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://airflow:{PASSWORD}@db/airflow",
        "AIRFLOW__CORE__FERNET_KEY": FERNET,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(airflow_runner, "ensure_airflow_db", lambda env: None)  # no `airflow db migrate` here
    return home


def _shown(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


def test_ct_airflow_prints_the_environment_without_a_secret(env: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["airflow"]) == 0
    out, err = capsys.readouterr()
    assert not _shown(out + err), f"secrets on screen: {_shown(out + err)}"
    lines = {line.split("=", 1)[0].removeprefix("export "): line for line in out.splitlines()}
    # still usable with eval "$(ct airflow)": the secret variables are re-exported by reference
    assert lines["CT_DATABASE_URL"].startswith('export CT_DATABASE_URL="${CT_DATABASE_URL}"')
    assert "postgresql+psycopg2://ct:***@127.0.0.1:5432/ct" in lines["CT_DATABASE_URL"]
    assert "redis://:***@redis:6379/0" in lines["AIRFLOW__CELERY__BROKER_URL"]
    assert lines["CT_HOME"] == f"export CT_HOME={env}"


def test_ct_demo_names_the_database_without_its_password(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import pipeline.app.local_runner

    class Stop(Exception):
        pass

    def first_run(settings: Settings, echo, **_kw):
        raise Stop

    monkeypatch.setattr(pipeline.app.local_runner, "run_landing", first_run)
    with pytest.raises(Stop):
        main(["demo"])
    out, err = capsys.readouterr()
    # the demo keeps to its own home and SQLite store: the user's database is not even named
    assert "(metadata sqlite:///" in out and "postgresql" not in out
    assert not _shown(out + err)


def test_dag_run_progress_lines_and_saved_log_are_scrubbed(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task that logs a connection string (a driver error, a debug line) shows no password."""
    fake = tmp_path / "airflow"
    fake.write_text(
        "#!/bin/sh\n"
        f"echo 'CT> ingest: connecting to {DB_URL}'\n"
        f"echo 'CT! could not reach redis://:{BROKER_PASSWORD}@redis:6379/0 with key {FERNET}'\n"
        f"echo 'posting to https://hooks.example.com/services/{WEBHOOK_TOKEN}'\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(airflow_runner, "airflow_binary", lambda: str(fake))
    from pipeline.core.settings import load_settings

    echoed: list[str] = []
    result = airflow_runner.run_dag(load_settings(), "ct_ingest", echo=echoed.append)
    saved = result.log_path.read_text()
    assert echoed and result.errors and "hooks.example.com" in saved
    assert not _shown("\n".join(echoed + result.errors) + saved)


def test_redaction_helpers() -> None:
    assert redact_url(DB_URL) == "postgresql+psycopg2://ct:***@127.0.0.1:5432/ct"
    assert redact_url("sqlite:////abs/path/ct.db") == "sqlite:////abs/path/ct.db"
    assert redact_url("https://h.example/x?token=abc&page=2") == "https://h.example/x?token=***&page=2"
    assert (
        redact_url(f"https://hooks.example.com/services/{WEBHOOK_TOKEN}", keep_path=False)
        == "https://hooks.example.com/…"
    )
    assert redact_env_value("AIRFLOW__API_AUTH__JWT_SECRET", "abc") == "***"
    assert redact_env_value("CT_HOME", "/data") == "/data"
    assert scrub(f"failed: {DB_URL}", []) == "failed: postgresql+psycopg2://ct:***@127.0.0.1:5432/ct"
