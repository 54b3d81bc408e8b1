"""Benchmark the validation stage: 1M rows, 20 numeric + 5 categorical features.

    .venv/bin/python -m bench.bench_validation [--rows 1000000] [--other-python /tmp/evenv/bin/python]

Rows of the printed table (results are recorded in docs/validation.md):

* reading the 1M-row Parquet part;
* drift over all 25 features with the reference statistics cached (target < 1 s), and a
  straightforward scipy pass (KS + PSI per numeric feature, chi-square per categorical) on the
  raw reference and current columns, for comparison;
* great-expectations alone running the same suite on the same 1M rows, and our stage on a 1M-row
  first snapshot (suite + statistics + label contract + parity) and on 1M new rows against a
  cached reference (suite + drift + label contract + parity): target 1.5x great-expectations;
* the whole stage on a 1 % append in a fresh process, as Airflow runs a task (imports, SQLite,
  reports), with and without Data Docs (target 2 s including great-expectations' start-up), and
  the import time of great-expectations alone;
* Evidently's DataDriftPreset on the same data, run with ``--other-python`` (a separate venv;
  "not installed" otherwise).

``--false-alarms SEEDS`` instead measures how often each drift test flags a feature whose two
samples come from the same distribution, per sample size (the basis of the automatic choice).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

PROJECT = Path(__file__).resolve().parent.parent

N_NUMERIC, N_CATEGORICAL = 20, 5
LEVELS = [[f"l{j}" for j in range(3 + i)] for i in range(N_CATEGORICAL)]


def make_frame(n: int, seed: int, first_id: int = 0, shift: float = 0.0) -> pd.DataFrame:
    """Synthetic rows: normal, lognormal, Poisson and uniform columns; ``shift`` moves some means."""
    rng = np.random.default_rng(seed)
    cols: dict[str, Any] = {"id": np.char.add("R", np.arange(first_id, first_id + n).astype(str)).astype(object)}
    for i in range(N_NUMERIC):
        kind = i % 4
        if kind == 0:
            x = rng.normal(50 + shift * 10 * (i < 4), 10, n)
        elif kind == 1:
            x = rng.lognormal(2, 0.5, n)
        elif kind == 2:
            x = rng.poisson(3, n).astype(float)
        else:
            x = rng.uniform(0, 100, n)
        cols[f"x{i}"] = np.round(x, 2)
    for i, levels in enumerate(LEVELS):
        cols[f"c{i}"] = rng.choice(levels, n)
    cols["y"] = rng.choice(["no", "yes"], n)
    frame = pd.DataFrame(cols)
    frame.loc[rng.random(n) < 0.01, "x1"] = np.nan
    return frame


def bench_config() -> dict[str, Any]:
    numeric = [{"name": f"x{i}", **({"min": 0.0} if i % 4 else {})} for i in range(N_NUMERIC)]
    categorical = [{"name": f"c{i}", "levels": levels} for i, levels in enumerate(LEVELS)]
    return {
        "dataset": {
            "name": "bench",
            "label": "y",
            "classes": ["no", "yes"],
            "positive_class": "yes",
            "id_columns": ["id"],
            "features": {"numeric": numeric, "categorical": categorical},
        },
        "validation": {"label_contract": {"expected_shares": {"no": 0.5, "yes": 0.5}}},
        "model": {"name": "bench-model", "specs": {"default": {"estimator": "logistic_regression"}}},
    }


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    """Best wall time of ``repeat`` calls, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def scipy_pass(ref: pd.DataFrame, cur: pd.DataFrame) -> int:
    """What a straightforward implementation does: KS + PSI per numeric, chi-square per categorical."""
    from scipy import stats

    drifted = 0
    for i in range(N_NUMERIC):
        a, b = ref[f"x{i}"].dropna().to_numpy(), cur[f"x{i}"].dropna().to_numpy()
        p = stats.ks_2samp(a, b).pvalue
        edges = np.unique(np.quantile(a, np.linspace(0, 1, 11)))
        ra = np.clip(np.histogram(a, edges)[0] / a.size, 1e-4, None)
        rb = np.clip(np.histogram(b, edges)[0] / b.size, 1e-4, None)
        psi = float(np.sum((rb - ra) * np.log(rb / ra)))
        drifted += p < 0.05 or psi >= 0.2
    for i in range(N_CATEGORICAL):
        table = pd.concat([ref[f"c{i}"].value_counts(), cur[f"c{i}"].value_counts()], axis=1).fillna(0).to_numpy()
        drifted += stats.chi2_contingency(table.T).pvalue < 0.05
    return drifted


