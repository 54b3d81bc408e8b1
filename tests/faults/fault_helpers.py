"""Helpers for the fault tests (imported by them as ``fault_helpers``): a workspace on a chosen metadata
database, and landing files.

Every test here reproduces one fault found by an audit (a race, a kill, a hostile file) and
checks the promise that fixes it: nothing that arrived is lost, and nothing is trusted blindly.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pipeline.app.demo_data import BatchSpec, generate_batch
from pipeline.app.workspace import Workspace
from pipeline.core.config import PipelineConfig, load_config
from pipeline.core.settings import BUNDLED_CONFIG, Settings
from pipeline.data.ingestion import PENDING_DIR


def fault_config(**ingest: object) -> PipelineConfig:
    """The bundled config; files count at once (stable_seconds 0), small chunks, ``ingest`` overrides."""
    config = load_config(BUNDLED_CONFIG)
    return config.model_copy(
        update={"ingest": config.ingest.model_copy(update={"stable_seconds": 0, "chunk_rows": 100, **ingest})}
    )


def make_workspace(home: Path, database_url: str | None = None, **ingest: object) -> Workspace:
    home.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        home=home,
        config_path=BUNDLED_CONFIG,
        database_url=database_url or f"sqlite:///{home / 'ct.db'}",
        data_url=home.as_uri(),
    )
    return Workspace(settings=settings, config=fault_config(**ingest))


def batch(rows: int, seed: int, first_id: int) -> pd.DataFrame:
    return generate_batch(BatchSpec(rows=rows, seed=seed, first_id=first_id))


def reasons(home: Path) -> list[dict]:
    """Every ``.reason.json`` in quarantine (not the pending spools)."""
    return [
        json.loads(p.read_text())
        for p in sorted((home / "quarantine").rglob("*.reason.json"))
        if PENDING_DIR not in p.parts
    ]


def quarantined_names(home: Path) -> list[str]:
    """Files kept in quarantine (their reason files and rejected rows left out)."""
    q = home / "quarantine"
    if not q.exists():
        return []
    return sorted(
        p.name
        for p in q.rglob("*")
        if (p.is_file() or p.is_symlink())
        and PENDING_DIR not in p.parts
        and not p.name.endswith((".reason.json", ".rejected_rows.csv"))
    )


def fake_ingest_only_dags(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``ct run`` without Airflow: ct_ingest is its stage called in-process, other DAGs fail if asked.

    Returns the DAG ids in the order ``ct run`` asked for them.
    """
    import pipeline.app.local_runner as local_run
    from pipeline.app import stages
    from pipeline.app.airflow_runner import DagRunResult
    from pipeline.app.workspace import open_workspace

    ran: list[str] = []

    def run_dag(settings: Settings, dag_id: str, conf: dict | None = None, echo=None) -> DagRunResult:
        ran.append(dag_id)
        if dag_id == "ct_ingest":
            stages.ingest_landing(open_workspace(settings))
            return DagRunResult(dag_id, True, 0.0, settings.home / "ingest.log")
        return DagRunResult(dag_id, False, 0.0, settings.home / f"{dag_id}.log", errors=[f"{dag_id} not run here"])

    monkeypatch.setattr(local_run, "run_dag", run_dag)
    return ran
