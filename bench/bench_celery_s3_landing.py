"""Landing to champion with a 1M-row first batch on the native Celery topology, data root on S3.

Starts ``scripts/celery_topology.py``'s topology (fresh PostgreSQL databases, Redis broker, two
Celery workers, dropped afterwards) with ``CT_DATA_URL=s3://<bucket>/ct`` on a local S3 server
(moto's standalone server on 127.0.0.1, as the tests use), waits until the DAGs are parsed and
idle, drops a first batch of ``--rows`` demo rows (one CSV and ``_SUCCESS``) into the landing
folder and waits for the champion. The same run with a ``file://`` data root follows (``--roots``),
so the object store's share is the difference between the two totals; Airflow's share is the
total minus the union of the task intervals between landing and promotion (detection,
scheduling, queueing, process start), as in ``bench_landing_to_champion``.

The config is the bundled one (two candidates, five folds, 1,000 bootstrap resamples) with
``model.max_train_rows`` set (``--max-train-rows``): above it the fit samples, as a team with
millions of rows would configure it.

    .venv/bin/python -m bench.bench_celery_s3_landing                  # 1M rows, s3 then file
    .venv/bin/python -m bench.bench_celery_s3_landing --rows 100000    # quicker

Prints a table; record it in docs/measurements.md with the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from pipeline.app.demo_data import BatchSpec, generate_batch
from pipeline.core.config import parse_config
from pipeline.core.settings import BUNDLED_CONFIG
from pipeline.registry.sql import SqlMetadataStore
from scripts.airflow_rest import parse_time, union_length, wait_for
from scripts.celery_topology import CeleryTopology, TopologySettings, free_port

DAGS = ("ct_ingest", "ct_monitor", "ct_train")
MODEL = "churn-classifier"


def bench_config(path: Path, max_train_rows: int) -> Path:
    """The bundled config with ``model.max_train_rows`` set."""
    data = yaml.safe_load(BUNDLED_CONFIG.read_text(encoding="utf-8"))
    data["model"]["max_train_rows"] = max_train_rows
    parse_config(data, path)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@contextmanager
def s3_root(workdir: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A fresh bucket on a local moto server: the data URL and the environment that reaches it."""
    from tests.s3_server import start_moto_server

    proc, server = start_moto_server(workdir / "moto.log")
    try:
        yield f"s3://{server.new_bucket()}/ct", server.env()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _promoted_at(store_url: str) -> float | None:
    try:
        store = SqlMetadataStore(store_url)
        try:
            history = store.promotion_history(MODEL)
        finally:
            store.dispose()
    except Exception:  # the first ingest is creating the schema right now
        return None
    return parse_time(history[-1].created_at) if history else None


def _idle(topo: CeleryTopology) -> bool:
    client = topo.client
    if not set(DAGS) <= client.dag_ids():
        return False
    return all(not any(r["state"] in ("queued", "running") for r in client.dag_runs(d)) for d in DAGS[1:])


def one_run(workdir: Path, rows: int, max_train_rows: int, data_url: str | None, env: dict[str, str]) -> dict[str, Any]:
    """One topology, one landing, one champion; the timings."""
    tag = uuid.uuid4().hex[:8]
    ct_home = workdir / "ct"
    topo = CeleryTopology(
        TopologySettings(
            root=workdir / "topology",
            ct_home=ct_home,
            ct_config=bench_config(workdir / "pipeline.yaml", max_train_rows),
            airflow_db=f"ct_bench_airflow_{tag}",
            store_db=f"ct_bench_store_{tag}",
            key_prefix=f"ct-bench-{tag}:",
            workers=2,
            concurrency=1,
            api_port=free_port(),
            airflow_config={"dag_processor.refresh_interval": "5"},
            env={
                "CT_INGEST_CRON": "* * * * *",
                "CT_LANDING_POKE_SECONDS": "5",
                **({"CT_DATA_URL": data_url} if data_url else {}),
                **env,
            },
        )
    )
    batch = generate_batch(BatchSpec(rows=rows, seed=11))
    staged = workdir / "customers.csv"
    batch.to_csv(staged, index=False)
    try:
        topo.up(timeout=600)
        wait_for(lambda: _idle(topo), 300, interval=2, what="Airflow to parse the DAGs and settle")
        time.sleep(5)
        folder = ct_home / "landing" / "batch-001"
        folder.mkdir(parents=True)
        os.replace(staged, folder / "customers.csv")
        (folder / "_SUCCESS").touch()
        landed = time.time()
        promoted = wait_for(lambda: _promoted_at(topo.settings.store_url), 1800, interval=1, what="a champion")
        time.sleep(3)  # the promote task's end time reaches the API
        tasks = topo.client.task_intervals(DAGS, landed, promoted)
        per_task: dict[str, float] = defaultdict(float)
        for name, a, b in tasks:
            per_task[name] += b - a
        total = promoted - landed
        work = union_length([(a, b) for _t, a, b in tasks])
        return {
            "total": total,
            "work": work,
            "airflow": total - work,
            "per_task": dict(per_task),
            "load": os.getloadavg(),
        }
    finally:
        topo.down()
        topo.drop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--max-train-rows", type=int, default=200_000)
    parser.add_argument("--roots", default="s3,file", help="comma-separated: s3, file")
    args = parser.parse_args()

    results: dict[str, dict[str, Any]] = {}
    for root in args.roots.split(","):
        with tempfile.TemporaryDirectory(prefix=f"ct-bench-l2c-{root}-") as tmp:
            workdir = Path(tmp)
            if root == "s3":
                with s3_root(workdir) as (url, env):
                    results[root] = one_run(workdir, args.rows, args.max_train_rows, url, env)
            else:
                results[root] = one_run(workdir, args.rows, args.max_train_rows, None, {})
        r = results[root]
        print(f"{root}: total {r['total']:.1f} s, task work {r['work']:.1f} s, load {r['load'][0]:.2f}", flush=True)

    print(
        f"\nlanding -> champion on the native Celery topology (2 workers x 1 slot), first batch of {args.rows} "
        f"rows, bundled config with model.max_train_rows={args.max_train_rows}; {os.cpu_count()} cores"
    )
    print("| data root | landing → champion | task work | Airflow overhead | load (1/5/15 min) |")
    print("|---|---|---|---|---|")
    for root, r in results.items():
        load = "/".join(f"{x:.2f}" for x in r["load"])
        share = 100 * r["airflow"] / r["total"]
        print(f"| {root} | {r['total']:.1f} s | {r['work']:.1f} s | {r['airflow']:.1f} s ({share:.0f}%) | {load} |")
    if {"s3", "file"} <= results.keys():
        io = results["s3"]["total"] - results["file"]["total"]
        print(f"\nobject-store share (s3 total - file total): {io:.1f} s ({100 * io / results['s3']['total']:.0f}%)")
    for root, r in results.items():
        slowest = sorted(r["per_task"].items(), key=lambda kv: -kv[1])[:8]
        print(f"\nslowest tasks ({root}):")
        for name, seconds in slowest:
            print(f"  {name:<40} {seconds:6.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