def run_in_fresh_process(python: str, code: str, env: dict[str, str], timeout: float = 900) -> tuple[float, str]:
    """Wall time of ``python -c code`` (interpreter start and imports included), and its stdout."""
    started = time.perf_counter()
    done = subprocess.run([python, "-c", code], env=env, capture_output=True, text=True, timeout=timeout, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"subprocess failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds, done.stdout


EVIDENTLY = textwrap.dedent("""
    import json, resource, sys, time
    import pandas as pd
    ref = pd.read_parquet(sys.argv[1]); cur = pd.read_parquet(sys.argv[2])
    started = time.perf_counter()
    from evidently import Report
    from evidently.presets import DataDriftPreset
    report = Report([DataDriftPreset()])
    result = report.run(current_data=cur, reference_data=ref)
    result.dict()
    print(json.dumps({"seconds": time.perf_counter() - started,
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
""")


def evidently_row(python: str | None, ref_path: Path, cur_path: Path, n: int) -> tuple[str, str]:
    if not python or not Path(python).exists():
        return "not installed", "pass --other-python /tmp/evenv/bin/python"
    probe = subprocess.run(
        [python, "-c", "import evidently; print(evidently.__version__)"], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        return "not installed", probe.stderr.strip().splitlines()[-1][:80]
    done = subprocess.run(
        [python, "-c", EVIDENTLY, str(ref_path), str(cur_path)],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if done.returncode != 0:
        return "failed", done.stderr.strip().splitlines()[-1][:80]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return (
        f"{out['seconds']:.1f}",
        f"Evidently {probe.stdout.strip()}, {n:,} vs {n:,} rows, peak {out['peak_mb']:.0f} MB",
    )


def false_alarms(reps: int) -> None:
    """Share of features flagged when both samples come from the same distribution, per size.

    The measurement behind ``drift.SMALL_SAMPLE`` (docs/validation.md, "The automatic choice").
    """
    from pipeline.quality.drift import (
        DRIFT_TESTS,
        profile_categorical,
        profile_numeric,
    )

    generators = {
        "normal": lambda r, n: r.normal(0, 1, n),
        "lognormal": lambda r, n: r.lognormal(0, 1, n),
        "poisson": lambda r, n: r.poisson(1.6, n).astype(float),
        "gamma": lambda r, n: r.gamma(2, 14, n),
    }
    print("| rows | distribution | ks | wasserstein | psi | jensen_shannon | W1 null 95th / 99th pct | JS (3 levels) |")
    for n in (500, 1_000, 2_000, 5_000, 10_000):
        for name, gen in generators.items():
            hits = dict.fromkeys(("ks", "wasserstein", "psi", "jensen_shannon"), 0)
            distances, js = [], 0
            for seed in range(reps):
                rng = np.random.default_rng([seed, n])
                profile = profile_numeric("x", pd.Series(gen(rng, n)))
                current = gen(rng, n)
                for test_name in hits:
                    test = DRIFT_TESTS[test_name]
                    outcome = test.fn(profile, current)
                    hits[test_name] += test.flags(outcome, test.default_threshold, None)
                    if test_name == "wasserstein":
                        distances.append(outcome.score)
                levels = np.array(["a", "b", "c"])
                ref = profile_categorical("c", pd.Series(rng.choice(levels, n, p=[0.5, 0.3, 0.2])))
                test = DRIFT_TESTS["jensen_shannon"]
                js += test.flags(test.fn(ref, pd.Series(rng.choice(levels, n, p=[0.5, 0.3, 0.2]))), 0.1, None)
            q95, q99 = np.quantile(distances, [0.95, 0.99])
            shares = " | ".join(f"{hits[t] / reps:.1%}" for t in hits)
            print(f"| {n} | {name} | {shares} | {q95:.3f} / {q99:.3f} | {js / reps:.1%} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--append-share", type=float, default=0.01)
    parser.add_argument("--other-python", help="a Python with Evidently installed (e.g. /tmp/evenv/bin/python)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    parser.add_argument(
        "--false-alarms",
        type=int,
        metavar="SEEDS",
        help="instead: false-alarm rates of the drift tests on identical distributions",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the stage's warnings about the synthetic data are expected
    if args.false_alarms:
        false_alarms(args.false_alarms)
        return

    from pipeline.app.stages.validate import validate_snapshot
    from pipeline.app.workspace import Workspace
    from pipeline.core.config import parse_config
    from pipeline.core.settings import Settings
    from pipeline.data.snapshots import (
        SourceFile,
        create_snapshot,
        load_parts,
        manifest_key,
        write_part,
    )
    from pipeline.quality.drift import detect_drift
    from pipeline.quality.expectations import evaluate_suite
    from pipeline.quality.part_stats import StatisticsCache
    from pipeline.quality.snapshot_validation import compute_validation
    from pipeline.registry.base import CHAMPION, NewModelVersion, SnapshotRecord

    n = args.rows
    size = f"{n / 1e6:g}M" if n >= 1_000_000 else f"{n:,}"
    n_append = max(1, int(n * args.append_share))
    tmp = Path(tempfile.mkdtemp(prefix="ct-bench-validation-"))
    home = tmp / "home"
    home.mkdir()
    raw = bench_config()
    config_path = home / "pipeline.yaml"
    config_path.write_text(yaml.safe_dump(raw))
    no_docs_path = home / "pipeline-no-docs.yaml"
    raw_no_docs = json.loads(json.dumps(raw))
    raw_no_docs["validation"]["expectations"] = {"data_docs": "never"}
    no_docs_path.write_text(yaml.safe_dump(raw_no_docs))
    config = parse_config(raw)
    settings = Settings(
        home=home, config_path=config_path, database_url=f"sqlite:///{home / 'ct.db'}", data_url=home.as_uri()
    )
    ws = Workspace(settings=settings, config=config)

    print(f"generating {n:,} reference rows, {n:,} current rows and a {n_append:,}-row append ...", flush=True)
    ref, cur = make_frame(n, 1), make_frame(n, 2, first_id=n, shift=0.3)
    app = make_frame(n_append, 3, first_id=2 * n)
    parts = {
        name: write_part(ws.store, frame, config.dataset, SourceFile(f"{name}.csv", name * 8, 0))
        for name, frame in (("ref", ref), ("cur", cur), ("app", app))
    }
    first = create_snapshot(ws.store, config.dataset, None, [parts["ref"]])
    with_cur = create_snapshot(ws.store, config.dataset, first, [parts["cur"]])
    with_app = create_snapshot(ws.store, config.dataset, first, [parts["app"]])
    for snap in (first, with_cur, with_app):
        ws.meta.record_snapshot(
            SnapshotRecord(
                id=snap.id,
                dataset="bench",
                parent=snap.parent,
                rows=snap.rows,
                parts=len(snap.parts),
                manifest_uri=ws.store.uri(manifest_key(snap.id)),
                created_at=snap.created_at,
            )
        )
    rows: list[tuple[str, str, str, str]] = []

    def row(name: str, seconds: float | str, target: str = "", note: str = "") -> None:
        shown = f"{seconds:.2f}" if isinstance(seconds, float) else seconds
        rows.append((name, shown, target, note))
        print(f"  {name}: {shown} s {note}", flush=True)

    t, frame = timed(lambda: load_parts(ws.store, [parts["ref"]]), repeat=2)
    row(f"read one {size}-row Parquet part", t)

    # -- first snapshot, cold caches, no reference: the whole stage in this process (GX imported inside)
    t, _ = timed(lambda: validate_snapshot(ws, first.id))
    stage_first = t
    row(
        f"ours: whole stage, {size}-row first snapshot, cold (read, statistics, suite generated, label, parity, "
        "GX import, Data Docs, report, DB record)",
        t,
    )
    t, first_run = timed(lambda: compute_validation(ws, first.id, None))
    n_exp = len(first_run.suite.expectations)
    row(
        "ours: same snapshot, checks only, statistics cached (read, suite, label, parity)",
        t,
        note=f"{n_exp} expectations",
    )

    t, gx_outcomes = timed(lambda: evaluate_suite(frame, first_run.suite, "great_expectations"))
    gx_seconds = t
    row(
        f"great-expectations alone: same {n_exp}-expectation suite on the {size} rows (imported already)",
        t,
        note=f"{sum(not o.success for o in gx_outcomes)} failed",
    )
    fast = [e for e in first_run.report.checks if e.name.startswith("expectation:")]
    assert [c.passed for c in fast] == [o.success for o in gx_outcomes], "engines disagree"
    rows.append(
        ("ours / great-expectations: whole first-snapshot stage", f"{stage_first / gx_seconds:.2f}x", "<= 1.5x", "")
    )

    # champion on the first snapshot: the reference of later validations
    version, _ = ws.meta.register_model(
        NewModelVersion(
            name="bench-model",
            snapshot_id=first.id,
            config_hash=config.content_hash(),
            spec_name="default",
            params={},
            metrics={},
            evaluation={},
            artifact_uri="none",
            artifact_sha256="0" * 64,
            validation_id=None,
            trigger={"kind": "bench"},
            code_version="bench",
        )
    )
    ws.meta.set_alias("bench-model", CHAMPION, version.version, "bench", {}, "bench")

    cache = StatisticsCache(ws.store, config)
    t, profiles = timed(lambda: StatisticsCache(ws.store, config).profiles(first))
    row("reference profiles: merged from part statistics, first time", t)
    t, profiles = timed(lambda: cache.profiles(first), repeat=3)
    row("reference profiles: from the per-snapshot cache", t)
    t, drift = timed(
        lambda: detect_drift(profiles, cur, dataset_drift_share=config.validation.drift.dataset_drift_share), repeat=3
    )
    row(
        f"ours: drift over all 25 features, {size} rows, cached reference",
        t,
        "< 1 s",
        f"{len(drift.drifted_features)} drifted",
    )
    t, found = timed(lambda: scipy_pass(ref, cur))
    row(f"straightforward scipy KS + PSI + chi-square pass, {size} vs {size}", t, note=f"{found} flagged")

    t, _ = timed(lambda: compute_validation(ws, with_cur.id, first))
    row(
        f"ours: {size} new rows vs cached reference, checks (suite + drift + label + parity)",
        t,
        f"<= {1.5 * gx_seconds:.1f} (1.5x GX)",
        f"{t / gx_seconds:.2f}x GX",
    )

    t, _ = timed(lambda: compute_validation(ws, with_app.id, first))
    row(f"ours: {args.append_share:.0%} append ({n_append:,} rows), checks, warm process", t)

    env = {
        **os.environ,
        "CT_HOME": str(home),
        "CT_DATABASE_URL": settings.database_url,
        "CT_DATA_URL": settings.data_url,
        "PYTHONPATH": str(PROJECT),
    }
    stage = (
        "import time; t = time.perf_counter()\n"
        "from pipeline.app.workspace import open_workspace\n"
        "from pipeline.app.stages.validate import validate_snapshot\n"
        "imported = time.perf_counter()\n"
        f"out = validate_snapshot(open_workspace(), {with_app.id!r})\n"
        "peak = [int(line.split()[1]) // 1024 for line in open('/proc/self/status') if line.startswith('VmHWM')][0]\n"
        "print(round(imported - t, 2), round(time.perf_counter() - imported, 2), peak, out.parts_read)"
    )
    for label, path in (("with Data Docs", config_path), ("without Data Docs", no_docs_path)):
        seconds, out = run_in_fresh_process(sys.executable, stage, {**env, "CT_CONFIG": str(path)})
        imports, work, peak, read = out.split()
        row(
            f"ours: {args.append_share:.0%} append, whole stage in a fresh process, {label}",
            seconds,
            "<= 2 s",
            f"imports {imports} s, stage {work} s, {read} part read, peak RSS {peak} MB",
        )
    base, _ = run_in_fresh_process(sys.executable, "import pandas, scipy.stats, pyarrow.parquet, sklearn", env)
    with_gx, _ = run_in_fresh_process(
        sys.executable, "import pandas, scipy.stats, pyarrow.parquet, sklearn, great_expectations", env
    )
    row("import great_expectations (on top of pandas, scipy, pyarrow, sklearn)", with_gx - base)

    ref_path, cur_path = tmp / "ref.parquet", tmp / "cur.parquet"
    ref.to_parquet(ref_path)
    cur.to_parquet(cur_path)
    seconds, note = evidently_row(args.other_python, ref_path, cur_path, n)
    row("Evidently DataDriftPreset, same data", seconds, note=note)

    width = max(len(r[0]) for r in rows)
    print(
        f"\nvalidation benchmark: {n:,} rows, {N_NUMERIC} numeric + {N_CATEGORICAL} categorical features; "
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores, peak RSS of this process "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB\n"
    )
    print(f"| {'measurement'.ljust(width)} | seconds | target | note |")
    print(f"|{'-' * (width + 2)}|---------|--------|------|")
    for name, seconds, target, note in rows:
        print(f"| {name.ljust(width)} | {seconds} | {target} | {note} |")
    if not args.keep:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"\ndata kept in {tmp}")


if __name__ == "__main__":
    main()
