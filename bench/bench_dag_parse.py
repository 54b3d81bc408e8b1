"""Benchmark: how long each DAG file (and plugin module) takes to import once Airflow is loaded.

A dag-processor pays for Airflow once and then re-parses the DAG files every
``dag_file_processor`` interval, so the number that matters per file is its own cost on top of
Airflow's.  Each repetition is a fresh process running tests/integration/dag_import_timer.py
(the probe the parse-budget test uses, with database and network connections forbidden), which
loads Airflow (``airflow.sdk``, its lazily exported names and a one-task reference DAG), then for
each file:

* **cold** — the module cache emptied of everything loaded after Airflow, then the file imported:
  the file plus what it pulls in (``ct_airflow``, the YAML schedules);
* **warm** — only the file dropped and imported again: building the DAG with its imports loaded.

The table shows the best and the median over the repetitions (best of 5 warm re-imports in each).

Run:

    .venv/bin/python -m bench.bench_dag_parse              # the run recorded in docs/measurements.md
    .venv/bin/python -m bench.bench_dag_parse --repeats 3  # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMER = ROOT / "tests" / "integration" / "dag_import_timer.py"
BUDGET_SECONDS = 0.5


def run_once(home: Path, warm: int) -> dict:
    """One fresh process of the timer probe; its JSON report."""
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PYTHONPATH": str(ROOT / "plugins"),
        "CT_HOME": str(home / "ct_home-not-used"),
        "CT_DATABASE_URL": "postgresql+psycopg2://nobody@192.0.2.1/none",
    }
    out = subprocess.run(
        [
            sys.executable,
            str(TIMER),
            "--dags",
            str(ROOT / "dags"),
            "--plugins",
            str(ROOT / "plugins"),
            "--warm",
            str(warm),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if out.returncode != 0:
        sys.exit(f"the timer probe failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A Markdown table, columns padded for the terminal."""
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"

    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def _memory_gib() -> str:
    try:
        kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        return f"{kb / 2**20:.0f}"
    except (OSError, StopIteration):
        return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description="Per-file DAG parse times (cold, warm) once Airflow is loaded.")
    parser.add_argument("--repeats", type=int, default=5, help="fresh processes (default 5)")
    parser.add_argument("--warm", type=int, default=5, help="warm re-imports per file and process (default 5)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ct-bench-parse-") as tmp:
        reports = [run_once(Path(tmp), args.warm) for _ in range(args.repeats)]
    rows, touched = [], sorted({t for r in reports for t in r["touched"]})
    for target in reports[0]["targets"]:
        entries = [r["targets"][target] for r in reports]
        errors = [e["error"] for e in entries if e["error"]]
        name = f"dags/{Path(target).name}" if target.endswith(".py") else f"plugins: {target}"
        if errors:
            rows.append([name, "error", "", "", "", errors[0].strip().splitlines()[-1][:60]])
            continue
        cold = [e["cold"] * 1000 for e in entries]
        warm = [e["warm"] * 1000 for e in entries]
        heavy = sorted({m for e in entries for m in e["heavy"]})
        rows.append(
            [
                name,
                f"{min(cold):.1f}",
                f"{statistics.median(cold):.1f}",
                f"{min(warm):.1f}",
                f"{statistics.median(warm):.1f}",
                ", ".join(heavy) or "none",
            ]
        )
    airflow = [r["airflow_seconds"] for r in reports]
    print(
        f"machine: {os.cpu_count()} cores, {_memory_gib()} GiB, {platform.platform(terse=True)}, "
        f"Python {platform.python_version()}; {args.repeats} fresh processes, best of {args.warm} warm imports each"
    )
    print(
        f"Airflow's fixed cost per process (airflow.sdk + exports + a reference DAG): best {min(airflow):.2f} s, "
        f"median {statistics.median(airflow):.2f} s\n"
    )
    print(table(["file", "cold best ms", "cold median ms", "warm best ms", "warm median ms", "heavy imports"], rows))
    print(
        f"\nbudget per DAG file: {BUDGET_SECONDS * 1000:.0f} ms (cold); DB/network touched while parsing: "
        f"{', '.join(touched) or 'nothing'}"
    )


if __name__ == "__main__":
    main()
