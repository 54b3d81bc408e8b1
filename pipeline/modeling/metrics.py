"""Binary-classification metrics with fast, vectorised bootstrap intervals.

**One formula for every weighting.** Each metric is computed from per-row *weights*, with the
rows of one model arranged once by class and ascending score (:class:`_Ranked`).  With the
negatives' weights ``wn`` (c, N-) and the positives' ``wp`` (c, N+) in that order, their
exclusive prefix sums ``Cn`` and ``Cp``, P and N the total positive and negative weight:

- ROC AUC = sum_i wp_i * (Cn[lo_i] + Cn[hi_i]) / 2 / (P * N), where lo_i (hi_i) counts the
  negatives scored below (not above) positive i: a tied pair counts one half (trapezoidal ROC);
- average precision = sum_i wp_i * TP_i / (TP_i + FP_i) / P, with TP_i and FP_i the positive and
  negative weight scored at or above positive i (tied scores are one threshold), which is
  scikit-learn's step-wise ``average_precision_score``;
- the threshold metrics from TN = Cn[negatives below t] and FN = Cp[positives below t];
- log loss and Brier score as weighted means (one matrix-vector product per class).

So ``c`` weightings are evaluated at once with a handful of array operations (prefix sums, one
gather, dot products) and no Python loop over resamples.  The same code computes the point
estimates (unit weights), :func:`weighted_metrics` (any nonnegative weights) and the bootstrap.

**The bootstrap is the Poisson bootstrap** (Hanley & MacGibbon 2006; Chamandy et al. 2012):
instead of drawing n rows with replacement (multinomial counts, drawn row by row), every row gets
an independent weight with mean 1 and variance 1.  Multinomial counts are asymptotically
independent Poisson(1) variables, so both give the same intervals for large n; what the
percentile interval relies on, the first two moments of the weights, holds exactly.  The total
weight of a resample varies (about n +/- sqrt(n)); every metric here is a ratio or a weighted
mean, so that does not matter.  The weights come from one random byte per row: the weight is the
number of cut points ``_POISSON_CUTS`` = (94, 189, 235, 251, 255) that the byte reaches, so
P(w = k) = (94, 95, 46, 16, 4, 1) / 256 for k = 0..5 -- a 256-point version of Poisson(1) with
mean and variance exactly 1, third central moment 0.984 (Poisson: 1) and no probability more
than 0.005 away from Poisson(1)'s.  A byte per row and five vector comparisons are what make
1000 resamples of 200k rows take a fraction of a second.

Resample b reads its bytes from its own stream ``SFC64(SeedSequence(seed, spawn_key=(b,)))``:
byte k goes to the k-th negative in ascending-score order, then on to the positives.  Results
therefore depend only on (data, seed), never on the chunking, and the
first k resamples are the same whatever ``n_resamples`` is.  A paired comparison gives each row
the weight it got in the challenger's arrangement, so both models see identical resamples.
Work is done in chunks of resamples small enough for a chunk's scratch to stay in cache (the
passes are memory-bound: in cache they run several times faster), with the buffers reused
between chunks (fresh large arrays cost page faults), and with BLAS held to one thread meanwhile
(its idle threads spin and steal the core the loop runs on).

Conventions: ``y_true`` holds 0/1 labels, ``proba`` the predicted probability of class 1, a row
is predicted positive when ``proba >= threshold``.  Where a ratio is undefined the value follows
scikit-learn's ``zero_division`` default (0.0) for precision, recall and F1, is NaN for ROC AUC
and average precision (no positives or no negatives), and NaN for every metric when the total
weight is zero.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.core.errors import ConfigError, TrainingError
from pipeline.core.metric_names import HIGHER_IS_BETTER, METRIC_NAMES
from pipeline.modeling.resampling import (
    MetricEstimate,
    PairedDifference,
    Scratch,
    check_resampling,
    chunk_size,
    concat_chunks,
    is_reliable,
    map_chunks,
    paired_difference,
    percentile_interval,
    poisson_weights_from_bytes,
    random_bytes,
    resolve_metrics,
    warn_degenerate,
)

logger = logging.getLogger(__name__)

LOG_LOSS_EPS: float = float(np.finfo(np.float64).eps)
"""Probabilities are clipped to ``[eps, 1 - eps]`` before taking logs.

