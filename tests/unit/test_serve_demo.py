"""``make serve`` (scripts/serve_demo.py): ``ct serve`` on the demo's home, with a token, and a curl that works.

The server itself is tested with ``ct serve``; here: the token a user is told to send is the one
the server gets (the environment's when set, else one generated once into the demo's home, private
and reused), the server is pointed at the demo's registry and never at the user's, and a home with
no demo or no champion is refused with what to run.
"""

from __future__ import annotations

import json
import shlex
import stat
from pathlib import Path

import pytest

from pipeline.app.demo_home import MARKER, demo_settings
from pipeline.app.workspace import open_workspace
from pipeline.core.errors import CTError
from pipeline.registry.base import CHAMPION, NewModelVersion
from scripts.serve_demo import TOKEN_FILE, check_champion, curl_command, demo_token, example_row, serve_environment


def test_token_is_generated_once_into_the_demo_home_and_reused(tmp_path: Path) -> None:
    token, source = demo_token(tmp_path, {})
    path = tmp_path / TOKEN_FILE
    assert source == str(path) and len(token) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert demo_token(tmp_path, {}) == (token, source)
    path.write_text("\n")  # emptied by hand: a new one, never an empty token
    assert demo_token(tmp_path, {})[0] not in ("", token)


def test_token_from_the_environment_wins_and_writes_nothing(tmp_path: Path) -> None:
    assert demo_token(tmp_path, {"CT_SERVE_TOKEN": "from-env"}) == ("from-env", "CT_SERVE_TOKEN")
    assert not (tmp_path / TOKEN_FILE).exists()


def test_server_gets_the_demo_registry_not_the_users(tmp_path: Path) -> None:
    user = {"CT_DATABASE_URL": "postgresql://prod/ct", "CT_DATA_URL": "s3://prod", "CT_HOME": "/srv/ct", "PATH": "/bin"}
    env = serve_environment(tmp_path, "tok", user)
    settings = demo_settings(tmp_path)
    assert env["CT_DATABASE_URL"] == settings.database_url and "prod" not in env["CT_DATABASE_URL"]
    assert (env["CT_DATA_URL"], env["CT_HOME"]) == (settings.data_url, str(tmp_path))
    assert (env["CT_SERVE_TOKEN"], env["PATH"]) == ("tok", "/bin")


def test_curl_sends_the_token_from_where_it_is_kept_and_a_row_of_json(tmp_path: Path) -> None:
    row = example_row()
    assert "churned" not in row and {"customer_id", "tenure_months", "contract"} <= set(row)
    cmd = curl_command("http://127.0.0.1:8080", str(tmp_path / TOKEN_FILE), row)
    words = shlex.split(cmd.replace("\\\n", " "))
    assert words[-1] == "http://127.0.0.1:8080/predict"
    assert json.loads(words[words.index("-d") + 1]) == row
    assert f"Bearer $(cat {tmp_path / TOKEN_FILE})" in cmd
    assert "Bearer $CT_SERVE_TOKEN" in curl_command("http://h:1", "CT_SERVE_TOKEN", row)


def test_a_home_without_demo_or_champion_is_refused_with_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(CTError, match="run `make demo` first"):
        check_champion(tmp_path)
    (tmp_path / MARKER).touch()
    ws = open_workspace(demo_settings(tmp_path))
    model = ws.config.model.name
    with pytest.raises(CTError, match=f"no champion of {model}"):
        check_champion(tmp_path)
    ws.meta.register_model(
        NewModelVersion(
            name=model,
            snapshot_id="s1",
            config_hash="c0",
            spec_name="default",
            params={},
            metrics={},
            evaluation={},
            artifact_uri="artifacts/m.joblib",
            artifact_sha256="ab" * 32,
            validation_id=None,
            trigger={"kind": "manual", "run_id": "r1"},
            code_version="test:0",
        )
    )
    ws.meta.set_alias(model, CHAMPION, 1, "first", {}, "test")
    assert check_champion(tmp_path) == f"{model} v1"
