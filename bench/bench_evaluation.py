"""Benchmark evaluation: bootstrap intervals, and the whole evaluate stage on a 1M-row snapshot.

    .venv/bin/python -m bench.bench_evaluation [--rows 200000] [--resamples 1000] [--snapshot-rows 1000000]
                                               [--old-metrics PATH] [--skip-stage]

Part 1 -- 1000 bootstrap resamples on 200k holdout rows (targets: ROC AUC < 0.5 s, all nine
metrics < 2 s), one row per approach:

* a straightforward rank-based loop (draw indices, rank, Mann-Whitney U) -- timed on a few
  resamples and scaled to the full count, it is too slow to run in full;
* multinomial resampling (the classic bootstrap: ``rng.integers`` indices, counted per row)
  feeding this module's metric kernel -- what drawing the resamples alone costs;
* the previous ``pipeline/modeling/metrics.py`` when ``--old-metrics`` points at a copy of it;
* ``pipeline.modeling.metrics`` as it is (Poisson bootstrap, cache-sized chunks);
* the paired bootstrap of ROC AUC (challenger vs champion on the same resamples), and
  ``compare_bootstrap`` (all metrics of the challenger plus the paired comparison in one pass).

Part 2 -- the stages on a ``--snapshot-rows`` snapshot (demo churn data, 2 slice columns): fit
and cross-validation (train stage), then the evaluate stage without and with a champion,
with the time of its pieces.  Results are recorded in docs/evaluation.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import expit
from scipy.stats import rankdata

from pipeline.modeling import metrics, resampling

PROJECT = Path(__file__).resolve().parent.parent


def best_of(fn: Callable[[], Any], repeat: int) -> float:
    """Fastest wall time of ``repeat`` runs (the machine is shared, so the minimum is the signal)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def rank_loop_auc(y: np.ndarray, p: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """The straightforward way: one resample at a time, rank the scores, Mann-Whitney U."""
    rng = np.random.default_rng(seed)
    out = np.empty(n_resamples)
    for b in range(n_resamples):
        idx = rng.integers(0, y.size, y.size)
        yb, pb = y[idx], p[idx]
        ranks = rankdata(pb)
        n_pos = yb.sum()
        n_neg = yb.size - n_pos
        out[b] = (ranks[yb == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return out


def multinomial_replicates(
    y: np.ndarray, p: np.ndarray, n_resamples: int, seed: int, names: tuple[str, ...]
) -> dict[str, np.ndarray]:
    """Classic bootstrap counts (indices drawn with replacement, counted per row) fed to the
    same metric kernel as the Poisson bootstrap: isolates the cost of drawing the resamples."""
    r = metrics._rank(y.astype(np.int8), p, 0.5)
    rng = np.random.default_rng(seed)
    scratch = resampling.Scratch()
    chunk = resampling.chunk_size(y.size)
    parts = []
    for start in range(0, n_resamples, chunk):
        c = min(chunk, n_resamples - start)
        idx = rng.integers(0, y.size, size=(c, y.size), dtype=np.int32)
        idx += (np.arange(c, dtype=np.int32) * y.size)[:, None]
        counts = np.bincount(idx.ravel(), minlength=c * y.size).reshape(c, y.size).astype(np.uint8)
        parts.append(metrics._class_metrics(r, counts[:, r.neg_rows], counts[:, r.pos_rows], names, scratch))
    return metrics._concat(parts, names)


def load_module(path: Path) -> Any:
    """Import a copy of an older metrics module under another name."""
    spec = importlib.util.spec_from_file_location("old_metrics", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules["old_metrics"] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def bench_bootstrap(args: argparse.Namespace) -> list[list[str]]:
    """Part 1: rows of (approach, what, seconds for the full resample count, note)."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, args.rows)
    p = expit(rng.normal(size=args.rows) + y)  # continuous scores: no ties to exploit
    q = np.clip(p + rng.normal(0, 0.05, args.rows), 0, 1)
    B, rows = args.resamples, []
    sample = max(5, B // 50)
    t = best_of(lambda: rank_loop_auc(y, p, sample, 1), 1) * B / sample
    rows.append(["rank-based loop (scipy rankdata)", "ROC AUC", f"{t:.2f}", f"{sample} resamples timed, scaled"])
    for label, names in (("ROC AUC", ("roc_auc",)), ("all 9 metrics", metrics.METRIC_NAMES)):
        t = best_of(lambda names=names: multinomial_replicates(y, p, B, 1, names), args.repeat)
        rows.append(["multinomial indices + bincount, new kernel", label, f"{t:.2f}", "drawing dominates"])
    if args.old_metrics:
        old = load_module(args.old_metrics)
        for label, names in (("ROC AUC", ["roc_auc"]), ("all 9 metrics", None)):
            t = best_of(lambda names=names: old.bootstrap_replicates(y, p, B, 1, metrics=names), args.repeat)
            rows.append(["previous pipeline/modeling/metrics.py", label, f"{t:.2f}", str(args.old_metrics)])
    for label, names in (("ROC AUC", ["roc_auc"]), ("all 9 metrics", None)):
        t = best_of(lambda names=names: metrics.bootstrap_replicates(y, p, B, 1, metrics=names), args.repeat)
        rows.append(
            [
                "pipeline.modeling.metrics (Poisson bootstrap)",
                label,
                f"{t:.2f}",
                "target < 0.5 s" if label == "ROC AUC" else "target < 2 s",
            ]
        )
    t = best_of(lambda: metrics.paired_bootstrap(y, p, q, "roc_auc", B, 1), args.repeat)
    rows.append(
        ["pipeline.modeling.metrics paired bootstrap", "ROC AUC difference", f"{t:.2f}", "both models, same resamples"]
    )
    t = best_of(lambda: metrics.compare_bootstrap(y, p, q, "roc_auc", B, 1), args.repeat)
    rows.append(
        [
            "pipeline.modeling.metrics compare_bootstrap",
            "all 9 + paired ROC AUC",
            f"{t:.2f}",
            "what evaluation runs with a champion",
        ]
    )
    return rows


def bench_stage(args: argparse.Namespace) -> list[list[str]]:
    """Part 2: train and evaluate stages on a large snapshot (in a temporary data directory)."""
    import yaml

    from pipeline.app import stages
    from pipeline.app.demo_data import BatchSpec, generate_batch
    from pipeline.app.stages.evaluate import Evaluation, choose_and_evaluate, cross_validate_in_process
    from pipeline.app.stages.train import fit_candidate
    from pipeline.app.workspace import Workspace
    from pipeline.core.config import parse_config
    from pipeline.core.settings import BUNDLED_CONFIG, Settings
    from pipeline.modeling.evaluation import holdout_evidence, holdout_split
    from pipeline.modeling.training import features_and_target, predict_proba

    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="ct-bench-eval-") as tmp:
        home = Path(tmp)
        settings = Settings(
            home=home, config_path=BUNDLED_CONFIG, database_url=f"sqlite:///{home / 'ct.db'}", data_url=home.as_uri()
        )
        data = yaml.safe_load(BUNDLED_CONFIG.read_text())
        data["dataset"]["slice_columns"] = ["contract", "region"]
        data["model"]["specs"]["challenger"] = {
            "estimator": "logistic_regression",
            "params": {"C": 0.3, "max_iter": 2000},
        }
        data["ingest"]["stable_seconds"] = 0
        config = parse_config(data)
        ws = Workspace(settings=settings, config=config)
        settings.landing.mkdir(parents=True)
        started = time.perf_counter()
        generate_batch(BatchSpec(rows=args.snapshot_rows, seed=5)).to_parquet(settings.landing / "big.parquet")
        snapshot_id = stages.ingest_landing(ws).snapshot_id
        rows.append(
            ["setup: generate + ingest", f"{args.snapshot_rows} rows", f"{time.perf_counter() - started:.1f}", ""]
        )

        def train_and_evaluate(spec: str, label: str) -> Evaluation:
            plan = stages.plan_training(ws, snapshot_id, spec, {"kind": "bench"})
            t0 = time.perf_counter()
            [cand] = cross_validate_in_process(ws, plan, [fit_candidate(ws, plan)])  # fit, then CV in process
            rows.append(
                [
                    f"train stage: {label}",
                    f"fit {cand.train_rows} rows",
                    f"{cand.fit_seconds:.1f}",
                    "logistic regression",
                ]
            )
            rows.append(
                [
                    f"train stage: {label}",
                    f"{config.evaluation.folds}-fold CV",
                    f"{cand.cv_seconds or 0.0:.1f}",
                    f"whole train stage {time.perf_counter() - t0:.1f} s",
                ]
            )
            t0 = time.perf_counter()
            out = choose_and_evaluate(ws, plan, [cand])
            rows.append(
                [
                    f"evaluate stage: {label}",
                    f"{cand.holdout_rows} holdout rows",
                    f"{time.perf_counter() - t0:.1f}",
                    "load, predict, bootstrap, slices, curves, store",
                ]
            )
            return out

        first = train_and_evaluate("default", "first model")
        reg = stages.register_model(ws, first.plan, first.candidate, first.evaluation_key, None)
        stages.promote_if_better(ws, reg.name, reg.version)
        train_and_evaluate("challenger", "vs champion")

        # the pieces of the evaluate stage, timed one by one
        frame = stages.snapshot_frame(ws, snapshot_id)
        split = holdout_split(frame, config)
        holdout = frame.iloc[split.holdout_index]
        model = ws.artifacts.load(first.candidate.artifact_key, first.candidate.artifact_sha256)
        t0 = time.perf_counter()
        proba = predict_proba(model, holdout, config.dataset)
        rows.append(["  piece: predict", "one model", f"{time.perf_counter() - t0:.2f}", ""])
        _, y = features_and_target(holdout, config.dataset)
        champion = np.clip(proba + np.random.default_rng(1).normal(0, 0.02, proba.size), 0, 1)
        ecfg = config.evaluation
        for label, fn in (
            (
                "bootstrap, all metrics",
                lambda: metrics.bootstrap_metrics(y, proba, ecfg.bootstrap_resamples, ecfg.seed),
            ),
            (
                "paired bootstrap",
                lambda: metrics.paired_bootstrap(y, proba, champion, "roc_auc", ecfg.bootstrap_resamples, ecfg.seed),
            ),
            ("curves", lambda: metrics.classification_curves(y, proba)),
            ("all evidence incl. 7 slices", lambda: holdout_evidence(y, proba, holdout, config, champion, 1)),
        ):
            rows.append([f"  piece: {label}", f"{y.size} rows", f"{best_of(fn, 1):.2f}", ""])
    return rows


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain-text table."""
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]

    def line(cells: list[str]) -> str:
        return "  ".join(str(x).ljust(w) for x, w in zip(cells, widths))

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=200_000, help="holdout rows for the bootstrap timings")
    p.add_argument("--resamples", type=int, default=1000)
    p.add_argument("--repeat", type=int, default=3, help="runs per timing; the fastest is reported")
    p.add_argument("--old-metrics", type=Path, help="a copy of an older pipeline/modeling/metrics.py to time as well")
    p.add_argument("--snapshot-rows", type=int, default=1_000_000)
    p.add_argument("--skip-stage", action="store_true", help="only the bootstrap timings")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    print(f"Bootstrap: {args.resamples} resamples of {args.rows} rows (best of {args.repeat})")
    print(table(["approach", "metrics", "seconds", "note"], bench_bootstrap(args)))
    if not args.skip_stage:
        print(f"\nStages on a {args.snapshot_rows}-row snapshot")
        print(table(["step", "what", "seconds", "note"], bench_stage(args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