Machine epsilon (~2.2e-16), as scikit-learn >= 1.5 does, so log loss agrees with
``sklearn.metrics.log_loss`` even for models that output exactly 0 or 1."""

_TINY = float(np.finfo(np.float64).tiny)

# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def _resolve_metrics(metrics: Sequence[str] | None) -> tuple[str, ...]:
    """Validate a metric selection; ``None`` means all of METRIC_NAMES, in canonical order."""
    return resolve_metrics(metrics, METRIC_NAMES)


def _check_threshold(threshold: float) -> float:
    """A decision threshold must be a finite number in [0, 1]."""
    t = float(threshold)
    if not (np.isfinite(t) and 0.0 <= t <= 1.0):
        raise ConfigError(f"threshold must be in [0, 1], got {threshold!r}.")
    return t


def _check_binary_inputs(y_true: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (y as int8 0/1, proba as float64), or raise TrainingError on bad shapes/values."""
    y = np.asarray(y_true)
    p = np.asarray(proba)
    if y.ndim != 1 or p.ndim != 1:
        raise TrainingError(
            f"y_true and proba must be 1-D, got shapes {y.shape} and {p.shape}; pass the probability of class 1 only."
        )
    if y.shape[0] != p.shape[0]:
        raise TrainingError(f"y_true has {y.shape[0]} rows but proba has {p.shape[0]}.")
    if y.shape[0] == 0:
        raise TrainingError("Cannot compute metrics on an empty sample.")
    if y.dtype == bool:
        y = y.astype(np.int8)
    elif not np.issubdtype(y.dtype, np.number):
        raise TrainingError(f"y_true must hold 0/1 labels, got dtype {y.dtype}.")
    is_binary = (y == 0) | (y == 1)
    if not is_binary.all():
        bad = y[~is_binary][:5]
        raise TrainingError(f"y_true must hold only 0/1 labels; found e.g. {bad.tolist()}.")
    try:
        p = p.astype(np.float64, copy=False)
    except (TypeError, ValueError) as exc:
        raise TrainingError(f"proba must be numeric, got dtype {p.dtype}.") from exc
    if not np.isfinite(p).all():
        raise TrainingError(f"proba holds {int((~np.isfinite(p)).sum())} NaN/inf value(s).")
    if p.min() < 0.0 or p.max() > 1.0:
        raise TrainingError(f"proba must lie in [0, 1], got range [{p.min():.6g}, {p.max():.6g}].")
    return y.astype(np.int8, copy=False), p


def _check_weights(weights: np.ndarray, n: int) -> np.ndarray:
    """Return weights as a 2-D (B, n) array; 1-D input is one resample."""
    w = np.asarray(weights)
    if w.ndim == 1:
        w = w[None, :]
    if w.ndim != 2 or w.shape[1] != n:
        raise TrainingError(f"weights must have shape (B, {n}), got {np.asarray(weights).shape}.")
    if not (np.issubdtype(w.dtype, np.number) or w.dtype == bool):
        raise TrainingError(f"weights must be numeric, got dtype {w.dtype}.")
    if w.size and (not np.isfinite(w).all() or (w < 0).any()):
        raise TrainingError("weights must be finite and nonnegative.")
    return w


