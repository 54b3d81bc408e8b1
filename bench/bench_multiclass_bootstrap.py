"""Benchmark the multiclass bootstrap: every metric family, and what scikit-learn takes for the same.

    .venv/bin/python -m bench.bench_multiclass_bootstrap [--rows 200000] [--classes 10] [--resamples 1000]
                                                         [--sklearn-resamples 20] [--repeat 2]

Target (issue 16): the bootstrap of all multiclass metrics, 10 classes, 1000 resamples x 200,000
rows, under 2 s on the 2-core development machine.  One row per metric family of
``pipeline.modeling.metrics_multiclass`` (drawing the weights alone; the confusion-matrix
metrics; log loss; the one-vs-rest ROC AUC; all of them; the comparison with a champion), each
beside the time scikit-learn takes -- a loop of ``--sklearn-resamples`` resamples drawn with
replacement and scored by ``sklearn.metrics``, extrapolated to ``--resamples`` -- which is what a
user would write instead.  The data are softmax probabilities of noisy logits with a signal for
the true class, so ranks are realistic (classes overlap) and without ties.
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

from pipeline.core.metric_names import MULTICLASS_METRICS, per_class_recall
from pipeline.modeling import metrics_multiclass as mc
from pipeline.modeling.resampling import Scratch, chunk_size, draw_poisson_weights

logger = logging.getLogger("bench.multiclass_bootstrap")


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Fastest wall and CPU time of ``repeat`` runs (the machine is shared, so the minimum is the
    signal; the CPU time of this process shows what other processes' load hides in the wall time)."""
    walls, cpus = [], []
    for _ in range(repeat):
        started, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def make_data(n: int, k: int, seed: int, signal: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """Class indices and softmax probabilities of noisy logits, the true class's raised by ``signal``."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += signal
    proba = np.exp(logits)
    proba /= proba.sum(axis=1, keepdims=True)
    return y, proba


def sklearn_family(y: np.ndarray, proba: np.ndarray, family: str, k: int) -> None:
    """One resample's metrics of ``family`` the scikit-learn way (on the resampled arrays)."""
    labels = list(range(k))
    pred = proba.argmax(axis=1)
    if family in ("confusion", "all"):
        skm.accuracy_score(y, pred)
        skm.balanced_accuracy_score(y, pred)
        skm.f1_score(y, pred, labels=labels, average="macro", zero_division=0)
        skm.f1_score(y, pred, labels=labels, average="weighted", zero_division=0)
        skm.recall_score(y, pred, labels=labels, average=None, zero_division=0)
    if family in ("log_loss", "all"):
        skm.log_loss(y, proba, labels=labels)
    if family in ("roc_auc", "all"):
        skm.roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=labels)


def sklearn_seconds(y: np.ndarray, proba: np.ndarray, family: str, k: int, resamples: int, target: int) -> float:
    """Time of ``resamples`` classic bootstrap resamples scored by scikit-learn, scaled to ``target``."""
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    for _ in range(resamples):
        idx = rng.integers(0, y.shape[0], y.shape[0])
        sklearn_family(y[idx], proba[idx], family, k)
    return (time.perf_counter() - started) * target / resamples


def draw_only(n: int, n_resamples: int) -> None:
    """Draw the Poisson weights of every resample, chunk by chunk, and nothing else."""
    scratch = Scratch()
    chunk = chunk_size(max(1, n * mc._CHUNK_BYTES_PER_CELL // 40))  # as the module chunks
    for start in range(0, n_resamples, chunk):
        draw_poisson_weights(n, start, min(start + chunk, n_resamples), 0, scratch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--sklearn-resamples", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    n, k, b = args.rows, args.classes, args.resamples
    y, proba = make_data(n, k, seed=1)
    _, champion = make_data(n, k, seed=2)
    champion = 0.5 * champion + 0.5 * proba  # a related model, as a champion is
    labels = [f"class_{j}" for j in range(k)]
    recalls = tuple(per_class_recall(c) for c in labels)
    families: list[tuple[str, str, Callable[[], Any]]] = [
        ("draw weights only", "", lambda: draw_only(n, b)),
        (
            "confusion (acc, bal_acc, f1 x2, recalls)",
            "confusion",
            lambda: mc.bootstrap_multiclass(
                y, proba, labels, b, metrics=("accuracy", "balanced_accuracy", "f1_macro", "f1_weighted", *recalls)
            ),
        ),
        ("log_loss", "log_loss", lambda: mc.bootstrap_multiclass(y, proba, labels, b, metrics=("log_loss",))),
        (
            "roc_auc (one-vs-rest macro)",
            "roc_auc",
            lambda: mc.bootstrap_multiclass(y, proba, labels, b, metrics=("roc_auc",)),
        ),
        ("ALL metrics (target < 2 s)", "all", lambda: mc.bootstrap_multiclass(y, proba, labels, b)),
        (
            "compare: all + paired roc_auc",
            "",
            lambda: mc.compare_multiclass(y, proba, champion, labels, metric="roc_auc", n_resamples=b),
        ),
    ]
    logging.getLogger("pipeline.modeling.metrics").setLevel(logging.ERROR)  # degenerate-resample notes
    load = os.getloadavg()[0]
    logger.info(
        "multiclass bootstrap: %d rows x %d classes x %d resamples; %d cpus, load average %.2f",
        n,
        k,
        b,
        os.cpu_count() or 0,
        load,
    )
    logger.info(
        "%-42s %10s %10s %22s", "metric family", "wall (s)", "cpu (s)", f"sklearn {args.sklearn_resamples}->{b} (s)"
    )
    for label, family, fn in families:
        wall, cpu = best_of(fn, args.repeat)
        theirs = sklearn_seconds(y, proba, family, k, args.sklearn_resamples, b) if family else float("nan")
        shown = f"{theirs:22.1f}" if family else f"{'-':>22}"
        logger.info("%-42s %10.3f %10.3f %s", label, wall, cpu, shown)
    logger.info("load average after: %.2f", os.getloadavg()[0])
    logger.info("(all metrics = %s and one recall per class)", ", ".join(MULTICLASS_METRICS))


if __name__ == "__main__":
    main()
