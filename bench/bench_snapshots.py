"""Benchmark: snapshot cost of a full ingest, of a 1 % append, and of a full rewrite; peak ingest memory.

Generated data: an id, 20 numeric and 5 categorical columns and a binary label. For CSV and for
Parquet it measures (through the real ingest stage, SQLite metadata, a ``file://`` data root):

* ingest + snapshot of N rows (default 1M): wall time and bytes written under ``snapshots/``;
* append of 1 % new rows as a new file: time and bytes added, and their share of the full snapshot
  (the issue's target: each at most 5 %);
* a full rewrite for comparison: the same N + 1 % rows ingested as one new file into an empty
  store (what re-versioning the whole file costs);
* peak RSS of ingesting a 5M-row CSV in a subprocess (``resource.getrusage(RUSAGE_CHILDREN)``),
  next to the 1M-row figure and an import-only baseline: memory follows ``chunk_rows``, not the file.

Generated files live under ``--workdir`` (default ``/tmp/ct-bench-snapshots``). Run:

    .venv/bin/python -m bench.bench_snapshots            # the full run recorded in docs/snapshots.md
    .venv/bin/python -m bench.bench_snapshots --rows 100000 --memory-rows 500000   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

PROJECT_ROOT = Path(__file__).resolve().parent.parent
N_NUMERIC, N_CATEGORICAL = 20, 5
LEVELS = [[f"c{j}_level{k}" for k in range(3 + j)] for j in range(N_CATEGORICAL)]


def bench_config(chunk_rows: int | None = None) -> dict[str, Any]:
    """A pipeline config for the generated table (validated by the caller through ``parse_config``)."""
    ingest: dict[str, Any] = {"stable_seconds": 0, "max_bad_row_fraction": 0.2}
    if chunk_rows:
        ingest["chunk_rows"] = chunk_rows
    return {
        "dataset": {
            "name": "bench",
            "label": "y",
            "classes": ["no", "yes"],
            "positive_class": "yes",
            "id_columns": ["row_id"],
            "features": {
                "numeric": [{"name": f"x{i:02d}"} for i in range(N_NUMERIC)],
                "categorical": [{"name": f"cat{j}", "levels": LEVELS[j]} for j in range(N_CATEGORICAL)],
            },
        },
        "ingest": ingest,
        "model": {"name": "bench-model", "specs": {"default": {"estimator": "logistic_regression"}}},
    }


def generate_table(rows: int, seed: int, first_id: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    cols: dict[str, Any] = {"row_id": pa.array([f"R{i:09d}" for i in range(first_id, first_id + rows)])}
    for i in range(N_NUMERIC):
        cols[f"x{i:02d}"] = np.round(rng.normal(100.0 * (i + 1), 10.0 * (i + 1), rows), 3)
    for j in range(N_CATEGORICAL):
        cols[f"cat{j}"] = pa.array(np.asarray(LEVELS[j])[rng.integers(0, len(LEVELS[j]), rows)])
    cols["y"] = pa.array(np.where(rng.random(rows) < 0.5, "no", "yes"))
    return pa.table(cols)


def write_file(path: Path, rows: int, seed: int, first_id: int = 0, block: int = 500_000) -> Path:
    """Write ``rows`` generated rows as CSV or Parquet, block by block (bounded memory)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer: Any = None
    try:
        for start in range(0, rows, block):
            table = generate_table(min(block, rows - start), seed + start, first_id + start)
            if writer is None:
                writer = (
                    pq.ParquetWriter(path, table.schema, compression="snappy")
                    if path.suffix == ".parquet"
                    else pacsv.CSVWriter(path, table.schema)
                )
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    return path


def _workspace(home: Path, chunk_rows: int | None = None) -> Any:
    from pipeline.app.workspace import Workspace
    from pipeline.core.config import parse_config
    from pipeline.core.settings import BUNDLED_CONFIG, Settings

    settings = Settings(
        home=home, config_path=BUNDLED_CONFIG, database_url=f"sqlite:///{home / 'ct.db'}", data_url=home.as_uri()
    )
    ws = Workspace(settings=settings, config=parse_config(bench_config(chunk_rows), "bench_config"))
    ws.meta.list_snapshots()  # open and create the metadata DB before anything is timed
    return ws