# --------------------------------------------------------------------------------------------
# Core: one model's rows arranged by class and score; metrics from class weights
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Ranked:
    """The rows of one (y, proba) sample arranged for every weighting (see the module docstring).

    Negatives and positives are each listed in ascending score (stable, so ties keep row
    order).  ``neg_lo[i]``/``neg_hi[i]`` count the negatives scored below / not above positive
    i (``neg_hi`` is None when no positive ties a negative); ``pos_start[i]`` is the first
    positive tied with positive i (None when no two positives tie).
    """

    n: int
    neg_rows: np.ndarray
    pos_rows: np.ndarray
    neg_lo: np.ndarray
    neg_hi: np.ndarray | None
    pos_start: np.ndarray | None
    neg_below_threshold: int
    pos_below_threshold: int
    nll_neg: np.ndarray  # per-row log loss of the negatives, in their order
    nll_pos: np.ndarray
    sq_neg: np.ndarray  # per-row squared error (Brier) of the negatives
    sq_pos: np.ndarray

    @property
    def n_neg(self) -> int:
        """Number of negative rows."""
        return int(self.neg_rows.shape[0])

    @property
    def n_pos(self) -> int:
        """Number of positive rows."""
        return int(self.pos_rows.shape[0])


def _rank(y: np.ndarray, p: np.ndarray, threshold: float) -> _Ranked:
    """Sort once by score and split by class; everything a weighting needs is precomputed."""
    order = np.argsort(p, kind="stable")
    is_pos = y[order] == 1
    neg_rows, pos_rows = order[~is_pos], order[is_pos]
    p_neg, p_pos = p[neg_rows], p[pos_rows]
    neg_lo = np.searchsorted(p_neg, p_pos, side="left")
    neg_hi = np.searchsorted(p_neg, p_pos, side="right")
    pos_start = np.searchsorted(p_pos, p_pos, side="left")
    pc_neg = np.clip(p_neg, LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS)
    pc_pos = np.clip(p_pos, LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS)
    return _Ranked(
        n=int(y.shape[0]),
        neg_rows=neg_rows,
        pos_rows=pos_rows,
        neg_lo=neg_lo,
        neg_hi=None if np.array_equal(neg_lo, neg_hi) else neg_hi,
        pos_start=None if np.array_equal(pos_start, np.arange(pos_rows.shape[0])) else pos_start,
        neg_below_threshold=int(np.searchsorted(p_neg, threshold, side="left")),
        pos_below_threshold=int(np.searchsorted(p_pos, threshold, side="left")),
        nll_neg=-np.log1p(-pc_neg),
        nll_pos=-np.log(pc_pos),
        sq_neg=p_neg**2,
        sq_pos=(1.0 - p_pos) ** 2,
    )


def _accumulator(dtype: np.dtype, n: int) -> np.dtype:
    """Exact integer prefix sums when the weights are integers (int32 when it cannot overflow)."""
    if dtype == np.bool_ or np.issubdtype(dtype, np.integer):
        largest = 1 if dtype == np.bool_ else int(np.iinfo(dtype).max)
        return np.dtype(np.int32 if largest * (n + 1) < np.iinfo(np.int32).max else np.int64)
    return np.dtype(np.float64)


def _prefix(w: np.ndarray, acc: np.dtype, scratch: Scratch, name: str) -> np.ndarray:
    """Exclusive prefix sums along rows: out[:, k] = w[:, :k].sum(axis=1), shape (c, m + 1)."""
    out = scratch.get(name, (w.shape[0], w.shape[1] + 1), acc)
    out[:, 0] = 0
    np.cumsum(w, axis=1, dtype=acc, out=out[:, 1:])
    return out


def _gather(prefix: np.ndarray, index: np.ndarray, scratch: Scratch, name: str) -> np.ndarray:
    """prefix[:, index] into a reused buffer."""
    out = scratch.get(name, (prefix.shape[0], index.shape[0]), prefix.dtype)
    np.take(prefix, index, axis=1, out=out, mode="clip")  # indices are in range by construction
    return out


