"""One real Airflow shared by several e2e modules, started on first use, and its first batch.

Used by the ``airflow_loop`` and ``first_batch`` fixtures in tests/e2e/conftest.py (which says when it
is stopped); kept in a module of its own so tests can import from it.

The config is the bundled one plus one model spec, ``FORM_SPEC``, that only the trigger-form test
trains. A model version's identity is (snapshot, training config, spec): a manual run of a spec the
loop or another test already trained on that snapshot returns the existing version, even when forced,
so the form's run gets a spec of its own to be recorded under. Candidates and everything else are
unchanged, so the landing test sees the bundled loop.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from airflow_server import AirflowServer

from pipeline.app.demo_data import BatchSpec, generate_batch
from pipeline.core.settings import BUNDLED_CONFIG

FORM_SPEC = "logistic_regression"


def write_loop_config(path: Path) -> Path:
    """The bundled config plus ``FORM_SPEC`` (not a candidate: only a run that names it trains it)."""
    cfg = yaml.safe_load(BUNDLED_CONFIG.read_text())
    cfg["model"]["specs"][FORM_SPEC] = {"estimator": "logistic_regression", "params": {"C": 0.5, "max_iter": 2000}}
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@dataclass(frozen=True)
class LandedBatch:
    """A complete batch dropped into the landing area: its folder, its rows and when it landed."""

    path: Path
    rows: int
    landed_at: float


class SharedAirflow:
    """Starts one AirflowServer on first use and lands the first batch into it at most once."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._tmp_path_factory = tmp_path_factory
        self.server: AirflowServer | None = None
        self.first_batch: LandedBatch | None = None

    def get(self) -> AirflowServer:
        if self.server is None:
            root = self._tmp_path_factory.mktemp("e2e")
            self.server = AirflowServer(root=root, config_path=write_loop_config(root / "pipeline.yaml")).start()
        return self.server

    def land_first_batch(self) -> LandedBatch:
        if self.first_batch is None:
            batch = self.get().ct_home / "landing" / "batch-1"
            batch.mkdir(parents=True)
            rows = 2000
            generate_batch(BatchSpec(rows=rows, seed=11)).to_csv(batch / "customers.csv", index=False)
            (batch / "_SUCCESS").touch()  # the marker makes the folder complete: the sensor may take it now
            self.first_batch = LandedBatch(path=batch, rows=rows, landed_at=time.time())
        return self.first_batch

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        self.server, self.first_batch = None, None
