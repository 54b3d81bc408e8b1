"""Parse every DAG file the way Airflow's DagBag does, with DB and network access forbidden.

Run as a script by test_dag_integrity.py in a clean subprocess; prints one JSON document.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import sys
import time
from pathlib import Path

touched: list[str] = []


def _forbid(what: str):
    def guard(*args, **kwargs):
        touched.append(what)
        raise RuntimeError(f"{what} while parsing DAG files")

    return guard


socket.socket.connect = _forbid("network connection")  # type: ignore[method-assign]
socket.create_connection = _forbid("network connection")  # type: ignore[assignment]
sqlite3.connect = _forbid("sqlite connection")  # type: ignore[assignment]

t0 = time.perf_counter()
import airflow.sdk  # noqa: E402,F401  (the cost of Airflow itself, measured apart from our files)

airflow_import = time.perf_counter() - t0

import sqlalchemy.engine  # noqa: E402

sqlalchemy.engine.Engine.connect = _forbid("database connection")  # type: ignore[method-assign]

from airflow.dag_processing.dagbag import DagBag  # noqa: E402

dags_folder = Path(sys.argv[1])
report = {"airflow_import_seconds": round(airflow_import, 3), "files": {}}
for path in sorted(dags_folder.glob("*.py")):
    started = time.perf_counter()
    bag = DagBag(dag_folder=str(path), safe_mode=False)
    seconds = time.perf_counter() - started
    report["files"][path.stem] = {
        "seconds": round(seconds, 3),
        "import_errors": {str(k): str(v)[-2000:] for k, v in bag.import_errors.items()},
        "dags": {
            dag_id: {
                "doc_md": bool(dag.doc_md and len(dag.doc_md.strip()) > 80),
                "tags": sorted(dag.tags),
                "retries": [t.retries for t in dag.tasks],
                "params": sorted(dag.params.keys()),
                "tasks": sorted(t.task_id for t in dag.tasks),
            }
            for dag_id, dag in bag.dags.items()
        },
    }
report["touched"] = touched
print(json.dumps(report))
