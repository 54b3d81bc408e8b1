"""``ct demo`` never touches a user's data: it runs in a home of its own, or refuses.

A user's home holds an archived landing file, a registry (``ct.db``) with a snapshot and a model
version, and the snapshot's parts. The demo runs twice through the real ``ct`` entry point; only
its Airflow-driven part (``run_landing``, minutes of ``airflow dags test``) is replaced by an
in-process ingest into the settings it is given, which still writes a snapshot, parts, an archive
and a registry row wherever the demo points it. The refusals run with nothing replaced.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from pipeline.app import stages
from pipeline.app.demo_data import BatchSpec, generate_batch
from pipeline.app.demo_home import MARKER
from pipeline.app.local_runner import RunOutcome
from pipeline.app.workspace import Workspace, open_workspace
from pipeline.cli import main as ct_main
from pipeline.core.config import load_config
from pipeline.core.settings import BUNDLED_CONFIG, Settings, load_settings
from pipeline.registry.base import NewModelVersion

MODEL = "churn-classifier"


def _tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` (the demo's own home left out) with its checksum."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "demo" not in p.relative_to(root).parts
    }


def _fast_ws(settings: Settings) -> Workspace:
    config = load_config(BUNDLED_CONFIG)
    return Workspace(
        settings=settings,
        config=config.model_copy(update={"ingest": config.ingest.model_copy(update={"stable_seconds": 0})}),
    )


@pytest.fixture
def user_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user's CT_HOME with an archived file, a snapshot and a registered model version."""
    home = tmp_path / "ct_home"
    monkeypatch.setenv("CT_HOME", str(home))
    for var in ("CT_CONFIG", "CT_DATABASE_URL", "CT_DATA_URL", "CT_ALERT_WEBHOOK_URL"):
        monkeypatch.delenv(var, raising=False)
    ws = _fast_ws(load_settings())
    batch = ws.settings.landing / "mine"
    batch.mkdir(parents=True)
    generate_batch(BatchSpec(rows=300, seed=8, first_id=900_000)).to_csv(batch / "customers.csv", index=False)
    (batch / "_SUCCESS").touch()
    snapshot_id = stages.ingest_landing(ws).snapshot_id
    key, sha = ws.artifacts.save({"weights": [1]}, MODEL)
    ws.meta.register_model(
        NewModelVersion(
            name=MODEL,
            snapshot_id=snapshot_id,
            config_hash="mine",
            spec_name="default",
            params={},
            metrics={},
            evaluation={},
            artifact_uri=key,
            artifact_sha256=sha,
            validation_id=None,
            trigger={"kind": "manual"},
            code_version="test:0",
            lineage={},
        )
    )
    ws.meta.dispose()
    assert any((home / "archive").rglob("*.csv")) and (home / "ct.db").exists() and (home / "snapshots").is_dir()
    return home


