"""Landing to champion under a real Airflow, for the demo config: total, task work, Airflow overhead.

Each repetition starts a fresh ``airflow standalone`` (its own Airflow home and CT_HOME, free
ports on 127.0.0.1) on the bundled demo config (two candidates, five folds), waits until the
DAGs are parsed and idle, drops the demo's first batch (two files and a ``_SUCCESS`` marker, as
``ct demo`` does) and waits for the champion. Task work is the union of the task intervals of
ct_ingest, ct_monitor and ct_train between landing and promotion (the landing sensor excluded: it
only waits for the producer); Airflow overhead is the rest (detection, scheduling, queueing,
process start). The slowest tasks are listed so a regression has a name.

    .venv/bin/python -m bench.bench_landing_to_champion [--runs 3]

Prints a table; record it in docs/measurements.md with the machine and its load (``uptime``).
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from pipeline.app.demo_data import DEMO_BATCHES, generate_batch
from pipeline.registry.sql import SqlMetadataStore
from scripts.airflow_rest import parse_time, union_length, wait_for
from tests.e2e.airflow_server import AirflowServer

log = logging.getLogger("bench")
DAGS = ("ct_ingest", "ct_monitor", "ct_train")
MODEL = "churn-classifier"


def _land_first_batch(landing: Path) -> tuple[float, int]:
    """The demo's first batch as ``ct demo`` drops it: a CSV, a Parquet file, then ``_SUCCESS``."""
    frame = generate_batch(DEMO_BATCHES[0])
    folder = landing / "batch-001"
    folder.mkdir(parents=True)
    half = len(frame) // 2
    frame.iloc[:half].to_csv(folder / "customers-1a.csv", index=False)
    frame.iloc[half:].to_parquet(folder / "customers-1b.parquet", index=False)
    (folder / "_SUCCESS").touch()
    return time.time(), len(frame)


def _champion_promoted_at(server: AirflowServer) -> float | None:
    db = server.ct_home / "ct.db"
    if not db.exists():
        return None
    try:
        store = SqlMetadataStore(f"sqlite:///{db}")
        try:
            history = store.promotion_history(MODEL)
        finally:
            store.dispose()
    except Exception:  # the first ingest is creating the schema right now
        return None
    return parse_time(history[-1].created_at) if history else None


def _idle(server: AirflowServer) -> bool:
    """Every DAG parsed and no run of ours queued or running (the startup runs have settled)."""
    if not set(DAGS) <= server.client.dag_ids():
        return False
    return all(not any(r["state"] in ("queued", "running") for r in server.dag_runs(dag_id)) for dag_id in DAGS[1:])


def one_run(workdir: Path) -> dict[str, object]:
    server = AirflowServer(root=workdir).start()
    try:
        wait_for(lambda: _idle(server), 300, interval=2, what="Airflow to parse the DAGs and settle")
        time.sleep(5)
        landed, rows = _land_first_batch(server.ct_home / "landing")
        promoted = wait_for(lambda: _champion_promoted_at(server), 600, interval=1, what="a champion")
        time.sleep(3)  # let the promote task's end time reach the API
        tasks = server.client.task_intervals(DAGS, landed, promoted)
        work = union_length([(a, b) for _t, a, b in tasks])
        per_task: dict[str, float] = defaultdict(float)
        for name, a, b in tasks:
            per_task[name] += b - a
        total = promoted - landed
        return {
            "rows": rows,
            "total": total,
            "work": work,
            "overhead": total - work,
            "tasks": len(tasks),
            "per_task": dict(per_task),
        }
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    results = []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="bench-l2c-") as tmp:
            result = one_run(Path(tmp))
        results.append(result)
        log.info(
            "run %d: total %.1f s, task work %.1f s, overhead %.1f s (%.0f%%), %d task instances",
            i + 1,
            result["total"],
            result["work"],
            result["overhead"],
            100 * float(result["overhead"]) / float(result["total"]),
            result["tasks"],
        )
    med = {k: statistics.median(float(r[k]) for r in results) for k in ("total", "work", "overhead")}
    print(
        f"\nlanding -> champion, demo config (2 candidates x 5 folds), first batch of {results[0]['rows']} rows; "
        f"{args.runs} run(s), load {os.getloadavg()[0]:.2f}"
    )
    print("| | median | runs |\n|---|---|---|")
    for key, label in (("total", "landing → champion"), ("work", "task work"), ("overhead", "Airflow overhead")):
        print(f"| {label} | {med[key]:.1f} s | {', '.join(f'{float(r[key]):.1f}' for r in results)} |")
    print(f"| overhead share | {100 * med['overhead'] / med['total']:.0f}% | |")
    slowest = sorted(results[len(results) // 2]["per_task"].items(), key=lambda kv: -kv[1])[:8]  # type: ignore[union-attr]
    print("\nslowest tasks (summed over map indexes) in the median-ranked run:")
    for name, seconds in slowest:
        print(f"  {name:<40} {seconds:6.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
