"""Benchmark: registry operations on SQLite and PostgreSQL, concurrent registration, artifact verification.

For each database (a SQLite file; PostgreSQL in a fresh schema dropped afterwards) it measures:

* ``register_model`` one at a time (each derives its semver from the previous version);
* ``list_model_versions`` of every version (aliases and tags are read in one query each), then
  with an alias or a tag filter (SQL) and a metric condition plus sort (Python);
* ``set_alias`` (promotion) and ``rollback_alias``, each one transaction with a ledger row;
* ``--procs`` processes (default 32) registering at once behind a barrier: wall time from the
  barrier to the last commit, and whether the versions came out distinct and consecutive;
* ``ArtifactStore.verify`` on a ``--artifact-mb`` file (default 200): MB/s of SHA-256 in chunks.

Run:

    .venv/bin/python -m bench.bench_registry                  # the run recorded in docs/registry.md
    .venv/bin/python -m bench.bench_registry --versions 100 --procs 8 --artifact-mb 20   # quick
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from pipeline.core.storage import ObjectStore
from pipeline.registry.artifacts import ArtifactStore
from pipeline.registry.base import CHAMPION, NewModelVersion
from pipeline.registry.search import filter_versions, parse_condition, sort_versions
from pipeline.registry.sql import SqlMetadataStore

DEFAULT_PG = os.environ.get("CT_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
SCHEMA = [["id", "string"]] + [[f"x{i}", "double"] for i in range(20)] + [["y", "string"]]


def _new(i: int, name: str = "bench") -> NewModelVersion:
    value = 0.7 + (i % 100) / 500
    metrics = {m: {"value": value, "lower": value - 0.02, "upper": value + 0.02} for m in ("roc_auc", "f1", "log_loss")}
    return NewModelVersion(
        name=name,
        snapshot_id=f"{i:016x}",
        config_hash="cfg",
        spec_name="default",
        params={"C": 1.0},
        metrics=metrics,
        evaluation={"holdout": metrics, "holdout_rows": 1000},
        artifact_uri=f"artifacts/{i}.joblib",
        artifact_sha256="ab" * 32,
        validation_id=None,
        trigger={"kind": "bench", "run_id": f"run-{i}"},
        code_version="bench",
        lineage={},
        feature_schema=SCHEMA,
        environment={"python": platform.python_version()},
    )


def _ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.2f}"


def _timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def _pg_url(base: str) -> tuple[str, Callable[[], None]] | None:
    try:
        admin = sa.create_engine(base, connect_args={"connect_timeout": 3})
        schema = f"ct_bench_{uuid.uuid4().hex[:8]}"
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except Exception as err:  # no server: skip its rows
        print(f"(PostgreSQL rows skipped: {type(err).__name__})")
        return None

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()

    url = sa.engine.make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False), drop


def bench_operations(url: str, n: int) -> dict[str, str]:
    store = SqlMetadataStore(url)
    try:
        register = []
        for i in range(n):
            start = time.perf_counter()
            store.register_model(_new(i))
            register.append(time.perf_counter() - start)
        for i in range(0, n, 10):
            store.set_tag("bench", i + 1, "team", "risk")
        store.set_alias("bench", CHAMPION, 1, "first", {}, "bench")
        promote = []
        for v in range(2, 22):
            start = time.perf_counter()
            store.set_alias("bench", CHAMPION, v, "bench", {}, "bench")
            promote.append(time.perf_counter() - start)
        rollback = _timed(lambda: store.rollback_alias("bench", CHAMPION, "bench", "bench"), 10)
        cond = [parse_condition("roc_auc>=0.8")]
        return {
            "register (ms)": _ms(register),
            f"list all {n} (ms)": _ms(_timed(lambda: store.list_model_versions("bench"), 5)),
            "list --alias (ms)": _ms(_timed(lambda: store.list_model_versions("bench", alias=CHAMPION), 5)),
            "list --tag (ms)": _ms(_timed(lambda: store.list_model_versions("bench", tags={"team": "risk"}), 5)),
            "list --where --sort (ms)": _ms(
                _timed(lambda: sort_versions(filter_versions(store.list_model_versions("bench"), cond), "f1"), 5)
            ),
            "promote (ms)": _ms(promote),
            "rollback (ms)": _ms(rollback),
        }
    finally:
        store.dispose()


def _worker(url: str, barrier: Any, out: Any, i: int) -> None:
    store = SqlMetadataStore(url, create=False)
    barrier.wait(timeout=120)
    mv, _ = store.register_model(_new(i, name="race"))
    out.put((mv.version, time.time()))
    store.dispose()


def bench_concurrent(url: str, procs: int) -> dict[str, str]:
    SqlMetadataStore(url).dispose()
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(procs + 1), ctx.Queue()
    workers = [ctx.Process(target=_worker, args=(url, barrier, out, 10_000 + i)) for i in range(procs)]
    for w in workers:
        w.start()
    barrier.wait(timeout=120)
    start = time.time()
    results = [out.get(timeout=120) for _ in workers]
    for w in workers:
        w.join()
    versions = sorted(v for v, _ in results)
    return {
        f"{procs} at once (s)": f"{max(t for _, t in results) - start:.2f}",
        "distinct consecutive": str(versions == list(range(1, procs + 1))),
    }


def bench_verify(mb: int) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        store = ObjectStore(Path(tmp).as_uri())
        data = os.urandom(mb * 1024 * 1024)
        store.put("artifacts/big.joblib", data)
        sha = hashlib.sha256(data).hexdigest()
        del data
        seconds = _timed(lambda: ArtifactStore(store).verify("artifacts/big.joblib", sha), 3)
    return f"{mb / statistics.median(seconds):.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=500)
    parser.add_argument("--procs", type=int, default=32)
    parser.add_argument("--artifact-mb", type=int, default=200)
    parser.add_argument("--postgres-url", default=DEFAULT_PG)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform(terse=True)}")

    rows: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        rows["SQLite"] = bench_operations(f"sqlite:///{tmp}/ops.db", args.versions)
        rows["SQLite"].update(bench_concurrent(f"sqlite:///{tmp}/race.db", args.procs))
    pg = _pg_url(args.postgres_url)
    if pg:
        url, drop = pg
        try:
            rows["PostgreSQL"] = bench_operations(url, args.versions)
            rows["PostgreSQL"].update(bench_concurrent(url, args.procs))
        finally:
            drop()
    keys = list(next(iter(rows.values())))
    width = max(len(k) for k in keys)
    print(f"{'operation':<{width}}  " + "  ".join(f"{db:>10}" for db in rows))
    for key in keys:
        print(f"{key:<{width}}  " + "  ".join(f"{rows[db].get(key, '—'):>10}" for db in rows))
    print(f"verify {args.artifact_mb} MB artifact: {bench_verify(args.artifact_mb)} MB/s (SHA-256, 1 MiB chunks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
