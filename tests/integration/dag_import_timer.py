"""Time importing each DAG file (and each plugin module) once Airflow itself is loaded.

Run as a script in a fresh process by test_dag_parse_budget.py and bench/bench_dag_parse.py;
prints one JSON document.  Network, sqlite and SQLAlchemy connections are forbidden with the
guards of dag_parse_probe.py, so a file that touches a database or the network fails to import
(and says so).

Airflow's own cost is paid first and measured apart: ``airflow.sdk`` is imported, every name
it exports is resolved (they load lazily) and a one-task reference DAG is built, which is what a
dag-processor has done before it reaches our files.  Then, for each target:

* **cold** — every module loaded after that point is dropped from ``sys.modules`` and the target is
  imported: the cost of the file plus everything it pulls in (``ct_airflow``, YAML config, ...);
* **warm** — only the target itself is dropped and imported again, ``--warm`` times (best kept):
  the cost of building the DAG when its imports are already loaded.

After the cold import the modules it loaded are checked against :data:`HEAVY`: the data stack and
the domain package belong inside task bodies, never at parse time.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
import time
import traceback
from pathlib import Path

from dag_parse_probe import forbid_database, forbid_network_and_sqlite, touched

HEAVY = (
    "pandas",
    "numpy",
    "sklearn",
    "scipy",
    "pyarrow",
    "great_expectations",
    "joblib",
    "matplotlib",
    "psycopg2",
    "pipeline",
)
"""Top-level packages no DAG file or plugin module may import at parse time (``pipeline`` is ours)."""


def _load_airflow() -> float:
    """Airflow's fixed cost: the SDK, its lazily exported names and one reference DAG."""
    started = time.perf_counter()
    import airflow.sdk
    from airflow.sdk import dag, task

    for name in getattr(airflow.sdk, "__all__", ()):
        try:
            getattr(airflow.sdk, name)
        except (AttributeError, ImportError):  # a few exports are broken or optional in some releases
            pass

    @dag(dag_id="reference", schedule=None)
    def reference():
        @task
        def noop() -> None:
            return None

        noop()

    reference()
    return time.perf_counter() - started


def _import_target(target: str, counter: list[int]) -> str:
    """Import a DAG file path (under a fresh name, as Airflow's DagBag does) or a module name."""
    if target.endswith(".py"):
        counter[0] += 1
        name = f"ct_dag_probe_{counter[0]}_{Path(target).stem}"
        spec = importlib.util.spec_from_file_location(name, target)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return name
    importlib.import_module(target)
    return target


def _drop(names: set[str]) -> None:
    for name in names:
        sys.modules.pop(name, None)


def measure(targets: list[str], warm: int) -> dict:
    """Cold and warm import times, heavy modules and errors of each target."""
    baseline = set(sys.modules)
    counter = [0]
    out: dict[str, dict] = {}
    for target in targets:
        _drop(set(sys.modules) - baseline)
        entry: dict = {"cold": None, "warm": None, "heavy": [], "error": None}
        try:
            started = time.perf_counter()
            name = _import_target(target, counter)
            entry["cold"] = time.perf_counter() - started
            loaded = set(sys.modules) - baseline
            entry["heavy"] = sorted({m.split(".")[0] for m in loaded} & set(HEAVY))
            entry["modules_loaded"] = len(loaded)
            times = []
            for _ in range(warm):
                _drop({name})
                started = time.perf_counter()
                name = _import_target(target, counter)
                times.append(time.perf_counter() - started)
            entry["warm"] = min(times) if times else None
        except Exception:
            entry["error"] = traceback.format_exc()[-3000:]
        out[target] = entry
    _drop(set(sys.modules) - baseline)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dags", type=Path, required=True, help="folder of DAG files (*.py)")
    parser.add_argument("--plugins", type=Path, help="plugins folder; every module below it is imported too")
    parser.add_argument("--warm", type=int, default=5, help="warm re-imports per target (best kept)")
    args = parser.parse_args()
    forbid_network_and_sqlite()
    airflow_seconds = _load_airflow()
    forbid_database()
    targets = [str(p) for p in sorted(args.dags.glob("*.py"))]
    if args.plugins:
        sys.path.insert(0, str(args.plugins))
        targets += [
            ".".join(p.relative_to(args.plugins).with_suffix("").parts).removesuffix(".__init__")
            for p in sorted(args.plugins.rglob("*.py"))
        ]
    report = {"airflow_seconds": airflow_seconds, "targets": measure(targets, args.warm), "touched": touched}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