def _ratio(num: np.ndarray, den: np.ndarray, fill: float) -> np.ndarray:
    """num / den elementwise, with ``fill`` where den == 0."""
    out = np.full(np.broadcast(num, den).shape, fill, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _class_metrics(
    r: _Ranked, wn: np.ndarray, wp: np.ndarray, names: tuple[str, ...], scratch: Scratch
) -> dict[str, np.ndarray]:
    """Every requested metric for ``c`` weightings: ``wn`` (c, N-) and ``wp`` (c, N+) -> (c,) each.

    Returned arrays are fresh (never views of ``scratch``), so the buffers can be reused at once.
    """
    acc = _accumulator(np.result_type(wn, wp), r.n)
    c = wn.shape[0]
    cn = _prefix(wn, acc, scratch, "cn")
    wpf = scratch.as_float("wpf", wp)
    pos_total = wpf.sum(axis=1)
    neg_total = cn[:, -1].astype(np.float64)
    cp = _prefix(wp, acc, scratch, "cp") if "pr_auc" in names else None
    out: dict[str, np.ndarray] = {}
    if "roc_auc" in names or "pr_auc" in names:
        degenerate = (pos_total <= 0) | (neg_total <= 0)
        below = _gather(cn, r.neg_lo, scratch, "below")  # negative weight scored below positive i
        with np.errstate(divide="ignore", invalid="ignore"):
            if "roc_auc" in names:
                credit = scratch.as_float("credit", below)
                if r.neg_hi is not None:  # tied negatives count one half
                    credit += _gather(cn, r.neg_hi, scratch, "upto")
                    credit *= 0.5
                auc = np.vecdot(wpf, credit) / (pos_total * neg_total)
                auc[degenerate] = np.nan
                out["roc_auc"] = auc
            if cp is not None:
                before = cp[:, :-1] if r.pos_start is None else _gather(cp, r.pos_start, scratch, "pbefore")
                tp = scratch.get("tp", (c, r.n_pos), np.float64)
                np.subtract(pos_total[:, None], before, out=tp)  # positive weight at or above i
                den = scratch.get("den", (c, r.n_pos), np.float64)
                np.subtract(neg_total[:, None], below, out=den)  # negative weight at or above i
                den += tp
                np.maximum(den, _TINY, out=den)  # den == 0 only where tp == 0
                tp /= den
                ap = np.vecdot(wpf, tp) / pos_total
                ap[degenerate] = np.nan
                out["pr_auc"] = ap
    tn = cn[:, r.neg_below_threshold].astype(np.float64)
    fn = wpf[:, : r.pos_below_threshold].sum(axis=1)
    tp_t, fp_t = pos_total - fn, neg_total - tn
    total = pos_total + neg_total
    if "accuracy" in names:
        out["accuracy"] = _ratio(tp_t + tn, total, np.nan)
    if "balanced_accuracy" in names:
        tpr = _ratio(tp_t, pos_total, np.nan)
        tnr = _ratio(tn, neg_total, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # both NaN only if total == 0
            out["balanced_accuracy"] = np.nanmean(np.stack([tpr, tnr]), axis=0)
    if "precision" in names:
        out["precision"] = _ratio(tp_t, tp_t + fp_t, 0.0)
    if "recall" in names:
        out["recall"] = _ratio(tp_t, pos_total, 0.0)
    if "f1" in names:
        out["f1"] = _ratio(2.0 * tp_t, 2.0 * tp_t + fp_t + fn, 0.0)
    if "log_loss" in names or "brier" in names:
        wnf = scratch.as_float("wnf", wn)
        # one dot product per row (not a matrix product), so a row's value never depends on
        # which other rows share its chunk
        if "log_loss" in names:
            nll = np.vecdot(wnf, r.nll_neg) + np.vecdot(wpf, r.nll_pos)
            out["log_loss"] = _ratio(nll, total, np.nan)
        if "brier" in names:
            sq = np.vecdot(wnf, r.sq_neg) + np.vecdot(wpf, r.sq_pos)
            out["brier"] = _ratio(sq, total, np.nan)
    empty = total <= 0  # an all-zero weighting defines no metric at all
    if empty.any():
        for vals in out.values():
            vals[empty] = np.nan
    return {name: out[name] for name in names}


# --------------------------------------------------------------------------------------------
# Public: point metrics and weighted metrics
# --------------------------------------------------------------------------------------------


def weighted_metrics(
    y_true: np.ndarray,
    proba: np.ndarray,
    weights: np.ndarray,
    threshold: float = 0.5,
    metrics: Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """Compute metrics for B row-weightings at once; ``weights`` is (B, n), nonnegative.

    Row b of ``weights`` gives each row's multiplicity in weighting b (bootstrap counts, or any
    nonnegative frequency weights), so integer weights reproduce the metric on the explicitly
    repeated sample exactly.  Returns ``{metric: array of shape (B,)}`` for the requested
    ``metrics`` (default: all), computed in memory-bounded chunks.
    """
    names = _resolve_metrics(metrics)
    thr = _check_threshold(threshold)
    y, p = _check_binary_inputs(y_true, proba)
    w = _check_weights(weights, y.shape[0])
    if w.dtype == np.bool_:
        w = w.astype(np.uint8)
    elif not np.issubdtype(w.dtype, np.integer):
        w = w.astype(np.float64, copy=False)
    r = _rank(y, p, thr)
    scratch = Scratch()
    chunk = chunk_size(r.n)
    parts = [
        _class_metrics(r, w[s : s + chunk][:, r.neg_rows], w[s : s + chunk][:, r.pos_rows], names, scratch)
        for s in range(0, w.shape[0], chunk)
    ]
    return concat_chunks(parts, names)


def classification_metrics(
    y_true: np.ndarray,
    proba: np.ndarray,
    threshold: float = 0.5,
    metrics: Sequence[str] | None = None,
) -> dict[str, float]:
    """Compute binary-classification metrics on the full sample.

    Uses the same code path as the bootstrap so point estimates and intervals can never
    disagree; values match scikit-learn (roc_auc_score, average_precision_score, accuracy,
    balanced accuracy, f1/precision/recall with zero_division=0, log_loss, brier_score_loss).
    ROC AUC and PR AUC are NaN (not an exception) when only one class is present.
    """
    names = _resolve_metrics(metrics)
    thr = _check_threshold(threshold)
    y, p = _check_binary_inputs(y_true, proba)
    return _point_metrics(_rank(y, p, thr), names)


def _point_metrics(r: _Ranked, names: tuple[str, ...]) -> dict[str, float]:
    """Metrics on the full (unit-weight) sample of a ranked dataset."""
    ones_neg = np.ones((1, r.n_neg), dtype=np.uint8)
    ones_pos = np.ones((1, r.n_pos), dtype=np.uint8)
    values = _class_metrics(r, ones_neg, ones_pos, names, Scratch())
    return {name: float(vals[0]) for name, vals in values.items()}


# --------------------------------------------------------------------------------------------
# Public: bootstrap
# --------------------------------------------------------------------------------------------


def _draw_weights(r: _Ranked, start: int, stop: int, seed: int, scratch: Scratch) -> tuple[np.ndarray, np.ndarray]:
    """Poisson weights of resamples [start, stop) for ``r``'s negatives and positives (uint8)."""
    c = stop - start
    stream_bytes = random_bytes(r.n, start, stop, seed, scratch)
    wn = poisson_weights_from_bytes(stream_bytes[:, : r.n_neg], scratch.get("wn", (c, r.n_neg), np.uint8), scratch)
    wp = poisson_weights_from_bytes(stream_bytes[:, r.n_neg :], scratch.get("wp", (c, r.n_pos), np.uint8), scratch)
    return wn, wp


def bootstrap_weights(y_true: np.ndarray, proba: np.ndarray, n_resamples: int, seed: int = 0) -> np.ndarray:
    """The (n_resamples, n) uint8 Poisson-bootstrap weights that :func:`bootstrap_replicates` uses.

    In the original row order, so ``weighted_metrics(y, p, bootstrap_weights(y, p, B, seed))``
    reproduces ``bootstrap_replicates(y, p, B, seed)``.  Materialises B x n; for tests and small n.
    """
    check_resampling(n_resamples, seed=seed)
    y, p = _check_binary_inputs(y_true, proba)
    r = _rank(y, p, 0.5)
    out = np.empty((n_resamples, r.n), dtype=np.uint8)

    def job(start: int, stop: int, scratch: Scratch) -> None:
        wn, wp = _draw_weights(r, start, stop, seed, scratch)
        out[start:stop, r.neg_rows] = wn
        out[start:stop, r.pos_rows] = wp

    map_chunks(r.n, n_resamples, job)
    return out


def bootstrap_replicates(
    y_true: np.ndarray,
    proba: np.ndarray,
    n_resamples: int = 1000,
    seed: int = 0,
    threshold: float = 0.5,
    metrics: Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """Return each requested metric on ``n_resamples`` bootstrap resamples: {metric: (B,)}.

    Degenerate resamples (a single class) give NaN for roc_auc/pr_auc.  Deterministic for a
    given seed and sample.
    """
    names = _resolve_metrics(metrics)
    thr = _check_threshold(threshold)
    check_resampling(n_resamples, seed=seed)
    y, p = _check_binary_inputs(y_true, proba)
    return _replicates(_rank(y, p, thr), n_resamples, seed, names)


def _replicates(r: _Ranked, n_resamples: int, seed: int, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Bootstrap replicates of the named metrics for a ranked dataset."""

    def job(start: int, stop: int, scratch: Scratch) -> dict[str, np.ndarray]:
        wn, wp = _draw_weights(r, start, stop, seed, scratch)
        return _class_metrics(r, wn, wp, names, scratch)

    return concat_chunks(map_chunks(r.n, n_resamples, job), names)


def _estimates(
    point: dict[str, float], reps: dict[str, np.ndarray], confidence: float, r: _Ranked
) -> dict[str, MetricEstimate]:
    """Point values with percentile intervals of their replicates, and the sample size behind them."""
    minority = min(r.n_pos, r.n_neg)
    reliable = is_reliable(r.n, minority)
    result: dict[str, MetricEstimate] = {}
    for name, values in reps.items():
        warn_degenerate(name, values)
        lower, upper, std = percentile_interval(values, confidence)
        result[name] = MetricEstimate(
            value=point[name], lower=lower, upper=upper, std=std, n=r.n, minority=minority, reliable=reliable
        )
    return result


def bootstrap_metrics(
    y_true: np.ndarray,
    proba: np.ndarray,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    threshold: float = 0.5,
    metrics: Sequence[str] | None = None,
) -> dict[str, MetricEstimate]:
    """Each metric on the full sample plus a percentile bootstrap interval over resamples.

    ``value`` is the metric on the full sample (not the bootstrap mean); ``lower``/``upper``
    are the (1 - confidence)/2 and (1 + confidence)/2 percentiles of the resampled values with
    degenerate (NaN) resamples left out; ``std`` is their standard deviation (bootstrap SE).
    """
    names = _resolve_metrics(metrics)
    thr = _check_threshold(threshold)
    check_resampling(n_resamples, confidence, seed)
    y, p = _check_binary_inputs(y_true, proba)
    r = _rank(y, p, thr)
    return _estimates(_point_metrics(r, names), _replicates(r, n_resamples, seed, names), float(confidence), r)


def compare_bootstrap(
    y_true: np.ndarray,
    proba_challenger: np.ndarray,
    proba_champion: np.ndarray,
    metric: str = "roc_auc",
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    threshold: float = 0.5,
    metrics: Sequence[str] | None = None,
) -> tuple[dict[str, MetricEstimate], PairedDifference]:
    """:func:`bootstrap_metrics` of the challenger and :func:`paired_bootstrap` against the
    champion, from one pass over the resamples (the paired comparison's challenger side *is*
    the challenger's bootstrap), so the comparison costs only the champion's side."""
    if not isinstance(metric, str):
        raise ConfigError(f"metric must be one metric name, got {metric!r}.")
    primary = _resolve_metrics((metric,))[0]
    names = _resolve_metrics(metrics)
    names = names if primary in names else (*names, primary)
    thr = _check_threshold(threshold)
    check_resampling(n_resamples, confidence, seed)
    y, p_ch = _check_binary_inputs(y_true, proba_challenger)
    _, p_champ = _check_binary_inputs(y_true, proba_champion)
    if p_champ.shape != p_ch.shape:
        raise TrainingError(f"the champion scored {p_champ.shape[0]} rows, the challenger {p_ch.shape[0]}.")
    r_ch, r_champ = _rank(y, p_ch, thr), _rank(y, p_champ, thr)
    # Where each of the champion's rows sits in the challenger's arrangement of its class.
    slot = np.empty(r_ch.n, dtype=np.intp)
    slot[r_ch.neg_rows] = np.arange(r_ch.n_neg)
    slot[r_ch.pos_rows] = np.arange(r_ch.n_pos)
    neg_perm, pos_perm = slot[r_champ.neg_rows], slot[r_champ.pos_rows]
    champion_key = "\0champion"

    def job(start: int, stop: int, scratch: Scratch) -> dict[str, np.ndarray]:
        wn, wp = _draw_weights(r_ch, start, stop, seed, scratch)
        out = _class_metrics(r_ch, wn, wp, names, scratch)
        wn_b = scratch.get("wn_champion", wn.shape, np.uint8)
        wp_b = scratch.get("wp_champion", wp.shape, np.uint8)
        np.take(wn, neg_perm, axis=1, out=wn_b, mode="clip")
        np.take(wp, pos_perm, axis=1, out=wp_b, mode="clip")
        out[champion_key] = _class_metrics(r_champ, wn_b, wp_b, (primary,), scratch)[primary]
        return out

    reps = concat_chunks(map_chunks(r_ch.n, n_resamples, job), (*names, champion_key))
    champion_reps = reps.pop(champion_key)
    point = _point_metrics(r_ch, names)
    champion = _point_metrics(r_champ, (primary,))[primary]
    paired = paired_difference(
        primary,
        point[primary],
        champion,
        reps[primary],
        champion_reps,
        confidence,
        n_resamples,
        higher_is_better=HIGHER_IS_BETTER[primary],
    )
    requested = _resolve_metrics(metrics)
    estimates = _estimates(point, {name: reps[name] for name in requested}, float(confidence), r_ch)
    return estimates, paired


def paired_bootstrap(
    y_true: np.ndarray,
    proba_challenger: np.ndarray,
    proba_champion: np.ndarray,
    metric: str = "roc_auc",
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    threshold: float = 0.5,
) -> PairedDifference:
    """Compare two models on the same rows with a paired bootstrap of one metric.

    Both models are scored on identical resamples (each row keeps its weight), so the interval
    reflects only the difference between them (the shared sampling noise cancels).  The
    challenger's side equals ``bootstrap_replicates(y, proba_challenger, ...)`` for the same
    seed.  ``difference`` is oriented so positive means the challenger is better (champion -
    challenger for lower-is-better metrics such as log_loss).
    """
    _, paired = compare_bootstrap(
        y_true,
        proba_challenger,
        proba_champion,
        metric,
        n_resamples,
        seed,
        confidence,
        threshold,
        metrics=(metric,) if isinstance(metric, str) else None,
    )
    return paired


# --------------------------------------------------------------------------------------------
# Public: curves for the report
# --------------------------------------------------------------------------------------------


def _thin(n: int, max_points: int) -> np.ndarray:
    """At most ``max_points`` evenly spread indices of 0..n-1, both ends included."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(np.intp))


def _rounded(values: np.ndarray) -> list[float]:
    """Values for a JSON report: 4 decimals are plenty for a plot."""
    return [round(float(v), 4) for v in values]


def classification_curves(
    y_true: np.ndarray,
    proba: np.ndarray,
    threshold: float = 0.5,
    max_points: int = 101,
    bins: int = 10,
) -> dict[str, Any]:
    """ROC and precision-recall curves (thinned to ``max_points``), a calibration table and the
    confusion matrix at ``threshold``: the JSON-ready data behind the model report's plots.

    Curve points are the exact ones of ``sklearn.metrics.roc_curve`` / ``precision_recall_curve``
    (one per distinct score, thinned evenly); calibration uses ``bins`` equal-width bins of the
    predicted probability and lists only the bins that hold rows.
    """
    thr = _check_threshold(threshold)
    y, p = _check_binary_inputs(y_true, proba)
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order].astype(np.float64)
    last_of_group = np.r_[np.flatnonzero(np.diff(ps)), ps.shape[0] - 1]
    tps = np.cumsum(ys)[last_of_group]
    fps = (last_of_group + 1) - tps
    n_pos, n_neg = float(ys.sum()), float(ys.shape[0] - ys.sum())
    tpr = np.r_[0.0, tps / n_pos] if n_pos else np.zeros(tps.shape[0] + 1)
    fpr = np.r_[0.0, fps / n_neg] if n_neg else np.zeros(tps.shape[0] + 1)
    keep = _thin(tpr.shape[0], max_points)
    precision = tps / (tps + fps)
    recall = tps / n_pos if n_pos else np.zeros_like(tps)
    precision, recall = np.r_[1.0, precision], np.r_[0.0, recall]
    keep_pr = _thin(precision.shape[0], max_points)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    mean_p = np.bincount(which, weights=p, minlength=bins)
    rate = np.bincount(which, weights=y.astype(np.float64), minlength=bins)
    filled = counts > 0
    predicted_pos = p >= thr
    return {
        "roc": {"fpr": _rounded(fpr[keep]), "tpr": _rounded(tpr[keep])},
        "pr": {
            "recall": _rounded(recall[keep_pr]),
            "precision": _rounded(precision[keep_pr]),
            "base_rate": round(n_pos / y.shape[0], 4),
        },
        "calibration": {
            "bin_lower": _rounded(edges[:-1][filled]),
            "bin_upper": _rounded(edges[1:][filled]),
            "mean_predicted": _rounded(mean_p[filled] / counts[filled]),
            "observed_rate": _rounded(rate[filled] / counts[filled]),
            "rows": [int(c) for c in counts[filled]],
        },
        "confusion": {
            "threshold": thr,
            "tp": int((predicted_pos & (y == 1)).sum()),
            "fp": int((predicted_pos & (y == 0)).sum()),
            "tn": int((~predicted_pos & (y == 0)).sum()),
            "fn": int((~predicted_pos & (y == 1)).sum()),
        },
    }


THRESHOLD_GRID: tuple[float, ...] = tuple(round(0.05 * k, 2) for k in range(1, 20))
"""The thresholds of :func:`threshold_curve` by default: 0.05, 0.10, ..., 0.95."""


def threshold_curve(
    y_true: np.ndarray, proba: np.ndarray, thresholds: Sequence[float] = THRESHOLD_GRID
) -> dict[str, list[Any]]:
    """Precision, recall, F1 and the share predicted positive at each threshold (sorted, distinct).

    A row is predicted positive when ``proba >= threshold``, as everywhere here.  Precision is
    None where no row is predicted positive (undefined, not zero); recall and F1 are 0 there when
    the sample has positives, None when it has none.  One sort and two binary searches per
    threshold, so the full holdout costs next to nothing; values are rounded to 4 decimals.
    """
    y, p = _check_binary_inputs(y_true, proba)
    grid = sorted({_check_threshold(t) for t in thresholds})
    pos, neg = np.sort(p[y == 1]), np.sort(p[y == 0])
    at = np.asarray(grid, dtype=np.float64)
    tp = (pos.shape[0] - np.searchsorted(pos, at, side="left")).astype(np.float64)
    fp = (neg.shape[0] - np.searchsorted(neg, at, side="left")).astype(np.float64)
    n_pos = float(pos.shape[0])

    def ratio(num: float, den: float) -> float | None:
        return round(num / den, 4) if den > 0 else None

    return {
        "thresholds": [round(t, 4) for t in grid],
        "precision": [ratio(a, a + b) for a, b in zip(tp, fp)],
        "recall": [ratio(a, n_pos) for a in tp],
        "f1": [ratio(2 * a, 2 * a + b + (n_pos - a)) if n_pos else None for a, b in zip(tp, fp)],
        "predicted_positive_share": [round((a + b) / y.shape[0], 4) for a, b in zip(tp, fp)],
    }
