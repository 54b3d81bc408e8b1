"""Run one validation the way a fresh Airflow task does and report what it logged.

Run as a script by test_validation_logs.py in a clean subprocess, so great-expectations is
imported for the first time inside the stage (its import is where most of its chatter comes
from, and a test process that imported it earlier would hide that). Ingests one demo batch,
then runs the validate stage with great-expectations as the engine and Data Docs on (every
place great-expectations is used), with the root logger at INFO. Prints one JSON document: the
(logger, level, message) of every record the stage emitted, and what it wrote to stderr.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import sys
from pathlib import Path


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def main(home: Path) -> None:
    from pipeline.app import stages
    from pipeline.app.demo_data import BatchSpec, generate_batch
    from pipeline.app.workspace import Workspace
    from pipeline.core.config import load_config
    from pipeline.core.settings import BUNDLED_CONFIG, Settings

    assert "great_expectations" not in sys.modules, "the probe must import great-expectations inside the stage"
    settings = Settings(
        home=home, config_path=BUNDLED_CONFIG, database_url=f"sqlite:///{home / 'ct.db'}", data_url=home.as_uri()
    )
    config = load_config(BUNDLED_CONFIG)
    expectations = config.validation.expectations.model_copy(
        update={"engine": "great_expectations", "data_docs": "always"}
    )
    config = config.model_copy(
        update={
            "ingest": config.ingest.model_copy(update={"stable_seconds": 0}),
            "validation": config.validation.model_copy(update={"expectations": expectations}),
        }
    )
    ws = Workspace(settings=settings, config=config)
    settings.landing.mkdir(parents=True, exist_ok=True)
    generate_batch(BatchSpec(rows=400, seed=11, first_id=0)).to_csv(settings.landing / "first.csv", index=False)
    snapshot = stages.ingest_landing(ws).snapshot_id

    keep = _Keep()
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    root.addHandler(keep)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        result = stages.validate_snapshot(ws, snapshot)
    root.removeHandler(keep)
    print(
        json.dumps(
            {
                "passed": result.passed,
                "stderr": err.getvalue(),
                "records": [[r.name, r.levelname, r.getMessage()[:300]] for r in keep.records],
            }
        )
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