def _snapshot_bytes(ws: Any) -> int:
    return sum(ws.store.size(k) for k in ws.store.list("snapshots"))


def _ingest(ws: Any, files: list[Path]) -> dict[str, Any]:
    """Move ``files`` into the landing area and time one ingest; bytes added under ``snapshots/``."""
    from pipeline.app.stages import ingest_landing

    ws.settings.landing.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copy(f, ws.settings.landing / f.name)  # copying is set-up, not timed
    before = _snapshot_bytes(ws)
    start = time.perf_counter()
    out = ingest_landing(ws)
    seconds = time.perf_counter() - start
    assert out.created and not out.quarantined, out
    return {
        "seconds": seconds,
        "bytes": _snapshot_bytes(ws) - before,
        "rows": out.rows,
        "new_rows": out.new_rows,
        "snapshot_id": out.snapshot_id,
    }


def run_format(fmt: str, rows: int, append_share: float, workdir: Path) -> list[dict[str, Any]]:
    """Full ingest, 1 % append and full rewrite for one input format."""
    extra = max(1, int(rows * append_share))
    data = workdir / "data"
    base = write_file(data / f"base_{rows}.{fmt}", rows, seed=1)
    delta = write_file(data / f"append_{extra}.{fmt}", extra, seed=10_000_019, first_id=rows)
    rewrite = data / f"rewrite_{rows + extra}.{fmt}"
    if not rewrite.exists():
        if fmt == "parquet":
            pq.write_table(pa.concat_tables([pq.read_table(base), pq.read_table(delta)]), rewrite, compression="snappy")
        else:
            with open(rewrite, "wb") as out:
                out.write(base.read_bytes())
                out.write(delta.read_bytes().split(b"\n", 1)[1])  # the rows, without a second header

    home = workdir / f"home_{fmt}"
    shutil.rmtree(home, ignore_errors=True)
    ws = _workspace(home)
    full = _ingest(ws, [base])
    appended = _ingest(ws, [delta])
    home_rw = workdir / f"home_{fmt}_rewrite"
    shutil.rmtree(home_rw, ignore_errors=True)
    rewritten = _ingest(_workspace(home_rw), [rewrite])
    size = {"full": base.stat().st_size, "append": delta.stat().st_size, "rewrite": rewrite.stat().st_size}
    return [
        {"format": fmt, "case": f"ingest + snapshot, {rows:,} rows", "file_bytes": size["full"], **full},
        {
            "format": fmt,
            "case": f"append {extra:,} rows ({append_share:.0%})",
            "file_bytes": size["append"],
            **appended,
            "time_share": appended["seconds"] / full["seconds"],
            "bytes_share": appended["bytes"] / full["bytes"],
        },
        {
            "format": fmt,
            "case": f"full rewrite, {rows + extra:,} rows",
            "file_bytes": size["rewrite"],
            **rewritten,
            "time_share": rewritten["seconds"] / full["seconds"],
            "bytes_share": rewritten["bytes"] / full["bytes"],
        },
    ]


