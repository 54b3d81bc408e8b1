"""Parse every DAG file the way Airflow's DagBag does, with DB and network access forbidden.

Run as a script by test_dag_integrity.py in a clean subprocess; prints one JSON document.
:func:`forbid_network_and_sqlite` and :func:`forbid_database` are also used by
dag_import_timer.py (the parse-time budget), so both probes guard the same way.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import sys
import time
from pathlib import Path

touched: list[str] = []
"""What a guarded call tried while parsing (``network connection``, ``sqlite connection``, ...)."""


def _forbid(what: str):
    def guard(*args, **kwargs):
        touched.append(what)
        raise RuntimeError(f"{what} while parsing DAG files")

    return guard


def forbid_network_and_sqlite() -> None:
    """Make every socket connect and every sqlite3 connect fail (and be recorded in ``touched``)."""
    socket.socket.connect = _forbid("network connection")  # type: ignore[method-assign]
    socket.create_connection = _forbid("network connection")  # type: ignore[assignment]
    sqlite3.connect = _forbid("sqlite connection")  # type: ignore[assignment]


def forbid_database() -> None:
    """Make every SQLAlchemy engine connect fail (call once sqlalchemy is imported, e.g. by Airflow)."""
    import sqlalchemy.engine

    sqlalchemy.engine.Engine.connect = _forbid("database connection")  # type: ignore[method-assign]


def main(dags_folder: Path) -> dict:
    forbid_network_and_sqlite()
    t0 = time.perf_counter()
    import airflow.sdk  # noqa: F401  (the cost of Airflow itself, measured apart from our files)

    airflow_import = time.perf_counter() - t0
    forbid_database()

    from airflow.dag_processing.dagbag import DagBag

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
                    "edges": sorted([up, t.task_id] for t in dag.tasks for up in t.upstream_task_ids),
                }
                for dag_id, dag in bag.dags.items()
            },
        }
    report["touched"] = touched
    return report


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
