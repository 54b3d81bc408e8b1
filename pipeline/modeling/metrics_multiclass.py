"""Multiclass metrics with fast, vectorised Poisson-bootstrap intervals.

Conventions: ``y_true`` holds class indices 0..k-1 into ``labels`` (the class names in
``dataset.classes`` order), ``proba`` the (n, k) class probabilities in that order, rows summing
to 1.  The predicted class is the first class of highest probability (``numpy.argmax``).  Values
match scikit-learn with ``labels=range(k)``: ``accuracy``, ``balanced_accuracy`` (mean recall
over the classes present in ``y_true``), ``f1_macro``/``f1_weighted`` (``zero_division=0``,
every class counts in the macro mean), ``log_loss`` (probabilities clipped to machine epsilon as
scikit-learn >= 1.5 does), ``roc_auc`` one-vs-rest macro, and ``recall[<class>]`` per class
(``zero_division=0``: 0 for a class with no rows).  scikit-learn has no ``roc_auc`` unless every
class is present (NaN with a warning; an error before 1.6); ours is the mean over the classes that
have both positive and negative rows (NaN if none has), which is scikit-learn's value whenever
scikit-learn has one.

**One formula for every weighting**, as in ``pipeline.modeling.metrics``: every metric is computed
from per-row weights (bootstrap counts, or 1 for the point values), for ``c`` weightings at once:

- the confusion-matrix metrics from the weight of each (true, predicted) cell: the rows are
  arranged once by cell, so a cell is a contiguous run and its weight one ``add.reduceat``;
- log loss as one dot product of the weights with each row's ``-log p[true]``;
- the one-vs-rest ROC AUC of class j from *bins*: the rows sorted by ``p[:, j]`` form alternating
  runs of negatives and positives (rows of class j), and the AUC needs only each run's weight.
  A positive run is credited with the negative weight below it (a tied negative counts one half,
  as in the binary module), so with the runs' weights ``N_0, P_0, N_1, P_1, ...``:
  AUC_j = sum_t P_t * (N_0 + ... + N_t) / (P * N).  The run weights of all ``c`` resamples are
  one sparse-matrix product ``S_j @ W`` (``S_j`` maps each row to its run; scipy's kernel is a
  gather-and-add of ``c`` contiguous uint16 weights per row), then a prefix sum over runs and a dot
  product.  Runs are cut every ``_MAX_RUN`` rows so a run's weight fits in uint16 exactly.

This is ``k`` passes over the rows per resample (each class has its own order) and it is the
dominant cost; the rest is one pass each.  The sample is arranged once per model
(:class:`_Arranged`, the classes' sorts on threads), so a bootstrap or a comparison sorts nothing
per resample.  Measured with ``bench/bench_multiclass_bootstrap.py`` on the 2-core development
machine (shared, load 1-2): all metrics, 10 classes, 1000 resamples x 200,000 rows in 1.6-2.4 s,
of which the sparse products take ~40%, the runs' prefix sums and dot products ~25%, drawing the
weights ~15%, the sorts ~8%; scikit-learn on resampled arrays would take ~750 s.

**The bootstrap is the shared Poisson bootstrap** of ``pipeline.modeling.resampling``: row k of
the arrangement (rows sorted stably by (true, predicted) cell) gets byte k of each resample's
stream, so results depend only on (data, seed), never on the chunking, and the first k resamples
are the same whatever ``n_resamples`` is.  A paired comparison scores the champion on the
challenger's arrangement, so both models see identical resample weights.  Where a ratio is
undefined the value follows scikit-learn's ``zero_division=0`` for recall, precision and F1; a
resample whose weights are all zero defines no metric (NaN), and those NaN are logged and left out
of the interval (:func:`~pipeline.modeling.resampling.warn_degenerate`).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from pipeline.core.errors import ConfigError, TrainingError
from pipeline.core.metric_names import MULTICLASS_METRICS, higher_is_better, per_class_recall
from pipeline.modeling.metrics import LOG_LOSS_EPS
from pipeline.modeling.resampling import (
    POISSON_CUTS,
    MetricEstimate,
    PairedDifference,
    Scratch,
    check_resampling,
    concat_chunks,
    draw_poisson_weights,
    is_reliable,
    map_chunks,
    paired_difference,
    percentile_interval,
    resolve_metrics,
    warn_degenerate,
)

logger = logging.getLogger(__name__)

ROW_SUM_TOLERANCE = 1e-4
"""How far a row of ``proba`` may sum from 1 (float32 model outputs are well within it)."""

_MAX_WEIGHT = len(POISSON_CUTS)  # the largest Poisson weight: a byte reaching every cut point
_MAX_RUN = int(np.iinfo(np.uint16).max) // _MAX_WEIGHT  # rows per bin, so a bin's weight fits in uint16
_CHUNK_BYTES_PER_CELL = 5  # sizes chunks for map_chunks: ~25 resamples at 200k rows measured fastest here
_LOG_LOSS_BLOCK = 8192  # rows per float64 block of the log-loss dot products (fixed: results never depend on c)

# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def _check_labels(labels: Sequence[str]) -> tuple[str, ...]:
    """The class names: at least two, unique."""
    if isinstance(labels, str):
        raise ConfigError(f"labels must be a sequence of class names, got the string {labels!r}.")
    names = tuple(str(c) for c in labels)
    if len(names) < 2:
        raise ConfigError(f"a multiclass evaluation needs at least two classes, got {list(names)}.")
    if len(set(names)) != len(names):
        raise ConfigError(f"class names must be unique, got {list(names)}.")
    return names


def _known_metrics(labels: tuple[str, ...]) -> tuple[str, ...]:
    """Every metric name for these classes, in display order."""
    return (*MULTICLASS_METRICS, *(per_class_recall(c) for c in labels))


def _resolve_metrics(metrics: Sequence[str] | None, labels: tuple[str, ...]) -> tuple[str, ...]:
    """Validate a metric selection; ``None`` means every metric, in display order."""
    return resolve_metrics(metrics, _known_metrics(labels), "multiclass ")


def _check_inputs(y_true: np.ndarray, proba: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (y as intp class indices, proba as float64 (n, k)), or raise TrainingError."""
    y = np.asarray(y_true)
    p = np.asarray(proba)
    if y.ndim != 1:
        raise TrainingError(f"y_true must be 1-D class indices, got shape {y.shape}.")
    if p.ndim != 2 or p.shape[1] != k:
        raise TrainingError(
            f"proba must have shape (n, {k}) (one column per class, in dataset.classes order), got {p.shape}."
        )
    if y.shape[0] != p.shape[0]:
        raise TrainingError(f"y_true has {y.shape[0]} rows but proba has {p.shape[0]}.")
    if y.shape[0] == 0:
        raise TrainingError("Cannot compute metrics on an empty sample.")
    if y.dtype == bool or not np.issubdtype(y.dtype, np.number):
        raise TrainingError(f"y_true must hold class indices 0..{k - 1}, got dtype {y.dtype}.")
    if not np.issubdtype(y.dtype, np.integer) and (not np.isfinite(y).all() or (y != np.round(y)).any()):
        raise TrainingError(f"y_true must hold integer class indices 0..{k - 1}.")
    bad = (y < 0) | (y >= k)
    if bad.any():
        raise TrainingError(f"y_true must hold class indices 0..{k - 1}; found e.g. {y[bad][:5].tolist()}.")
    try:
        p = p.astype(np.float64, copy=False)
    except (TypeError, ValueError) as exc:
        raise TrainingError(f"proba must be numeric, got dtype {p.dtype}.") from exc
    if not np.isfinite(p).all():
        raise TrainingError(f"proba holds {int((~np.isfinite(p)).sum())} NaN/inf value(s).")
    if p.min() < 0.0 or p.max() > 1.0:
        raise TrainingError(f"proba must lie in [0, 1], got range [{p.min():.6g}, {p.max():.6g}].")
    off = np.abs(p.sum(axis=1) - 1.0)
    if off.max() > ROW_SUM_TOLERANCE:
        row = int(off.argmax())
        raise TrainingError(
            f"proba rows must sum to 1 (class probabilities); row {row} sums to {p[row].sum():.6g} "
            f"and {int((off > ROW_SUM_TOLERANCE).sum())} row(s) are off by more than {ROW_SUM_TOLERANCE}."
        )
    return y.astype(np.intp), p