def _child(args: argparse.Namespace) -> int:
    """In a subprocess: ingest one file (or only import, for the baseline) and report."""
    import pipeline.app.stages  # noqa: F401  (the baseline pays for the same imports as an ingest)

    ws = _workspace(Path(args.child_home), args.chunk_rows)
    result: dict[str, Any] = {}
    if args.child_file:
        result = _ingest(ws, [Path(args.child_file)])
    result["self_maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(result))
    return 0


# A tiny launcher process runs the ingest child, so RUSAGE_CHILDREN holds exactly that child's peak and
# not the (large, data-generating) benchmark process it would otherwise be forked from.
LAUNCHER = """
import json, resource, subprocess, sys
done = subprocess.run(sys.argv[1:], check=True, capture_output=True, text=True)
print(json.dumps({"child": json.loads(done.stdout.strip().splitlines()[-1]),
                  "children_maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def measure_memory(csv: Path | None, workdir: Path, chunk_rows: int | None) -> dict[str, Any]:
    """Peak RSS of one ingest (or of the imports alone) in a fresh subprocess."""
    home = workdir / f"home_mem_{csv.stem if csv else 'baseline'}_{chunk_rows or 'default'}"
    shutil.rmtree(home, ignore_errors=True)
    cmd = [sys.executable, "-m", "bench.bench_snapshots", "--child-home", str(home)]
    if csv:
        cmd += ["--child-file", str(csv)]
    if chunk_rows:
        cmd += ["--chunk-rows", str(chunk_rows)]
    done = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *cmd], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    shutil.rmtree(home, ignore_errors=True)
    return {**report["child"], "children_maxrss_kb": report["children_maxrss_kb"]}


def _mb(n: float | None) -> str:
    return "—" if n is None else f"{n / 1e6:,.1f} MB"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--append-share", type=float, default=0.01)
    p.add_argument(
        "--memory-rows", type=int, default=5_000_000, help="rows of the CSV for the peak-memory run (0: skip)"
    )
    p.add_argument("--workdir", type=Path, default=Path("/tmp/ct-bench-snapshots"))
    p.add_argument("--chunk-rows", type=int, default=None, help="ingest.chunk_rows (default: the config default)")
    p.add_argument(
        "--small-chunk-rows",
        type=int,
        default=50_000,
        help="a second, smaller chunk size for the big CSV: memory follows the chunk size",
    )
    p.add_argument("--repeat", type=int, default=3, help="runs per case; the fastest is reported")
    p.add_argument("--formats", default="csv,parquet")
    p.add_argument("--child-home", help=argparse.SUPPRESS)
    p.add_argument("--child-file", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child_home:
        return _child(args)
    args.workdir.mkdir(parents=True, exist_ok=True)

    from pipeline.core.config import IngestConfig

    default_chunk = args.chunk_rows or IngestConfig().chunk_rows
    memory: list[tuple[str, dict[str, Any]]] = []
    if args.memory_rows:
        data = args.workdir / "data"
        big = write_file(data / f"memory_{args.memory_rows}.csv", args.memory_rows, seed=7)
        small = write_file(data / f"memory_{args.rows}.csv", args.rows, seed=7)
        for label, csv, chunk in (
            (f"{args.memory_rows:,}-row CSV ({_mb(big.stat().st_size)})", big, default_chunk),
            (f"{args.rows:,}-row CSV ({_mb(small.stat().st_size)})", small, default_chunk),
            (f"{args.memory_rows:,}-row CSV", big, args.small_chunk_rows),
            ("imports only (baseline)", None, default_chunk),
        ):
            memory.append((f"{label}, chunk_rows={chunk:,}", measure_memory(csv, args.workdir, chunk)))

    # Each case is run --repeat times from scratch; the fastest run is reported (the machine is shared).
    runs = [
        [r for fmt in args.formats.split(",") for r in run_format(fmt, args.rows, args.append_share, args.workdir)]
        for _ in range(args.repeat)
    ]
    results = []
    for cases in zip(*runs):
        best = min(cases, key=lambda r: r["seconds"])
        full = (
            next(r for r in results[::-1] if r["format"] == best["format"] and "time_share" not in r)
            if "time_share" in best
            else None
        )
        if full is not None:
            best = {
                **best,
                "time_share": best["seconds"] / full["seconds"],
                "bytes_share": best["bytes"] / full["bytes"],
            }
        results.append({**best, "all_seconds": [round(r["seconds"], 2) for r in cases]})

    print(
        f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}; "
        f"chunk_rows={default_chunk:,}; best of {args.repeat} run(s)"
    )
    print(
        f"{'format':8} {'case':34} {'input file':>12} {'seconds':>8} {'snapshot bytes':>15} {'time vs full':>13} "
        f"{'bytes vs full':>14}  all runs (s)"
    )
    for r in results:
        share = f"{r['time_share']:>13.1%} {r['bytes_share']:>14.2%}" if "time_share" in r else f"{'':>13} {'':>14}"
        print(
            f"{r['format']:8} {r['case']:34} {_mb(r['file_bytes']):>12} {r['seconds']:>8.2f} {_mb(r['bytes']):>15} "
            f"{share}  {r['all_seconds']}"
        )
    if memory:
        print(f"\n{'peak RSS of one ingest in a subprocess':62} {'RUSAGE_CHILDREN':>16} {'seconds':>8}")
        for label, m in memory:
            secs = f"{m['seconds']:.1f}" if "seconds" in m else "—"
            print(f"{label:62} {m['children_maxrss_kb'] / 1024:>12,.0f} MiB {secs:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
