"""Benchmark where cross-validation should run: inside the evaluate task, or one process per fold.

    .venv/bin/python -m bench.bench_cv_placement [--rows 1000 4000 16000 64000] [--slots 2] [--folds 5]

Sets the default of ``resources.cv_in_process_max_rows``.  For each snapshot size (demo churn
data, the bundled candidates: logistic regression and gradient boosting with 200 iterations):

* **in process** -- ``cross_validate_in_process`` (what the evaluate task does for a small search):
  every candidate x fold fitted one after the other in this process, within a 1-thread budget;
* **fold processes** -- every candidate x fold as ``cross_validate_fold`` in a fresh Python
  process (what a mapped ``cross_validate`` task runs, minus Airflow's own per-task cost),
  ``--slots`` at a time, each within the thread budget for that many slots.

It also measures what a fresh process costs before it fits anything (Python plus the imports of
pandas, scikit-learn and the pipeline), wall and CPU.  Fold scores are deleted between runs, so
nothing is read back.  Numbers are recorded in docs/measurements.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent

IMPORTS = (
    "import pandas, sklearn.ensemble, sklearn.linear_model; import pipeline.app.stages.folds, pipeline.app.workspace"
)
FOLD_TASK = """
import json, sys
from pipeline.app.stages.folds import cross_validate_fold
from pipeline.app.stages.plan import TrainingPlan
from pipeline.app.workspace import open_workspace
cross_validate_fold(open_workspace(), TrainingPlan.from_json(json.loads(sys.argv[1])), int(sys.argv[2]))
"""


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def fresh_process_cost(repeat: int) -> tuple[float, float]:
    """Median wall and CPU seconds of a process that only starts Python and imports what a fold task needs."""
    walls, cpus = [], []
    for _ in range(repeat):
        cpu0, t0 = _children_cpu(), time.perf_counter()
        subprocess.run([sys.executable, "-c", IMPORTS], check=True, cwd=PROJECT)
        walls.append(time.perf_counter() - t0)
        cpus.append(_children_cpu() - cpu0)
    return statistics.median(walls), statistics.median(cpus)


def _workspace(root: Path, rows: int, folds: int, slots: int):
    import yaml

    from pipeline.app import stages
    from pipeline.app.demo_data import BatchSpec, generate_batch
    from pipeline.app.workspace import open_workspace
    from pipeline.core.settings import BUNDLED_CONFIG, Settings

    home = root / f"rows{rows}"
    home.mkdir()
    data = yaml.safe_load(BUNDLED_CONFIG.read_text())
    data["evaluation"]["folds"] = folds
    data["ingest"]["stable_seconds"] = 0
    data["resources"] = {"worker_slots": slots, "cv_in_process_max_rows": 0}
    (home / "pipeline.yaml").write_text(yaml.safe_dump(data))
    env = {
        "CT_HOME": str(home),
        "CT_CONFIG": str(home / "pipeline.yaml"),
        "CT_DATABASE_URL": f"sqlite:///{home / 'ct.db'}",
        "CT_DATA_URL": home.as_uri(),
    }
    settings = Settings(
        home=home, config_path=home / "pipeline.yaml", database_url=env["CT_DATABASE_URL"], data_url=env["CT_DATA_URL"]
    )
    settings.landing.mkdir(parents=True)
    generate_batch(BatchSpec(rows=rows, seed=101)).to_csv(settings.landing / "batch.csv", index=False)
    ws = open_workspace(settings)
    stages.ingest_landing(ws)
    plans = stages.plan_training(ws, None, None, {"kind": "bench"}).per_candidate()
    return ws, plans, env


def _clear_folds(ws) -> None:
    for key in ws.store.list("reports/cv"):
        ws.store.delete(key)


def in_process(ws, plans) -> tuple[float, float]:
    """Wall and CPU seconds of the evaluate task's in-process CV of every candidate."""
    from pipeline.app.stages.evaluate import cross_validate_in_process
    from pipeline.app.stages.train import FittedCandidate

    _clear_folds(ws)
    # only the names matter to the CV: no artifact is fitted for this measurement
    unfitted = [FittedCandidate(p.spec_name, "", {}, 0, "", "", 0, 0, 0.0) for p in plans]
    cpu0, t0 = time.process_time(), time.perf_counter()
    cross_validate_in_process(ws, plans[0], unfitted)
    return time.perf_counter() - t0, time.process_time() - cpu0


def fold_processes(ws, plans, env: dict[str, str], slots: int) -> tuple[float, float, int]:
    """Wall and CPU seconds of every candidate x fold in a fresh process, ``slots`` at a time."""
    from pipeline.app.stages.folds import list_folds

    _clear_folds(ws)
    folds = list_folds(ws, plans[0])
    jobs = [(p, k) for p in plans for k in folds]
    child_env = {**os.environ, **env, "PYTHONPATH": str(PROJECT)}
    running: list[subprocess.Popen] = []
    cpu0, t0 = _children_cpu(), time.perf_counter()
    for plan, k in jobs:
        while len(running) >= slots:
            running[0].wait()
            running = [p for p in running if p.poll() is None]
        running.append(
            subprocess.Popen(
                [sys.executable, "-c", FOLD_TASK, json.dumps(plan.to_json()), str(k)], env=child_env, cwd=PROJECT
            )
        )
    for p in running:
        p.wait()
    wall = time.perf_counter() - t0
    assert len(ws.store.list("reports/cv")) == len(jobs), "a fold process failed"
    return wall, _children_cpu() - cpu0, len(jobs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[1000, 4000, 16000, 64000])
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=5, help="fresh-process measurements")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ.pop("CT_THREADS", None)

    wall, cpu = fresh_process_cost(args.repeat)
    print(
        f"fresh process (python + pandas, scikit-learn, pipeline imports), median of {args.repeat}: "
        f"{wall:.2f} s wall, {cpu:.2f} s CPU"
    )
    print()
    print(
        f"| training rows | rows x candidates | in process wall s | in process CPU s | "
        f"fold processes ({args.slots} at a time) wall s | fold processes CPU s | fold fits | faster |"
    )
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for rows in args.rows:
            ws, plans, env = _workspace(Path(tmp), rows, args.folds, args.slots)
            from pipeline.app.stages.data import training_data
            from pipeline.modeling.evaluation import holdout_split

            _, frame = training_data(ws, plans[0].snapshot_id)
            train_rows = len(holdout_split(frame, ws.config).train_index)
            in_wall, in_cpu = in_process(ws, plans)
            map_wall, map_cpu, jobs = fold_processes(ws, plans, env, args.slots)
            faster = "in process" if in_wall < map_wall else "fold processes"
            print(
                f"| {train_rows} | {train_rows * len(plans)} | {in_wall:.1f} | {in_cpu:.1f} | {map_wall:.1f} | "
                f"{map_cpu:.1f} | {jobs} | {faster} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
