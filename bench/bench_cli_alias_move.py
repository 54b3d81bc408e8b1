"""Wall time of `ct models promote` / `rollback` / `tag` in a fresh interpreter (issue 14).

Builds a throwaway CT_HOME with two registered versions (dummy artifacts: an alias move only
verifies checksums), then runs each command N times as a subprocess and prints the median, and
whether scikit-learn or scipy were imported. Run it from the tree to measure:

    .venv/bin/python -m bench.bench_cli_alias_move [N]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUN = (
    "import sys; from pipeline.cli import main; code = main(); "
    "print('heavy:', sorted(m for m in ('sklearn', 'scipy') if m in sys.modules), file=sys.stderr); sys.exit(code)"
)


def prepare(home: Path) -> dict[str, str]:
    home.mkdir(parents=True)
    env = {**os.environ, "CT_HOME": str(home), "CT_DATABASE_URL": f"sqlite:///{home / 'ct.db'}"}
    env.pop("CT_CONFIG", None)
    env.pop("CT_DATA_URL", None)
    script = """
from pipeline.registry.base import CHAMPION, NewModelVersion
from pipeline.core.settings import load_settings
from pipeline.app.workspace import open_workspace
ws = open_workspace(load_settings())
for v in (1, 2):
    key, sha = ws.artifacts.save({"weights": [v]}, "churn-classifier")
    ws.meta.register_model(NewModelVersion(name="churn-classifier", snapshot_id="s", config_hash=f"c{v}", spec_name="d",
        params={}, metrics={}, evaluation={"holdout": {}, "holdout_rows": 0, "train_rows": 0, "cross_validation": {},
                     "champion": None}, artifact_uri=key, artifact_sha256=sha, validation_id=None,
        trigger={"kind": "manual"}, code_version="x", lineage={}, feature_schema=[], environment={}))
ws.meta.set_alias("churn-classifier", CHAMPION, 1, "first", {}, "bench")
"""
    subprocess.run([sys.executable, "-c", script], env=env, check=True, cwd=home.parent)
    return env


def main(n: int = 5) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = prepare(Path(tmp) / "home")
        commands = [
            ["models", "promote", "2", "--reason", "bench"],
            ["models", "rollback", "--reason", "bench"],
            ["models", "tag", "1", "bench=yes"],
        ]
        times: dict[str, list[float]] = {" ".join(argv[:2]): [] for argv in commands}
        heavy: dict[str, str] = {}
        for _ in range(n):  # promote, rollback, tag in turn: each rollback has a move to undo
            for argv in commands:
                t0 = time.perf_counter()
                done = subprocess.run(
                    [sys.executable, "-c", RUN, *argv], env=env, capture_output=True, text=True, cwd=tmp
                )  # not the tree: `-c` puts the cwd first on sys.path
                times[" ".join(argv[:2])].append(time.perf_counter() - t0)
                if done.returncode:
                    sys.exit(f"ct {argv} failed: {done.stdout}{done.stderr}")
                heavy[" ".join(argv[:2])] = done.stderr.strip().splitlines()[-1]
        for name, values in times.items():
            print(f"ct {name}: median {statistics.median(values):.2f} s over {n} runs; {heavy[name]}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
