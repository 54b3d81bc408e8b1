"""Parse-time budget: every DAG file imports in under 0.5 s, loads none of the data stack, and
touches no database or network.

A dag-processor pays for Airflow once and then parses the DAG files again and again, so that is
what is measured: dag_import_timer.py (in a fresh process, with the DB/network guards of
dag_parse_probe.py) loads Airflow first and times each DAG file and plugin module on its own,
with everything loaded after Airflow dropped from the module cache before each one.  The best of
a few runs counts, so a busy machine does not fail the build; a file that pulls in pandas or
scikit-learn at the top, or opens a connection, fails it whatever the timing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.core.settings import PROJECT_ROOT

DAGS = PROJECT_ROOT / "dags"
PLUGINS = PROJECT_ROOT / "plugins"
TIMER = Path(__file__).with_name("dag_import_timer.py")
BUDGET_SECONDS = 0.5
RUNS = 3
DAG_FILES = sorted(p.stem for p in DAGS.glob("*.py"))


def run_timer(home: Path, dags: Path, runs: int, warm: int = 3) -> dict:
    """Best cold/warm time per target over up to ``runs`` fresh processes; heavy modules, errors, touches.

    Stops after the first run in which every DAG file is within the budget (the usual case, so
    the test stays cheap); only a slow reading is measured again.
    """
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PYTHONPATH": str(PLUGINS),
        # Point the stores somewhere that would fail loudly if a DAG file opened them at parse time.
        "CT_HOME": str(home / "must-not-be-created"),
        "CT_DATABASE_URL": "postgresql+psycopg2://nobody@192.0.2.1/none",
    }
    merged: dict = {"targets": {}, "touched": [], "airflow_seconds": []}
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, str(TIMER), "--dags", str(dags), "--plugins", str(PLUGINS), "--warm", str(warm)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        report = json.loads(out.stdout.strip().splitlines()[-1])
        merged["touched"] += report["touched"]
        merged["airflow_seconds"].append(report["airflow_seconds"])
        for target, entry in report["targets"].items():
            is_dag_file = target.endswith(".py")
            best = merged["targets"].setdefault(
                Path(target).stem if is_dag_file else target, {**entry, "dag_file": is_dag_file}
            )
            for key in ("cold", "warm"):
                if entry[key] is not None and (best[key] is None or entry[key] < best[key]):
                    best[key] = entry[key]
            best["heavy"] = sorted(set(best["heavy"]) | set(entry["heavy"]))
            best["error"] = best["error"] or entry["error"]
        merged["runs"] = merged.get("runs", 0) + 1
        if all((e["cold"] or 0.0) < BUDGET_SECONDS for e in merged["targets"].values() if e["dag_file"]):
            break
    merged["ct_home_created"] = (home / "must-not-be-created").exists()
    return merged


@pytest.fixture(scope="module")
def timings(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return run_timer(tmp_path_factory.mktemp("airflow_home"), DAGS, RUNS)


@pytest.mark.parametrize("stem", DAG_FILES)
def test_dag_file_imports_within_the_budget(timings: dict, stem: str, record_property) -> None:
    entry = timings["targets"][stem]
    assert entry["error"] is None, entry["error"]
    record_property(f"parse_cold_seconds_{stem}", round(entry["cold"], 4))
    assert entry["cold"] < BUDGET_SECONDS, (
        f"dags/{stem}.py takes {entry['cold']:.3f}s to import (best of {timings['runs']} runs) once Airflow is "
        f"loaded; the budget is {BUDGET_SECONDS}s. Move imports and work into the task bodies."
    )


def test_no_dag_file_or_plugin_module_loads_the_data_stack_or_the_domain_package(timings: dict) -> None:
    heavy = {target: entry["heavy"] for target, entry in timings["targets"].items() if entry["heavy"]}
    assert heavy == {}, f"imported at parse time (import them inside the task functions instead): {heavy}"
    assert {"ct_airflow.stage", "ct_airflow.provenance"} <= set(timings["targets"]), "the plugin modules were checked"
    errors = {target: entry["error"] for target, entry in timings["targets"].items() if entry["error"]}
    assert errors == {}


def test_parsing_touches_no_database_network_or_data_dir(timings: dict) -> None:
    assert timings["touched"] == []
    assert timings["ct_home_created"] is False


def test_the_check_catches_a_heavy_import_and_a_connection_at_parse_time(tmp_path: Path) -> None:
    """The guards are not vacuous: a DAG file importing scikit-learn at the top, or opening a
    database at parse time, is reported."""
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "heavy.py").write_text(
        "import sklearn.linear_model  # noqa\nfrom airflow.sdk import dag\n\n\n"
        "@dag(dag_id='heavy', schedule=None)\ndef heavy():\n    pass\n\n\nheavy()\n"
    )
    (dags / "connects.py").write_text("import sqlite3\n\nsqlite3.connect(':memory:')\n")

    report = run_timer(tmp_path / "home", dags, runs=1, warm=1)

    assert {"sklearn", "numpy"} <= set(report["targets"]["heavy"]["heavy"])
    assert report["targets"]["heavy"]["error"] is None
    assert "sqlite connection while parsing DAG files" in report["targets"]["connects"]["error"]
    assert report["touched"] == ["sqlite connection"]
