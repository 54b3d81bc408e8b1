"""Benchmark the regression bootstrap: all five metrics, 1000 resamples of 200k rows.

    .venv/bin/python -m bench.bench_regression_bootstrap [--rows 200000] [--resamples 1000]
                                                        [--sklearn-resamples 20] [--repeat 3]

Target (issue 16): RMSE, MAE, R^2, MAPE and median absolute error with their 1000-resample
intervals on 200k rows in under 2 s on the 2-core development machine.  One row per approach:

* ``pipeline.modeling.metrics_regression.bootstrap_regression`` (Poisson weights, one
  arrangement by absolute error, blocked prefix sums for the median), all metrics and each alone;
* ``compare_regression`` (the challenger's five metrics plus the paired difference from a
  champion on the same resamples), with RMSE and with the median as the compared metric;
* what a user would write instead: scikit-learn's five metric functions with ``sample_weight``
  set to Poisson(1) counts, once per resample -- timed on ``--sklearn-resamples`` resamples and
  scaled to ``--resamples``;
* the classic bootstrap with numpy (draw n row indices, index, reduce) -- timed the same way.

The machine's core count and load are printed with the table, since the numbers mean little
without them.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn import metrics as skm

from pipeline.core.metric_names import REGRESSION_METRICS
from pipeline.modeling import metrics_regression as mr


def best_of(fn: Callable[[], Any], repeat: int) -> float:
    """Fastest wall time of ``repeat`` runs (the machine is shared, so the minimum is the signal)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def sklearn_with_weights(y: np.ndarray, p: np.ndarray, n_resamples: int, seed: int) -> dict[str, np.ndarray]:
    """One call per metric and resample, scikit-learn's ``sample_weight`` holding Poisson counts."""
    rng = np.random.default_rng(seed)
    out = {name: np.empty(n_resamples) for name in REGRESSION_METRICS}
    for b in range(n_resamples):
        w = rng.poisson(1.0, y.size).astype(np.float64)
        out["rmse"][b] = skm.root_mean_squared_error(y, p, sample_weight=w)
        out["mae"][b] = skm.mean_absolute_error(y, p, sample_weight=w)
        out["r2"][b] = skm.r2_score(y, p, sample_weight=w)
        out["mape"][b] = skm.mean_absolute_percentage_error(y, p, sample_weight=w)
        out["median_ae"][b] = skm.median_absolute_error(y, p, sample_weight=w)
    return out


def numpy_index_resampling(y: np.ndarray, p: np.ndarray, n_resamples: int, seed: int) -> dict[str, np.ndarray]:
    """The textbook bootstrap: n row indices with replacement, then each metric on the copy."""
    rng = np.random.default_rng(seed)
    out = {name: np.empty(n_resamples) for name in REGRESSION_METRICS}
    for b in range(n_resamples):
        idx = rng.integers(0, y.size, y.size)
        yb, pb = y[idx], p[idx]
        err = pb - yb
        abs_err = np.abs(err)
        sse = float(err @ err)
        out["rmse"][b] = np.sqrt(sse / y.size)
        out["mae"][b] = abs_err.mean()
        out["r2"][b] = 1.0 - sse / float(((yb - yb.mean()) ** 2).sum())
        out["mape"][b] = (abs_err / np.abs(yb)).mean()
        out["median_ae"][b] = np.median(abs_err)
    return out


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain-text table."""
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]

    def line(cells: list[str]) -> str:
        return "  ".join(str(x).ljust(w) for x, w in zip(cells, widths))

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def run(args: argparse.Namespace) -> list[list[str]]:
    """Time every approach; return the table rows."""
    rng = np.random.default_rng(args.seed)
    y = rng.lognormal(3.0, 0.7, args.rows)  # a skewed positive target (prices, durations)
    p = y * rng.lognormal(0.0, 0.25, args.rows) + rng.normal(0.0, 2.0, args.rows)
    champion = y * rng.lognormal(0.0, 0.3, args.rows)
    B, k = args.resamples, args.sklearn_resamples
    rows: list[list[str]] = []

    def add(approach: str, what: str, seconds: float, note: str = "") -> None:
        rows.append([approach, what, f"{seconds:.3f}", f"{1000.0 * seconds / B:.2f}", note])

    mr.bootstrap_regression(y[:1000], p[:1000], n_resamples=5)  # warm up imports and caches
    t_all = best_of(lambda: mr.bootstrap_regression(y, p, n_resamples=B, seed=1), args.repeat)
    add("ours: bootstrap_regression", "all 5", t_all, "target < 2 s" + (" (met)" if t_all < 2.0 else " (MISSED)"))
    for name in REGRESSION_METRICS:
        add(
            "ours: bootstrap_regression",
            name,
            best_of(lambda n=name: mr.bootstrap_regression(y, p, n_resamples=B, seed=1, metrics=[n]), args.repeat),
        )
    for metric in ("rmse", "median_ae"):
        t = best_of(
            lambda m=metric: mr.compare_regression(y, p, champion, metric=m, n_resamples=B, seed=1), args.repeat
        )
        add("ours: compare_regression", f"all 5 + paired {metric}", t)

    t_sk = best_of(lambda: sklearn_with_weights(y, p, k, args.seed), 1) * B / k
    add("scikit-learn, sample_weight", "all 5", t_sk, f"{k} resamples x {B // k}; {t_sk / t_all:.0f}x ours")
    t_np = best_of(lambda: numpy_index_resampling(y, p, k, args.seed), 1) * B / k
    add("numpy index resampling", "all 5", t_np, f"{k} resamples x {B // k}; {t_np / t_all:.0f}x ours")

    # the same numbers: ours on one weighting against scikit-learn with the same weights
    w = rng.poisson(1.0, args.rows)
    ours = mr.weighted_regression_metrics(y, p, w)
    ref = {
        "rmse": skm.root_mean_squared_error(y, p, sample_weight=w),
        "mae": skm.mean_absolute_error(y, p, sample_weight=w),
        "r2": skm.r2_score(y, p, sample_weight=w),
        "mape": skm.mean_absolute_percentage_error(y, p, sample_weight=w),
        "median_ae": skm.median_absolute_error(y, p, sample_weight=w),
    }
    worst = max(abs(float(ours[name][0]) - ref[name]) for name in REGRESSION_METRICS)
    rows.append(["check: ours vs scikit-learn, one weighting", "all 5", "", "", f"max |difference| {worst:.1e}"])
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--sklearn-resamples", type=int, default=20, help="resamples timed for the slow baselines")
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing of ours; the fastest is reported")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"Regression bootstrap: {args.resamples} resamples of {args.rows} rows (best of {args.repeat})")
    print(f"machine: {cores} cores usable, load average {load}")
    print(table(["approach", "metrics", "seconds", "ms/resample", "note"], run(args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