def test_the_users_archive_registry_and_snapshots_survive_two_demo_runs(
    user_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    before = _tree(user_home)
    seen: list[dict[str, Any]] = []

    def in_process_run_landing(settings: Settings, **_: Any) -> RunOutcome:
        # what ct_ingest does, in-process, wherever the demo points it
        ws = _fast_ws(settings)
        out = stages.ingest_landing(ws)
        seen.append({"home": settings.home, "db": settings.database_url, "airflow": os.environ.get("AIRFLOW_HOME")})
        ws.meta.dispose()
        return RunOutcome(status="no_data", snapshot_id=out.snapshot_id)

    monkeypatch.setattr("pipeline.app.local_runner.run_landing", in_process_run_landing)
    monkeypatch.setenv("AIRFLOW_HOME", str(user_home / "airflow"))  # the user's own Airflow

    for _ in range(2):
        assert ct_main(["demo"]) == 0

    demo = user_home / "demo"
    assert _tree(user_home) == before, "nothing of the user's changed"
    assert len(seen) == 6 and {s["home"] for s in seen} == {demo}
    assert {s["db"] for s in seen} == {f"sqlite:///{demo / 'ct.db'}"}
    assert {s["airflow"] for s in seen} == {str(demo / "airflow")}
    assert os.environ["AIRFLOW_HOME"] == str(user_home / "airflow"), "restored after the demo"
    assert (demo / MARKER).exists()
    # the user's registry holds exactly what it held; the demo's holds only the second run's snapshots
    mine = open_workspace(load_settings())
    assert [v.version for v in mine.meta.list_model_versions()] == [1]
    assert len(mine.meta.list_snapshots()) == 1
    theirs = _fast_ws(
        Settings(
            home=demo, config_path=BUNDLED_CONFIG, database_url=f"sqlite:///{demo / 'ct.db'}", data_url=demo.as_uri()
        )
    )
    assert len(theirs.meta.list_snapshots()) == 3, "a fresh run starts from an empty demo home"
    out = capsys.readouterr().out
    from pipeline.app.demo_home import demo_settings
    from pipeline.cli.demo_run import inspect_commands

    hint = inspect_commands(demo_settings(demo))[0]  # run as printed in the test below
    assert f"CT demo in its own directory {demo}" in out and hint in out and hint.startswith(f"CT_HOME={demo} ")


def test_the_demo_refuses_a_home_it_did_not_create_and_names_the_files(
    user_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    before = _tree(user_home)
    other = tmp_path / "projects"
    (other / "notes").mkdir(parents=True)
    (other / "notes" / "todo.txt").write_text("mine")
    (other / "results.csv").write_text("a,b\n1,2\n")

    assert ct_main(["demo", "--home", str(other)]) == 2
    err = capsys.readouterr().err
    assert f"refusing to run the demo in {other}" in err and "notes, results.csv" in err and "--home" in err
    assert (other / "notes" / "todo.txt").read_text() == "mine" and not (other / MARKER).exists()

    assert ct_main(["demo", "--home", str(user_home)]) == 2  # CT_HOME itself: never the demo's
    assert "that is (or contains) your data directory" in capsys.readouterr().err
    assert ct_main(["demo", "--home", str(tmp_path)]) == 2  # nor a directory that contains it
    assert "that is (or contains) your data directory" in capsys.readouterr().err
    assert _tree(user_home) == before


@pytest.mark.parametrize("user_env", ["plain", "own_registry"])
def test_the_inspect_hints_the_demo_prints_work_as_printed(
    user_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, user_env: str
) -> None:
    """Run each printed hint in a shell whose PATH has no ``ct``, against a demo-like home."""
    import subprocess
    import sys

    from pipeline.app.demo_home import demo_settings, prepare_demo_home
    from pipeline.cli.demo_run import inspect_commands

    home = prepare_demo_home(user_home / "demo", user_home, fresh=True)
    demo = _fast_ws(demo_settings(home))
    key, sha = demo.artifacts.save({"weights": [2]}, "demo-model")
    demo.meta.register_model(
        NewModelVersion(
            name=MODEL,
            snapshot_id="feedfacefeedface",
            config_hash="demo-cfg",
            spec_name="default",
            params={"C": 1.0},
            metrics={},
            evaluation={"holdout": {}, "holdout_rows": 0},
            artifact_uri=key,
            artifact_sha256=sha,
            validation_id=None,
            trigger={"kind": "new_data"},
            code_version="test:0",
            lineage={},
        )
    )
    demo.meta.dispose()
    if user_env == "own_registry":  # the user's shell points ct at their own registry and store
        monkeypatch.setenv("CT_DATABASE_URL", f"sqlite:///{user_home / 'ct.db'}")
        monkeypatch.setenv("CT_DATA_URL", user_home.as_uri())
        monkeypatch.setenv("CT_CONFIG", str(BUNDLED_CONFIG))

    commands = inspect_commands(demo_settings(home))

    root = Path(__file__).resolve().parents[2]
    venv_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != venv_bin)
    env = {**os.environ, "PATH": path, "PYTHONPATH": str(root)}
    listing, showing = (
        subprocess.run(["bash", "-c", command], env=env, cwd=root, capture_output=True, text=True, timeout=120)
        for command in commands
    )
    assert listing.returncode == 0, listing.stderr
    assert "feedfacefeedface" in listing.stdout  # the demo's version, not the user's (snapshot of theirs)
    assert showing.returncode == 0, showing.stderr
    assert "demo-cfg" in showing.stdout
