"""Benchmark: wall time of a ct_train candidate search on the native Celery topology, 1 vs 2 workers.

Starts ``scripts/celery_topology.py``'s topology (fresh databases, dropped afterwards), takes one
demo batch in as a snapshot (in process, so no ingest or monitor run competes), then forces
``ct_train`` runs through the REST API (``{"force": true}``), round robin over these worker set-ups:

* 2 workers x 1 slot — the production shape, one slot per core;
* 1 worker  x 1 slot — the same machine after losing a worker;
* 1 worker  x 2 slots — one worker using both cores, to separate "more slots" from "more workers".

For each run it reports the run's wall time, the candidate search's wall time (first start to last
end of the mapped ``train``/``cross_validate`` task instances) and the summed task time of those
mapped tasks. Candidates are single-threaded (``OMP_NUM_THREADS=1``), so a slot is a core.

Run:

    .venv/bin/python -m bench.bench_celery_workers                 # the run recorded in docs/production.md
    .venv/bin/python -m bench.bench_celery_workers --repeats 1     # quicker
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from pipeline.app.demo_data import BatchSpec, generate_batch
from pipeline.core.config import parse_config
from pipeline.core.settings import BUNDLED_CONFIG, Settings
from scripts.celery_topology import CeleryTopology, TopologySettings, free_port

ROOT = Path(__file__).resolve().parent.parent

SHAPES = (
    ("2 workers x 1 slot", {"ct-worker-1": 1, "ct-worker-2": 1}),
    ("1 worker x 1 slot", {"ct-worker-1": 1}),
    ("1 worker x 2 slots", {"ct-worker-1": 2}),
)
NEVER = "0 0 29 2 *"  # 29 February: no scheduled ct_train run competes with the forced ones


def bench_config(path: Path, folds: int) -> Path:
    """The bundled config with four single-threaded candidates and ``folds`` CV folds."""
    data = yaml.safe_load(BUNDLED_CONFIG.read_text(encoding="utf-8"))
    boost = {"max_iter": 300, "max_leaf_nodes": 31, "early_stopping": False}
    data["model"]["specs"].update(
        {
            "boost_slow": {"estimator": "gradient_boosting", "params": {**boost, "learning_rate": 0.05}},
            "boost_fast": {"estimator": "gradient_boosting", "params": {**boost, "learning_rate": 0.1}},
            "forest": {"estimator": "random_forest", "params": {"n_estimators": 150, "n_jobs": 1}},
        }
    )
    data["model"]["candidates"] = ["default", "boost_slow", "boost_fast", "forest"]
    data["evaluation"].update(folds=folds, bootstrap_resamples=200)
    parse_config(data, path)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def take_in_snapshot(topo: CeleryTopology, rows: int) -> str:
    """Land one demo batch and ingest it in this process; returns the snapshot id."""
    from pipeline.app.stages import ingest_landing
    from pipeline.app.workspace import open_workspace

    s = topo.settings
    folder = s.ct_home / "landing" / "batch-1"
    folder.mkdir(parents=True, exist_ok=True)
    generate_batch(BatchSpec(rows=rows, seed=11)).to_csv(folder / "customers.csv", index=False)
    (folder / "_SUCCESS").touch()
    settings = Settings(home=s.ct_home, config_path=s.ct_config, database_url=s.store_url, data_url=s.ct_home.as_uri())
    return ingest_landing(open_workspace(settings)).snapshot_id


def use_workers(topo: CeleryTopology, shape: dict[str, int]) -> None:
    """Stop every worker, then start exactly ``shape`` ({worker: slots})."""
    for name in topo.known_processes():
        if name.startswith("ct-worker-"):
            topo.stop_process(name)
    for name, slots in shape.items():
        topo.start_worker(name, concurrency=slots)


def _ts(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def measure(topo: CeleryTopology, snapshot_id: str, label: str) -> dict[str, Any]:
    client = topo.client
    run_id = client.trigger("ct_train", {"snapshot_id": snapshot_id, "force": True, "reason": f"bench: {label}"})
    state = client.wait_for_run("ct_train", run_id, timeout=1800, interval=2)
    if state != "success":
        raise SystemExit(f"ct_train run {run_id} ended {state}; logs in {topo.log_dir}")
    run = client.dag_run("ct_train", run_id)
    load = os.getloadavg()[0]
    mapped = [ti for ti in client.task_instances("ct_train", run_id) if ti["map_index"] >= 0]
    starts, ends = [_ts(ti["start_date"]) for ti in mapped], [_ts(ti["end_date"]) for ti in mapped]
    return {
        "shape": label,
        "run_id": run_id,
        "mapped_tasks": len(mapped),
        "hosts": sorted({ti["hostname"] for ti in mapped}),
        "run_seconds": _ts(run["end_date"]) - _ts(run["start_date"]),
        "search_seconds": max(ends) - min(starts),
        "task_seconds": sum(e - s for s, e in zip(starts, ends)),
        "load": load,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--folds", type=int, default=3)
    args = parser.parse_args()

    tag = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="ct-bench-celery-") as tmp:
        root = Path(tmp)
        topo = CeleryTopology(
            TopologySettings(
                root=root / "topology",
                ct_home=root / "ct",
                ct_config=bench_config(root / "pipeline.yaml", args.folds),
                airflow_db=f"ct_bench_airflow_{tag}",
                store_db=f"ct_bench_store_{tag}",
                key_prefix=f"ct-bench-{tag}:",
                workers=2,
                concurrency=1,
                api_port=free_port(),
                dags_paused=True,
                env={"CT_TRAIN_CRON": NEVER, "OMP_NUM_THREADS": "1"},
            )
        )
        try:
            started = time.perf_counter()
            topo.up(timeout=600)
            print(f"topology up in {time.perf_counter() - started:.0f}s")
            snapshot_id = take_in_snapshot(topo, args.rows)
            topo.client.set_paused("ct_train", False)
            results = []
            for _ in range(args.repeats):  # round robin, so a change in machine load hits every shape
                for label, shape in SHAPES:
                    use_workers(topo, shape)
                    result = measure(topo, snapshot_id, label)
                    results.append(result)
                    print(
                        f"  {label}: run {result['run_seconds']:.1f}s, search {result['search_seconds']:.1f}s "
                        f"({result['mapped_tasks']} mapped tasks on {', '.join(result['hosts'])}; "
                        f"load average {result['load']:.1f})"
                    )
        finally:
            topo.down()
            topo.drop()

    print(
        f"\nmachine: {os.cpu_count()} cores, {_memory_gib()} GiB, {platform.platform()}, "
        f"Python {platform.python_version()}; {args.rows} rows, 4 candidates x {args.folds} folds, "
        f"median of {args.repeats}"
    )
    medians = {}
    for label, _ in SHAPES:
        rows = [r for r in results if r["shape"] == label]
        medians[label] = {
            key: statistics.median(r[key] for r in rows) for key in ("search_seconds", "run_seconds", "task_seconds")
        }
    one = medians["1 worker x 1 slot"]["search_seconds"]
    print(f"{'workers':22} {'search wall (s)':>16} {'ct_train run (s)':>17} {'task time (s)':>14} {'vs 1 worker':>12}")
    for label, m in medians.items():
        print(
            f"{label:22} {m['search_seconds']:16.1f} {m['run_seconds']:17.1f} {m['task_seconds']:14.1f} "
            f"{one / m['search_seconds']:11.2f}x"
        )


def _memory_gib() -> int:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30)
    except (ValueError, OSError):
        return 0


if __name__ == "__main__":
    main()