# --------------------------------------------------------------------------------------------
# Core: one model's rows arranged once; metrics from per-row weights
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _ClassBins:
    """The one-vs-rest ROC AUC of one class as runs of its order (see the module docstring).

    ``bin_of[t]`` is the bin of arrangement position t: bins 0..q are the negative runs
    N_0..N_q, bins q+1..2q the positive runs P_0..P_{q-1}, P_t lying above N_0..N_t.  A positive
    run tied with negatives is credited ``(CumN[lo] + CumN[hi]) / 2`` of the exclusive prefix sums
    of the negative runs; ``lo`` is None when no positive ties a negative (then lo = hi = t + 1).
    """

    cls: int
    q: int
    bin_of: np.ndarray
    lo: np.ndarray | None

    def matrix(self, dtype: Any) -> Any:
        """The (bins, n) 0/1 matrix mapping each arrangement position to its bin."""
        n = self.bin_of.shape[0]
        return sp.csc_array((np.ones(n, dtype=dtype), self.bin_of, np.arange(n + 1)), shape=(2 * self.q + 1, n))


def _class_bins(cls: int, scores: np.ndarray, positive: np.ndarray) -> _ClassBins:
    """Runs of one class's order, cut at ties with the other side and every ``_MAX_RUN`` rows."""
    n = scores.shape[0]
    order = np.argsort(scores)  # the order within a tie changes no sum
    s = scores[order]
    new_score = np.r_[True, s[1:] != s[:-1]]
    group = np.cumsum(new_score) - 1  # tie group of each sorted row
    ties = not new_score.all()
    if ties:
        order = order[np.argsort(2 * group + positive[order], kind="stable")]  # in a tie, negatives first
    pos = positive[order]
    # a new run where the side changes and, with ties, where a mixed tie group starts and where one ends
    brk = np.r_[True, pos[1:] != pos[:-1]]
    starts = np.flatnonzero(new_score)
    if ties:
        pos_in_group = np.add.reduceat(pos.astype(np.intp), starts)
        mixed = ((pos_in_group > 0) & (pos_in_group < np.diff(np.r_[starts, n])))[group]
        brk |= new_score & (mixed | np.r_[False, mixed[:-1]])
    else:
        mixed = np.zeros(n, dtype=bool)
    run_start = np.flatnonzero(brk)
    run_len = np.diff(np.r_[run_start, n])
    if run_len.max() > _MAX_RUN:  # cut long runs every _MAX_RUN rows
        within = np.arange(n) - np.repeat(run_start, run_len)
        brk |= (within % _MAX_RUN) == 0
    seg_start = np.flatnonzero(brk)
    seg_pos = pos[seg_start].astype(np.intp)
    # alternate N, P, N, P...: consecutive segments of one side get an empty bin between them
    step = np.r_[seg_pos[0], 1 + (seg_pos[1:] == seg_pos[:-1])]
    slot = np.cumsum(step)
    n_slots = int(slot[-1]) + 1
    q = n_slots // 2  # N_0..N_q, P_0..P_{q-1}: an empty last N bin when the top run is positive
    slot_bin = np.where(seg_pos == 1, q + 1 + slot // 2, slot // 2)
    seg_len = np.diff(np.r_[seg_start, n])
    bin_sorted = np.repeat(slot_bin, seg_len)
    bin_of = np.empty(n, dtype=np.int32)
    bin_of[order] = bin_sorted
    lo = None
    if ties and mixed[pos].any():
        # a tied positive run: lo = the first negative bin of its tie group (its negatives sort first)
        lo = np.arange(1, q + 1, dtype=np.intp)  # untied: CumN[t + 1]
        seg_slot = np.repeat(slot, seg_len)
        first_of_group = seg_slot[starts][group]  # slot of the group's first (negative) row
        tied_pos = mixed & pos
        t = (seg_slot[tied_pos] - 1) // 2
        lo[t] = first_of_group[tied_pos] // 2
    return _ClassBins(cls=cls, q=q, bin_of=bin_of, lo=lo)


@dataclass(frozen=True, eq=False)
class _Arranged:
    """One model's rows in the arrangement every weighting refers to.

    ``rows[t]`` is the original row at arrangement position t (byte t of each resample's stream
    weighs it).  For the model that defines the arrangement the rows are sorted by (true,
    predicted) cell and ``cell_order`` is None; a champion scored on the challenger's arrangement
    has ``cell_order``, the positions sorted by its own cells.  ``cell_starts``/``cell_true``/
    ``cell_pred`` describe the nonempty cells in that order.
    """

    n: int
    k: int
    rows: np.ndarray
    cell_order: np.ndarray | None
    cell_starts: np.ndarray
    cell_true: np.ndarray
    cell_pred: np.ndarray
    support: np.ndarray  # rows per class
    class_present: np.ndarray  # the classes with rows, ascending
    class_starts: np.ndarray  # where each one's rows start (the arrangement is sorted by true class)
    nll: np.ndarray  # -log p[true] per arrangement position
    bins: tuple[_ClassBins, ...]  # classes with rows of both sides


def _arrange(y: np.ndarray, p: np.ndarray, rows: np.ndarray | None = None, with_auc: bool = True) -> _Arranged:
    """Arrange a sample by cell, or in another model's arrangement ``rows`` (which is sorted by
    true class too), and precompute everything a weighting needs."""
    n, k = p.shape
    cell = (y * k + np.argmax(p, axis=1)).astype(np.uint16 if k * k <= 1 << 16 else np.intp)  # radix sort
    if rows is None:
        rows = np.argsort(cell, kind="stable")
        cell_order = None
        cells_sorted = cell[rows]
    else:
        cell_order = np.argsort(cell[rows], kind="stable")
        cells_sorted = cell[rows][cell_order]
    cell_starts = np.flatnonzero(np.r_[True, cells_sorted[1:] != cells_sorted[:-1]])
    present = cells_sorted[cell_starts]
    ya, pa = y[rows], p[rows]
    p_true = np.clip(pa[np.arange(n), ya], LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS)
    support = np.bincount(y, minlength=k)
    both_sides = [j for j in range(k) if 0 < support[j] < n] if with_auc else []
    # the classes' sorts are independent and numpy releases the GIL while sorting: threads halve this
    with ThreadPoolExecutor(max_workers=max(1, min(len(both_sides), os.cpu_count() or 1))) as pool:
        bins = tuple(pool.map(lambda j: _class_bins(j, np.ascontiguousarray(pa[:, j]), ya == j), both_sides))
    return _Arranged(
        n=n,
        k=k,
        rows=rows,
        cell_order=cell_order,
        cell_starts=cell_starts,
        cell_true=present // k,
        cell_pred=present % k,
        support=support,
        class_present=np.flatnonzero(support),
        class_starts=np.cumsum(np.r_[0, support])[:-1][support > 0],
        nll=-np.log(p_true),
        bins=bins,
    )


def _ratio(num: np.ndarray, den: np.ndarray, fill: float) -> np.ndarray:
    """num / den elementwise, with ``fill`` where den == 0."""
    out = np.full(np.broadcast(num, den).shape, fill, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _confusion(a: _Arranged, w: np.ndarray) -> np.ndarray:
    """(c, k, k) weight of rows of true class i predicted j, for weights ``w`` (c, n)."""
    if a.cell_order is not None:
        w = np.take(w, a.cell_order, axis=1)
    sums = np.add.reduceat(w, a.cell_starts, axis=1, dtype=_sum_dtypes(w, a.n)[0])
    out = np.zeros((w.shape[0], a.k, a.k), dtype=np.float64)
    out[:, a.cell_true, a.cell_pred] = sums
    return out


def _log_loss_sum(a: _Arranged, w: np.ndarray, scratch: Scratch) -> np.ndarray:
    """sum_t w[:, t] * nll[t] for each weighting, in fixed row blocks (one dot product per resample)."""
    total = np.zeros(w.shape[0])
    for start in range(0, a.n, _LOG_LOSS_BLOCK):
        block = w[:, start : start + _LOG_LOSS_BLOCK]
        total += np.vecdot(scratch.as_float("ll", block), a.nll[start : start + _LOG_LOSS_BLOCK])
    return total


def _sum_dtypes(w: np.ndarray, n: int) -> tuple[Any, Any]:
    """(sum dtype, product-sum dtype) for weights ``w`` of ``n`` rows: exact integers when ``w``'s
    dtype is an integer type whose sums (and the sum of two, for ties) cannot overflow int32,
    else float64."""
    if np.issubdtype(w.dtype, np.integer) and 2 * int(np.iinfo(w.dtype).max) * (n + 1) < np.iinfo(np.int32).max:
        return np.int32, np.int64
    return np.float64, np.float64


def _class_auc(
    b: _ClassBins, matrix: Any, wt: np.ndarray, pos_total: np.ndarray, scratch: Scratch, dtypes: tuple[Any, Any]
) -> np.ndarray:
    """One class's one-vs-rest ROC AUC for weights ``wt`` (n, c) in the arrangement's order.

    ``pos_total`` is the class's weight in each weighting (from the confusion matrix), ``dtypes``
    come from :func:`_sum_dtypes` of the weights before their (wider) transposed copy.
    """
    binned = matrix @ wt  # (bins, c): the weight of every run
    c, q = wt.shape[1], b.q
    work, acc = dtypes
    # resamples as rows, each in its own contiguous buffer: numpy's row-wise passes are fast there
    neg = scratch.get("negruns", (c, q + 1), work)
    pos = scratch.get("posruns", (c, q), work)
    np.copyto(neg, binned[: q + 1].T, casting="unsafe")
    np.copyto(pos, binned[q + 1 :].T, casting="unsafe")
    cum = scratch.get("cumneg", (c, q + 1), work)  # cum[:, t]: negative weight of runs N_0..N_t
    np.cumsum(neg, axis=1, out=cum)
    # einsum, not vecdot: vecdot is ~1000x slower on these row slices (numpy 2.4)
    if b.lo is None:
        num = np.einsum("ij,ij->i", pos, cum[:, :q], dtype=acc).astype(np.float64)
    else:  # a tied run: (negatives below its tie group + negatives up to and with it) / 2
        credit = np.take(cum, np.maximum(b.lo - 1, 0), axis=1)
        credit[:, b.lo == 0] = 0
        credit += cum[:, :q]
        num = 0.5 * np.einsum("ij,ij->i", pos, credit, dtype=acc).astype(np.float64)
    neg_total = cum[:, q].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = num / (pos_total * neg_total)
    auc[(pos_total <= 0) | (neg_total <= 0)] = np.nan
    return auc


def _metrics_from_weights(
    a: _Arranged,
    w: np.ndarray,
    names: tuple[str, ...],
    labels: tuple[str, ...],
    scratch: Scratch,
    matrices: list[Any],
    wt_dtype: Any,
) -> dict[str, np.ndarray]:
    """Every requested metric for ``c`` weightings ``w`` (c, n) in ``a``'s arrangement -> (c,) each."""
    c = w.shape[0]
    out: dict[str, np.ndarray] = {}
    if any(name not in ("log_loss", "roc_auc") for name in names):
        conf = _confusion(a, w)
        support = conf.sum(axis=2)  # (c, k) weight of rows per true class
        predicted = conf.sum(axis=1)
        tp = np.diagonal(conf, axis1=1, axis2=2)
        recall = _ratio(tp, support, 0.0)
    else:  # only the class weights: contiguous blocks of the arrangement, whatever the model predicts
        support = np.zeros((c, a.k))
        support[:, a.class_present] = np.add.reduceat(w, a.class_starts, axis=1, dtype=_sum_dtypes(w, a.n)[0])
    total = support.sum(axis=1)
    if "accuracy" in names:
        out["accuracy"] = _ratio(tp.sum(axis=1), total, np.nan)
    if "balanced_accuracy" in names:
        present = support > 0
        out["balanced_accuracy"] = _ratio((recall * present).sum(axis=1), present.sum(axis=1).astype(float), np.nan)
    if "f1_macro" in names or "f1_weighted" in names:
        f1 = _ratio(2.0 * tp, support + predicted, 0.0)
        if "f1_macro" in names:
            out["f1_macro"] = f1.mean(axis=1)
        if "f1_weighted" in names:
            out["f1_weighted"] = _ratio((f1 * support).sum(axis=1), total, np.nan)
    for j, label in enumerate(labels):
        name = per_class_recall(label)
        if name in names:
            out[name] = recall[:, j].copy()
    if "log_loss" in names:
        out["log_loss"] = _ratio(_log_loss_sum(a, w, scratch), total, np.nan)
    if "roc_auc" in names:
        if a.bins:
            wt = scratch.get("wt", (a.n, c), wt_dtype)
            np.copyto(wt, w.T, casting="unsafe")
            dtypes = _sum_dtypes(w, a.n)
            per_class = np.stack(
                [_class_auc(b, m, wt, support[:, b.cls], scratch, dtypes) for b, m in zip(a.bins, matrices)]
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all NaN: no class has both sides
                out["roc_auc"] = np.nanmean(per_class, axis=0)
        else:
            out["roc_auc"] = np.full(c, np.nan)
    empty = total <= 0  # an all-zero weighting defines no metric at all
    if empty.any():
        for vals in out.values():
            vals[empty] = np.nan
    return {name: out[name] for name in names}


def _matrices(a: _Arranged, names: tuple[str, ...], dtype: Any) -> list[Any]:
    """The run matrices of ``a``'s classes (only when ROC AUC is asked for)."""
    return [b.matrix(dtype) for b in a.bins] if "roc_auc" in names else []


def _point(a: _Arranged, names: tuple[str, ...], labels: tuple[str, ...]) -> dict[str, float]:
    """Metrics on the full (unit-weight) sample."""
    ones = np.ones((1, a.n), dtype=np.uint8)
    values = _metrics_from_weights(a, ones, names, labels, Scratch(), _matrices(a, names, np.uint16), np.uint16)
    return {name: float(v[0]) for name, v in values.items()}


# --------------------------------------------------------------------------------------------
# Public: point metrics, weighted metrics
# --------------------------------------------------------------------------------------------


def multiclass_metrics(
    y_true: np.ndarray, proba: np.ndarray, labels: Sequence[str], metrics: Sequence[str] | None = None
) -> dict[str, float]:
    """The multiclass metrics on the full sample (``metrics=None``: all, then each class's recall).

    Same code path as the bootstrap, so point values and intervals never disagree; values match
    scikit-learn (see the module docstring for the exact definitions).
    """
    names_labels = _check_labels(labels)
    names = _resolve_metrics(metrics, names_labels)
    y, p = _check_inputs(y_true, proba, len(names_labels))
    return _point(_arrange(y, p, with_auc="roc_auc" in names), names, names_labels)


def weighted_multiclass_metrics(
    y_true: np.ndarray,
    proba: np.ndarray,
    labels: Sequence[str],
    weights: np.ndarray,
    metrics: Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """The metrics for B row weightings at once: ``weights`` (B, n) nonnegative, in row order.

    Row b of ``weights`` gives each row's multiplicity in weighting b, so integer weights give the
    metric of the explicitly repeated sample and any weights scikit-learn's ``sample_weight`` value.
    """
    names_labels = _check_labels(labels)
    names = _resolve_metrics(metrics, names_labels)
    y, p = _check_inputs(y_true, proba, len(names_labels))
    w = np.asarray(weights)
    if w.ndim == 1:
        w = w[None, :]
    if w.ndim != 2 or w.shape[1] != y.shape[0]:
        raise TrainingError(f"weights must have shape (B, {y.shape[0]}), got {np.asarray(weights).shape}.")
    if not (np.issubdtype(w.dtype, np.number) or w.dtype == bool):
        raise TrainingError(f"weights must be numeric, got dtype {w.dtype}.")
    w = w.astype(np.float64)
    if w.size and (not np.isfinite(w).all() or (w < 0).any()):
        raise TrainingError("weights must be finite and nonnegative.")
    a = _arrange(y, p, with_auc="roc_auc" in names)
    matrices = _matrices(a, names, np.float64)
    return _metrics_from_weights(a, w[:, a.rows], names, names_labels, Scratch(), matrices, np.float64)


# --------------------------------------------------------------------------------------------
# Public: bootstrap and comparison
# --------------------------------------------------------------------------------------------


def _map_chunks(n: int, n_resamples: int, job: Any) -> list[Any]:
    """:func:`map_chunks` with larger chunks than the binary module's: the scratch is ~5 bytes a
    cell, not 40, and the run sums read each row's weights once per class, so the more resamples
    share a read the better -- until the weights (n x chunk uint16) no longer fit the L3 cache."""
    return map_chunks(max(1, n * _CHUNK_BYTES_PER_CELL // 40), n_resamples, job)


def multiclass_weights(
    y_true: np.ndarray, proba: np.ndarray, labels: Sequence[str], n_resamples: int, seed: int = 0
) -> np.ndarray:
    """The (n_resamples, n) uint8 bootstrap weights :func:`multiclass_replicates` uses, in row order.

    So ``weighted_multiclass_metrics(y, p, labels, multiclass_weights(y, p, labels, B, seed))``
    reproduces ``multiclass_replicates(y, p, labels, B, seed)``.  Materialises B x n: for tests.
    """
    check_resampling(n_resamples, seed=seed)
    y, p = _check_inputs(y_true, proba, len(_check_labels(labels)))
    a = _arrange(y, p, with_auc=False)
    out = np.empty((n_resamples, a.n), dtype=np.uint8)

    def job(start: int, stop: int, scratch: Scratch) -> None:
        out[start:stop, a.rows] = draw_poisson_weights(a.n, start, stop, seed, scratch)

    _map_chunks(a.n, n_resamples, job)
    return out


def _replicates(
    a: _Arranged, n_resamples: int, seed: int, names: tuple[str, ...], labels: tuple[str, ...]
) -> dict[str, np.ndarray]:
    """Bootstrap replicates of the named metrics for an arranged sample."""
    matrices = _matrices(a, names, np.uint16)

    def job(start: int, stop: int, scratch: Scratch) -> dict[str, np.ndarray]:
        w = draw_poisson_weights(a.n, start, stop, seed, scratch)
        return _metrics_from_weights(a, w, names, labels, scratch, matrices, np.uint16)

    return concat_chunks(_map_chunks(a.n, n_resamples, job), names)


def multiclass_replicates(
    y_true: np.ndarray,
    proba: np.ndarray,
    labels: Sequence[str],
    n_resamples: int = 1000,
    seed: int = 0,
    metrics: Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """Each requested metric on ``n_resamples`` Poisson-bootstrap resamples: {metric: (B,)}."""
    names_labels = _check_labels(labels)
    names = _resolve_metrics(metrics, names_labels)
    check_resampling(n_resamples, seed=seed)
    y, p = _check_inputs(y_true, proba, len(names_labels))
    return _replicates(_arrange(y, p, with_auc="roc_auc" in names), n_resamples, seed, names, names_labels)


def _estimates(
    point: dict[str, float], reps: dict[str, np.ndarray], confidence: float, a: _Arranged
) -> dict[str, MetricEstimate]:
    """Point values with percentile intervals of their replicates, and the sample size behind them."""
    minority = int(a.support.min())
    reliable = is_reliable(a.n, minority)
    result: dict[str, MetricEstimate] = {}
    for name, values in reps.items():
        warn_degenerate(name, values)
        lower, upper, std = percentile_interval(values, confidence)
        result[name] = MetricEstimate(
            value=point[name], lower=lower, upper=upper, std=std, n=a.n, minority=minority, reliable=reliable
        )
    return result


def bootstrap_multiclass(
    y_true: np.ndarray,
    proba: np.ndarray,
    labels: Sequence[str],
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    metrics: Sequence[str] | None = None,
) -> dict[str, MetricEstimate]:
    """Each metric on the full sample with a percentile Poisson-bootstrap interval.

    ``value`` is the metric on the full sample; ``lower``/``upper`` the (1 - confidence)/2 and
    (1 + confidence)/2 percentiles of the replicates (degenerate NaN resamples left out, and
    logged); ``minority`` is the row count of the rarest class among ``labels`` (0 if one has no
    rows, which marks the estimate unreliable).
    """
    names_labels = _check_labels(labels)
    names = _resolve_metrics(metrics, names_labels)
    check_resampling(n_resamples, confidence, seed)
    y, p = _check_inputs(y_true, proba, len(names_labels))
    a = _arrange(y, p, with_auc="roc_auc" in names)
    reps = _replicates(a, n_resamples, seed, names, names_labels)
    return _estimates(_point(a, names, names_labels), reps, float(confidence), a)


def compare_multiclass(
    y_true: np.ndarray,
    proba_challenger: np.ndarray,
    proba_champion: np.ndarray,
    labels: Sequence[str],
    metric: str = "roc_auc",
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    metrics: Sequence[str] | None = None,
) -> tuple[dict[str, MetricEstimate], PairedDifference]:
    """:func:`bootstrap_multiclass` of the challenger and its paired difference from the champion
    on ``metric``, from one pass over the resamples.

    The champion is scored on the challenger's arrangement, so each row has the same weight for
    both models in every resample and the shared sampling noise cancels.  The difference is
    oriented so positive means the challenger is better (champion - challenger for log_loss).
    """
    names_labels = _check_labels(labels)
    if not isinstance(metric, str):
        raise ConfigError(f"metric must be one metric name, got {metric!r}.")
    primary = _resolve_metrics((metric,), names_labels)[0]
    requested = _resolve_metrics(metrics, names_labels)
    names = requested if primary in requested else (*requested, primary)
    check_resampling(n_resamples, confidence, seed)
    k = len(names_labels)
    y, p_ch = _check_inputs(y_true, proba_challenger, k)
    _, p_champ = _check_inputs(y_true, proba_champion, k)
    if p_champ.shape != p_ch.shape:
        raise TrainingError(f"the champion scored {p_champ.shape[0]} rows, the challenger {p_ch.shape[0]}.")
    a_ch = _arrange(y, p_ch, with_auc="roc_auc" in names)
    a_champ = _arrange(y, p_champ, rows=a_ch.rows, with_auc=primary == "roc_auc")
    m_ch = _matrices(a_ch, names, np.uint16)
    m_champ = _matrices(a_champ, (primary,), np.uint16)
    champion_key = "\0champion"

    def job(start: int, stop: int, scratch: Scratch) -> dict[str, np.ndarray]:
        w = draw_poisson_weights(a_ch.n, start, stop, seed, scratch)
        out = _metrics_from_weights(a_ch, w, names, names_labels, scratch, m_ch, np.uint16)
        champ = _metrics_from_weights(a_champ, w, (primary,), names_labels, scratch, m_champ, np.uint16)
        out[champion_key] = champ[primary]
        return out

    reps = concat_chunks(_map_chunks(a_ch.n, n_resamples, job), (*names, champion_key))
    champion_reps = reps.pop(champion_key)
    point = _point(a_ch, names, names_labels)
    champion = _point(a_champ, (primary,), names_labels)[primary]
    paired = paired_difference(
        primary,
        point[primary],
        champion,
        reps[primary],
        champion_reps,
        confidence,
        n_resamples,
        higher_is_better=higher_is_better(primary),
    )
    estimates = _estimates(point, {name: reps[name] for name in requested}, float(confidence), a_ch)
    return estimates, paired


# --------------------------------------------------------------------------------------------
# Public: report data
# --------------------------------------------------------------------------------------------


def _round(value: float) -> float | None:
    """A value for a JSON report, 4 decimals; None where undefined (NaN)."""
    return None if np.isnan(value) else round(float(value), 4)


def multiclass_curves(y_true: np.ndarray, proba: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """The confusion matrix and per-class precision, recall, F1 and one-vs-rest ROC AUC.

    ``confusion.matrix[i][j]`` counts rows of true class i predicted j (classes in ``labels``
    order).  Each ``per_class`` entry has the class name, its row count (``support``) and the
    values scikit-learn gives with ``zero_division=0``; ``roc_auc`` is None for a class with no
    rows or only rows (one-vs-rest needs both sides).
    """
    names_labels = _check_labels(labels)
    k = len(names_labels)
    y, p = _check_inputs(y_true, proba, k)
    a = _arrange(y, p)
    conf = _confusion(a, np.ones((1, a.n), dtype=np.uint8))[0]
    support, predicted, tp = conf.sum(axis=1), conf.sum(axis=0), np.diagonal(conf)
    precision = _ratio(tp, predicted, 0.0)
    recall = _ratio(tp, support, 0.0)
    f1 = _ratio(2.0 * tp, support + predicted, 0.0)
    auc = np.full(k, np.nan)
    if a.bins:
        wt = np.ones((a.n, 1), dtype=np.uint16)
        scratch = Scratch()
        dtypes = _sum_dtypes(np.ones(1, dtype=np.uint8), a.n)
        for b in a.bins:
            auc[b.cls] = _class_auc(b, b.matrix(np.uint16), wt, support[b.cls : b.cls + 1], scratch, dtypes)[0]
    return {
        "confusion": {"labels": list(names_labels), "matrix": conf.astype(np.int64).tolist()},
        "per_class": [
            {
                "class": names_labels[j],
                "support": int(support[j]),
                "precision": _round(precision[j]),
                "recall": _round(recall[j]),
                "f1": _round(f1[j]),
                "roc_auc": _round(auc[j]),
            }
            for j in range(k)
        ],
    }
