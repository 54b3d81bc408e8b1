"""Benchmark one gradient-boosting fit alone and among concurrent fits, with and without the budget.

    .venv/bin/python -m bench.bench_fit_threads [--rows 9600] [--others 1 3 11] [--repeat 3]

One ``HistGradientBoostingClassifier`` fit (the bundled ``gradient_boosting`` spec, 200
iterations) on demo churn data of ``--rows`` rows (the training part of the demo's 12 000 rows),
timed in this process:

* alone, within a 1-thread budget, and alone with default threads (one per CPU);
* while N other processes fit the same model in a loop (mapped tasks on the same worker), every
  process -- this one too -- within the thread budget for N + 1 slots (``pipeline.core.thread_budget``);
* the same with every process at default threads (what the tasks did before the budget).

Wall seconds show what a task waits; CPU seconds what it burns (OpenMP threads that spin while
waiting for a core count here).  The goal of issue 12: a fit among mapped tasks within 1.5x of the
same fit alone in one thread, per CPU second, and in wall time while the tasks fit the cores.
Numbers are recorded in docs/measurements.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def _model_and_data(rows: int):
    from pipeline.app.demo_data import BatchSpec, generate_batch
    from pipeline.core.config import load_config
    from pipeline.core.settings import BUNDLED_CONFIG

    config = load_config(BUNDLED_CONFIG)
    frame = generate_batch(BatchSpec(rows=rows, seed=101))
    return config, frame


def _fit(config, frame, threads: int | None) -> tuple[float, float]:
    """Wall and CPU seconds of one fit; ``threads`` None leaves the libraries at their defaults."""
    from pipeline.modeling.training import fit_model

    spec = config.model_spec("gradient_boosting")
    cpu0, t0 = time.process_time(), time.perf_counter()
    # None: what OpenMP and OpenBLAS do unlimited, one thread per CPU
    fit_model(frame, config.dataset, spec, 42, threads or os.cpu_count())
    return time.perf_counter() - t0, time.process_time() - cpu0


def worker(rows: int, threads: int | None) -> None:
    """Fit in a loop until stopped (one simulated mapped task); says ``ready`` once set up."""
    config, frame = _model_and_data(rows)
    print("ready", flush=True)
    while True:
        _fit(config, frame, threads)


def measure(config, frame, threads: int | None, repeat: int) -> tuple[float, float]:
    """Median wall and CPU seconds over ``repeat`` fits."""
    runs = [_fit(config, frame, threads) for _ in range(repeat)]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def among(others: int, rows: int, threads: int | None, repeat: int, config, frame) -> tuple[float, float]:
    """The fit measured while ``others`` worker processes fit alongside it."""
    arg = "default" if threads is None else str(threads)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.bench_fit_threads", "--worker", arg, "--rows", str(rows)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=PROJECT,
        )
        for _ in range(others)
    ]
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        return measure(config, frame, threads, repeat)
    finally:
        for p in procs:  # only the workers this call started, by their own handles
            p.terminate()
        for p in procs:
            p.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=9600)
    parser.add_argument("--others", type=int, nargs="+", default=[1, 3, 11])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.rows, None if args.worker == "default" else int(args.worker))
        return
    os.environ.pop("CT_THREADS", None)
    from pipeline.core.config import ResourcesConfig
    from pipeline.core.thread_budget import derive_budget

    config, frame = _model_and_data(args.rows)
    _fit(config, frame, 1)  # warm-up: first-call costs are not the fit's
    cpus = os.cpu_count() or 1
    print(
        f"HistGradientBoostingClassifier (200 iterations), {args.rows} demo rows, {cpus} CPUs, "
        f"median of {args.repeat} fits"
    )
    print()
    print("| the fit runs | threads | wall s | x alone 1 thread | CPU s | x alone 1 thread |")
    print("|---|---|---|---|---|---|", flush=True)
    base_wall, base_cpu = measure(config, frame, 1, args.repeat)

    def row(where: str, threads: str, wall: float, cpu: float) -> None:  # printed as measured
        print(
            f"| {where} | {threads} | {wall:.2f} | {wall / base_wall:.1f} | {cpu:.2f} | {cpu / base_cpu:.1f} |",
            flush=True,
        )

    row("alone", "1 (budget for 1 slot per CPU)", base_wall, base_cpu)
    row("alone", f"default ({cpus})", *measure(config, frame, None, args.repeat))
    for n in args.others:
        budget = derive_budget(ResourcesConfig(worker_slots=n + 1), env={})
        row(
            f"with {n} other fit process(es)",
            f"budget {budget.threads} ({cpus} CPUs // {n + 1} slots)",
            *among(n, args.rows, budget.threads, args.repeat, config, frame),
        )
        row(
            f"with {n} other fit process(es)",
            f"default ({cpus}) in every process",
            *among(n, args.rows, None, args.repeat, config, frame),
        )


if __name__ == "__main__":
    main()
