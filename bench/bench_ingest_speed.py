"""Benchmark: a first ingest of a 1M-row CSV next to a plain pyarrow read + Parquet write of the same file.

The issue's target (issue 19): taking a 1M-row CSV (an id, 20 numeric and 5 categorical columns, a
binary label; the data of ``bench/bench_snapshots.py``) into a first snapshot within 4x of what
pyarrow alone needs to read it and write it as Parquet. Each case runs ``--repeat`` times, each time
in a fresh subprocess (started by a tiny launcher, so ``RUSAGE_CHILDREN`` is that process's peak
RSS), in turns so that load on a shared machine hits every case alike; the median is reported.

Cases:

* ``pyarrow read + write``: ``pyarrow.csv.read_csv`` then ``pyarrow.parquet.write_table`` to a file;
* ``ct ingest``: the real ingest stage (``ingest_landing``: find and hash the file, check encoding and
  sizes, parse, coerce, write parts, manifest, SQLite index, archive) into an empty ``file://`` home;
  only the stage is timed, not copying the file into the landing area;
* ``ct ingest (<tree>)`` with ``--compare-tree DIR``: the same with the code of another checkout
  (e.g. ``git archive`` of the commit before a change), for before/after in one run;
* ``dvc add`` when a ``dvc`` executable is given or on PATH: a first ``dvc add`` of the file into a
  fresh ``dvc init --no-scm`` repository (hash and copy into the cache), the issue's comparison.

Run:

    .venv/bin/python -m bench.bench_ingest_speed                       # 1M rows, 3 runs per case
    .venv/bin/python -m bench.bench_ingest_speed --rows 100000 --repeat 1   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.bench_snapshots import LAUNCHER, PROJECT_ROOT, write_file

TARGET_RATIO = 4.0

PYARROW_CHILD = """
import json, resource, sys, time
import pyarrow.csv as pacsv, pyarrow.parquet as pq
start = time.perf_counter()
table = pacsv.read_csv(sys.argv[1])
pq.write_table(table, sys.argv[2])
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "rows": table.num_rows}))
"""

# Runs inside the checkout under test (cwd), so it imports that checkout's pipeline package.
INGEST_CHILD = """
import json, shutil, sys, time
from pathlib import Path
sys.path.insert(0, ".")
from bench.bench_snapshots import _workspace
from pipeline.app.stages import ingest_landing
src, home = Path(sys.argv[1]), Path(sys.argv[2])
ws = _workspace(home)
ws.settings.landing.mkdir(parents=True, exist_ok=True)
shutil.copy(src, ws.settings.landing / src.name)
start = time.perf_counter()
out = ingest_landing(ws)
seconds = time.perf_counter() - start
assert out.created and not out.quarantined and out.rows, out
print(json.dumps({"seconds": seconds, "rows": out.rows}))
"""


def _launch(cmd: list[str], cwd: Path) -> dict[str, Any]:
    """Run ``cmd`` under the launcher; its last stdout line (JSON) plus the peak RSS in MiB."""
    done = subprocess.run([sys.executable, "-c", LAUNCHER, *cmd], capture_output=True, text=True, check=False, cwd=cwd)
    if done.returncode:
        raise SystemExit(f"{cmd[:3]} failed:\n{done.stderr[-3000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return {**report["child"], "rss_mib": report["children_maxrss_kb"] / 1024}


def run_pyarrow(csv: Path, work: Path) -> dict[str, Any]:
    out = work / "pyarrow.parquet"
    try:
        return _launch([sys.executable, "-c", PYARROW_CHILD, str(csv), str(out)], PROJECT_ROOT)
    finally:
        out.unlink(missing_ok=True)


def run_ingest(csv: Path, work: Path, tree: Path) -> dict[str, Any]:
    home = work / "home"
    shutil.rmtree(home, ignore_errors=True)
    try:
        return _launch([sys.executable, "-c", INGEST_CHILD, str(csv), str(home)], tree)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def run_dvc(csv: Path, work: Path, dvc: str) -> dict[str, Any]:
    """A first ``dvc add`` of a copy of the file in a fresh repository (the copy is set-up, not timed)."""
    repo = work / "dvc_repo"
    shutil.rmtree(repo, ignore_errors=True)
    repo.mkdir(parents=True)
    try:
        subprocess.run([dvc, "init", "--no-scm", "-q"], cwd=repo, check=True, capture_output=True)
        shutil.copy(csv, repo / csv.name)
        cmd = [sys.executable, "-c", "import json,subprocess,sys,time;s=time.perf_counter();"
               "subprocess.run(sys.argv[1:],check=True,capture_output=True);"
               "print(json.dumps({'seconds':time.perf_counter()-s}))", dvc, "add", "-q", csv.name]  # fmt: skip
        return _launch(cmd, repo)
    finally:
        shutil.rmtree(repo, ignore_errors=True)


def _load() -> str:
    """The load averages over 1, 5 and 15 minutes (as ``uptime`` prints them)."""
    try:
        return ", ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=3, help="runs per case; the median is reported")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/ct-bench-ingest-speed"))
    p.add_argument("--compare-tree", type=Path, help="another checkout whose ingest to time too (before/after)")
    p.add_argument("--dvc", default=shutil.which("dvc"), help="a dvc executable for the `dvc add` case")
    args = p.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    csv = write_file(args.workdir / "data" / f"base_{args.rows}.csv", args.rows, seed=1)

    cases: dict[str, Any] = {
        "pyarrow read_csv + write_table": lambda: run_pyarrow(csv, args.workdir),
        "ct ingest (this tree)": lambda: run_ingest(csv, args.workdir, PROJECT_ROOT),
    }
    if args.compare_tree:
        tree = args.compare_tree.resolve()
        cases[f"ct ingest ({tree.name})"] = lambda: run_ingest(csv, args.workdir, tree)
    if args.dvc:
        cases["dvc add (first)"] = lambda: run_dvc(csv, args.workdir, args.dvc)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in cases}
    load_before = _load()
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    for _ in range(args.repeat):  # in turns: a burst of load falls on every case
        for name, run in cases.items():
            runs[name].append(run())
    load_after = _load()

    base = statistics.median(r["seconds"] for r in runs["pyarrow read_csv + write_table"])
    print(
        f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}; "
        f"started {started}; load average (1, 5, 15 min) before {load_before}, after {load_after}"
    )
    print(f"input: {csv.name}, {args.rows:,} rows, {csv.stat().st_size / 1e6:,.1f} MB; median of {args.repeat}")
    print(f"{'case':34} {'median s':>9} {'vs pyarrow':>11} {'peak RSS':>11}  all runs (s)")
    for name, rs in runs.items():
        med = statistics.median(r["seconds"] for r in rs)
        rss = max(r["rss_mib"] for r in rs)
        print(f"{name:34} {med:>9.2f} {med / base:>10.2f}x {rss:>7,.0f} MiB  {[round(r['seconds'], 2) for r in rs]}")
    ratio = statistics.median(r["seconds"] for r in runs["ct ingest (this tree)"]) / base
    verdict = "holds" if ratio <= TARGET_RATIO else "MISSED"
    print(f"target: ct ingest within {TARGET_RATIO:.0f}x of pyarrow read + write: {ratio:.2f}x, {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
