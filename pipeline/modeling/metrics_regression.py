"""Regression metrics with fast, vectorised Poisson-bootstrap intervals.

**One formula for every weighting**, as in ``pipeline.modeling.metrics``: the rows of one
model are arranged once in ascending absolute error ``|pred - y|`` (stable, so ties keep row
order, see :class:`_Arranged`), and every metric is computed from per-row *weights* in that
arrangement.  With ``w`` the (c, n) weights of ``c`` weightings, ``W`` their totals:

- RMSE = sqrt(sum w e^2 / W), MAE = sum w |e| / W (one dot product per weighting and metric);
- R^2 = 1 - SSE / SST with SST = sum w yc^2 - (sum w yc)^2 / W, where ``yc`` is the target minus
  its mean on the full sample (centring keeps the one-pass variance accurate);
- MAPE = sum w |e| / |y| / sum w over the rows whose target is not 0 (see below);
- median absolute error = the weighted median of the sorted ``|e|``: with the inclusive prefix
  sums ``C`` of the weights, ``lo`` is the first row with ``2 C >= W`` and ``hi`` the first with
  ``2 C > W``; the median is (|e|[lo] + |e|[hi]) / 2.  For integer weights that is exactly
  ``np.median`` of the explicitly repeated sample (the two middle values averaged when the total
  weight is even), and it is scikit-learn's weighted median.  The prefix sums are taken per
  block of 256 rows first (one cheap reduction of the uint8 weights), then inside the one block
  that holds each middle position, so no full (c, n) cumulative sum is ever written.

So ``c`` weightings are evaluated with a handful of array passes and no Python loop over
resamples.  The same code computes the point values (unit weights),
:func:`weighted_regression_metrics` (any nonnegative weights) and the bootstrap, whose weights
come from ``pipeline.modeling.resampling`` (the 256-point Poisson(1) weights, one random byte
per row): byte k of resample b's stream weighs the k-th row in ascending-error order.  A paired
comparison gives the champion's rows the weights they got in the challenger's arrangement, so
both models see identical resamples.  Results depend only on (data, seed), never on chunking.

Conventions and edge cases (``y`` the target, ``pred`` the prediction, both finite numbers):

- Point values equal scikit-learn's ``root_mean_squared_error``, ``mean_absolute_error``,
  ``r2_score``, ``median_absolute_error`` and, when no target is 0,
  ``mean_absolute_percentage_error``.
- **MAPE is guarded at zero targets.** scikit-learn divides by ``max(|y|, eps)``, so one row with
  ``y == 0`` and a small error adds ~1e13 to the mean.  Ours is the mean over the rows with
  ``y != 0`` only (scikit-learn's value on that subset), NaN when every target is 0.
  :func:`mape_excluded_rows` counts the rows left out, a warning is logged whenever MAPE leaves
  rows out, and :func:`regression_curves` reports the count in its summary.
- **R^2 with a constant target** (zero weighted variance) follows scikit-learn's
  ``force_finite``: 1.0 when every prediction is exact, else 0.0 -- for the point value and
  :func:`weighted_regression_metrics`.  A bootstrap resample with zero variance gives NaN, which
  is left out of the interval (and logged).
- Every metric is NaN for a weighting whose total weight is 0, and R^2 of a single row is NaN
  (as in scikit-learn).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.core.errors import ConfigError, TrainingError
from pipeline.core.metric_names import HIGHER_IS_BETTER, REGRESSION_METRICS
from pipeline.modeling.resampling import (
    RELIABLE_MIN_ROWS,
    MetricEstimate,
    PairedDifference,
    Scratch,
    check_resampling,
    chunk_size,
    concat_chunks,
    draw_poisson_weights,
    map_chunks,
    paired_difference,
    percentile_interval,
    resolve_metrics,
    warn_degenerate,
)

logger = logging.getLogger(__name__)

MAPE_EPS: float = float(np.finfo(np.float64).eps)
"""scikit-learn's floor for ``|y|`` in MAPE (only matters for nonzero targets below ~2e-16)."""

_BLOCK = 256  # rows per block of the median's two-level prefix sums (256 x 255 fits in uint16)
_CONSTANT_TARGET_RTOL = 1e-12  # SST below this share of sum w yc^2 is rounding: the target is constant
_SUM_METRICS = frozenset({"rmse", "mae", "r2", "mape"})

SCATTER_MAX_POINTS = 500
RESIDUAL_BINS = 30
PREDICTION_GROUPS = 10

# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def _resolve_metrics(metrics: Sequence[str] | None) -> tuple[str, ...]:
    """Validate a metric selection; ``None`` means all of REGRESSION_METRICS, in canonical order."""
    return resolve_metrics(metrics, REGRESSION_METRICS, "regression ")


def _as_numbers(values: np.ndarray, what: str) -> np.ndarray:
    """A 1-D float64 array of finite numbers, or TrainingError saying what is wrong."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise TrainingError(f"{what} must be 1-D (one number per row), got shape {arr.shape}.")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise TrainingError(f"{what} must be numeric, got dtype {arr.dtype}.")
    out = arr.astype(np.float64, copy=False)
    bad = ~np.isfinite(out)
    if bad.any():
        raise TrainingError(
            f"{what} holds {int(bad.sum())} NaN/inf value(s) (e.g. at rows {np.flatnonzero(bad)[:5].tolist()}); "
            "regression metrics need a finite target and prediction on every row."
        )
    return out


def _check_inputs(y_true: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (y, pred) as float64, or raise TrainingError on bad shapes or values."""
    y = _as_numbers(y_true, "y_true")
    p = _as_numbers(predicted, "predicted")
    if y.shape[0] != p.shape[0]:
        raise TrainingError(f"y_true has {y.shape[0]} rows but predicted has {p.shape[0]}.")
    if y.shape[0] == 0:
        raise TrainingError("Cannot compute metrics on an empty sample.")
    return y, p


def _check_weights(weights: np.ndarray, n: int) -> np.ndarray:
    """Weights as a 2-D (B, n) array of uint8/int64/float64; 1-D input is one weighting."""
    w = np.asarray(weights)
    if w.ndim == 1:
        w = w[None, :]
    if w.ndim != 2 or w.shape[1] != n:
        raise TrainingError(f"weights must have shape (B, {n}), got {np.asarray(weights).shape}.")
    if not (np.issubdtype(w.dtype, np.number) or w.dtype == np.bool_):
        raise TrainingError(f"weights must be numeric, got dtype {w.dtype}.")
    if w.size and (not np.isfinite(w).all() or (w < 0).any()):
        raise TrainingError("weights must be finite and nonnegative.")
    if w.dtype in (np.dtype(np.bool_), np.dtype(np.uint8)):
        return w.astype(np.uint8, copy=False)
    if np.issubdtype(w.dtype, np.integer):
        return w.astype(np.int64, copy=False)
    return w.astype(np.float64, copy=False)


def mape_excluded_rows(y_true: np.ndarray) -> int:
    """How many rows MAPE leaves out: those whose target is exactly 0 (see the module docstring)."""
    return int(np.count_nonzero(_as_numbers(y_true, "y_true") == 0.0))


def _note_mape_exclusions(n_zero: int, n: int, names: tuple[str, ...]) -> None:
    """Log, when MAPE is computed, how many zero-target rows it leaves out."""
    if "mape" in names and n_zero:
        logger.warning(
            "mape: %d of %d rows have a target of 0 and are left out of MAPE (it is the mean over the "
            "other %d rows%s).",
            n_zero,
            n,
            n - n_zero,
            "; every target is 0, so MAPE is NaN" if n_zero == n else "",
        )


# --------------------------------------------------------------------------------------------
# Core: one model's rows arranged by absolute error; metrics from row weights
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Arranged:
    """The per-row terms of one (y, pred) sample, listed in one arrangement of the rows.

    ``rows[k]`` is the original row at position k.  In a model's own arrangement the rows run in
    ascending absolute error (``by_error`` is True) and the median can be read off prefix sums;
    a champion's terms listed in the challenger's arrangement (``by_error`` False) serve the
    other metrics, whose sums do not depend on the order.
    """

    n: int
    rows: np.ndarray
    by_error: bool
    abs_err: np.ndarray
    sq_err: np.ndarray
    centred: np.ndarray  # y - mean(y), exactly 0 for a constant target
    centred_sq: np.ndarray
    ape: np.ndarray  # |e| / max(|y|, eps) where y != 0, else 0
    zero_pos: np.ndarray  # positions (in this arrangement) of the rows whose target is 0


def _arrange(y: np.ndarray, p: np.ndarray, rows: np.ndarray | None = None) -> _Arranged:
    """Compute each row's terms once, in ascending-error order unless ``rows`` gives the order."""
    abs_err = np.abs(p - y)
    by_error = rows is None
    order = np.argsort(abs_err, kind="stable") if rows is None else rows
    abs_err, ys = abs_err[order], y[order]
    centred = ys - y.mean() if np.ptp(y) > 0 else np.zeros_like(ys)
    zero = ys == 0.0
    ape = np.zeros_like(abs_err)
    np.divide(abs_err, np.maximum(np.abs(ys), MAPE_EPS), out=ape, where=~zero)
    return _Arranged(
        n=int(y.shape[0]),
        rows=order,
        by_error=by_error,
        abs_err=abs_err,
        sq_err=abs_err**2,
        centred=centred,
        centred_sq=centred**2,
        ape=ape,
        zero_pos=np.flatnonzero(zero),
    )


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den elementwise, NaN where den == 0."""
    out = np.full(np.broadcast(num, den).shape, np.nan, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _block_sums(w: np.ndarray, scratch: Scratch) -> tuple[np.ndarray, np.ndarray]:
    """Per-block weight totals of ``w`` (c, n) and their inclusive prefix sums, (c, blocks) each."""
    c, n = w.shape
    full = n // _BLOCK
    n_blocks = full + (1 if n % _BLOCK else 0)
    acc: np.dtype[Any]
    cum_acc: np.dtype[Any]
    if w.dtype == np.uint8:
        acc, cum_acc = np.dtype(np.uint16), np.dtype(np.int64)
    elif np.issubdtype(w.dtype, np.integer):
        acc = cum_acc = np.dtype(np.int64)
    else:
        acc = cum_acc = np.dtype(np.float64)
    blocks = scratch.get("blocks", (c, n_blocks), acc)
    if full:
        np.sum(w[:, : full * _BLOCK].reshape(c, full, _BLOCK), axis=2, dtype=acc, out=blocks[:, :full])
    if n_blocks > full:
        np.sum(w[:, full * _BLOCK :], axis=1, dtype=acc, out=blocks[:, full])
    return blocks, np.cumsum(blocks, axis=1, dtype=cum_acc)


def _first_reaching(w: np.ndarray, blocks: np.ndarray, cum: np.ndarray, total: np.ndarray, strict: bool) -> np.ndarray:
    """Per weighting, the first position k whose inclusive prefix sum C_k has 2 C_k >= total
    (``strict``: 2 C_k > total); every weighting must have a positive total."""
    c, n = w.shape
    twice = 2 * cum
    before = (twice <= total[:, None]) if strict else (twice < total[:, None])
    block = np.minimum(before.sum(axis=1), blocks.shape[1] - 1)
    offset = cum[np.arange(c), block] - blocks[np.arange(c), block]  # weight before the block
    idx = block[:, None] * _BLOCK + np.arange(_BLOCK)
    inside = idx < n
    local = np.where(inside, w[np.arange(c)[:, None], np.minimum(idx, n - 1)], 0)
    local_cum = np.cumsum(local, axis=1, dtype=cum.dtype) + offset[:, None]
    twice_local = 2 * local_cum
    before_local = (twice_local <= total[:, None]) if strict else (twice_local < total[:, None])
    last = np.minimum(inside.sum(axis=1), _BLOCK) - 1  # float rounding must never step past the block
    return block * _BLOCK + np.minimum(before_local.sum(axis=1), last)


def _weighted_median(a: _Arranged, w: np.ndarray, blocks: np.ndarray, cum: np.ndarray) -> np.ndarray:
    """The median |error| of each weighting, from the two middle positions (see the module docstring)."""
    total = cum[:, -1]
    empty = total <= 0
    safe_total = np.where(empty, 1, total)  # the positions of an empty weighting are discarded below
    lo = _first_reaching(w, blocks, cum, safe_total, strict=False)
    hi = _first_reaching(w, blocks, cum, safe_total, strict=True)
    median = 0.5 * (a.abs_err[lo] + a.abs_err[hi])
    median[empty] = np.nan
    return median


def _weighted(
    a: _Arranged,
    w: np.ndarray,
    names: tuple[str, ...],
    scratch: Scratch,
    force_finite: bool,
    wf: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Every requested metric for ``c`` weightings ``w`` (c, n) in ``a``'s arrangement -> (c,) each.

    ``wf`` may pass ``w`` already converted to float64.  ``force_finite`` gives R^2 scikit-learn's
    finite value for a constant target (point values); otherwise such a weighting gives NaN.
    Returned arrays are fresh (never views of ``scratch``), so the buffers can be reused at once.
    """
    out: dict[str, np.ndarray] = {}
    blocks, cum = _block_sums(w, scratch)  # the totals, exact for integer weights, at little cost
    total = cum[:, -1].astype(np.float64)
    if "median_ae" in names:
        if not a.by_error:
            raise AssertionError("the median needs the rows in ascending-error order")
        out["median_ae"] = _weighted_median(a, w, blocks, cum)
    if _SUM_METRICS.intersection(names):
        if wf is None:
            wf = scratch.as_float("wf", w)
        # one dot product per weighting (not a matrix product), so a resample's value never
        # depends on which other resamples share its chunk
        sse = np.vecdot(wf, a.sq_err) if ("rmse" in names or "r2" in names) else None
        if "rmse" in names and sse is not None:
            out["rmse"] = np.sqrt(_ratio(sse, total))
        if "mae" in names:
            out["mae"] = _ratio(np.vecdot(wf, a.abs_err), total)
        if "mape" in names:
            nonzero = total - wf[:, a.zero_pos].sum(axis=1) if a.zero_pos.size else total
            out["mape"] = _ratio(np.vecdot(wf, a.ape), nonzero)
        if "r2" in names and sse is not None:
            s1 = np.vecdot(wf, a.centred)
            s2 = np.vecdot(wf, a.centred_sq)
            sst = s2 - _ratio(s1 * s1, total)
            constant = sst <= _CONSTANT_TARGET_RTOL * s2
            r2 = 1.0 - _ratio(sse, np.where(constant, 0.0, sst))
            if force_finite:
                r2[constant] = np.where(sse[constant] == 0.0, 1.0, 0.0)
            r2[total <= 0] = np.nan
            out["r2"] = r2
    return {name: out[name] for name in REGRESSION_METRICS if name in names}


def _point(a: _Arranged, names: tuple[str, ...]) -> dict[str, float]:
    """Metrics on the full (unit-weight) sample of an arranged dataset."""
    values = _weighted(a, np.ones((1, a.n), dtype=np.uint8), names, Scratch(), force_finite=True)
    if a.n < 2 and "r2" in values:
        values["r2"][:] = np.nan  # as scikit-learn: R^2 of a single row is not defined
    return {name: float(values[name][0]) for name in names}


# --------------------------------------------------------------------------------------------
# Public: point metrics and weighted metrics
# --------------------------------------------------------------------------------------------


def regression_metrics(
    y_true: np.ndarray, predicted: np.ndarray, metrics: Sequence[str] | None = None
) -> dict[str, float]:
    """Regression metrics on the full sample: ``{metric: value}`` for ``metrics`` (default: all).

    The same code path as the bootstrap, so point values and intervals can never disagree; values
    equal scikit-learn's (see the module docstring for MAPE at zero targets and R^2 with a
    constant target).
    """
    names = _resolve_metrics(metrics)
    y, p = _check_inputs(y_true, predicted)
    a = _arrange(y, p)
    _note_mape_exclusions(a.zero_pos.size, a.n, names)
    return _point(a, names)


def weighted_regression_metrics(
    y_true: np.ndarray,
    predicted: np.ndarray,
    weights: np.ndarray,
    metrics: Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """The metrics for B row-weightings at once; ``weights`` is (B, n) (or (n,)), nonnegative.

    Row b of ``weights`` gives each row's multiplicity in weighting b, so integer weights
    reproduce the metrics of the explicitly repeated sample exactly (also the median).  Returns
    ``{metric: array of shape (B,)}``, computed in memory-bounded chunks.
    """
    names = _resolve_metrics(metrics)
    y, p = _check_inputs(y_true, predicted)
    w = _check_weights(weights, y.shape[0])
    a = _arrange(y, p)
    scratch = Scratch()
    chunk = chunk_size(a.n)
    parts = [
        _weighted(a, np.ascontiguousarray(w[s : s + chunk][:, a.rows]), names, scratch, force_finite=True)
        for s in range(0, w.shape[0], chunk)
    ]
    return concat_chunks(parts, names)


# --------------------------------------------------------------------------------------------
# Public: bootstrap
# --------------------------------------------------------------------------------------------


def regression_bootstrap_weights(
    y_true: np.ndarray, predicted: np.ndarray, n_resamples: int, seed: int = 0
) -> np.ndarray:
    """The (n_resamples, n) uint8 Poisson weights that :func:`regression_replicates` uses.

    In the original row order, so ``weighted_regression_metrics(y, pred, weights)`` reproduces
    the replicates (up to R^2 of a constant-target resample, NaN there).  Materialises B x n; for
    tests and small n.
    """
    check_resampling(n_resamples, seed=seed)
    y, p = _check_inputs(y_true, predicted)
    a = _arrange(y, p)
    out = np.empty((n_resamples, a.n), dtype=np.uint8)

    def job(start: int, stop: int, scratch: Scratch) -> None:
        out[start:stop, a.rows] = draw_poisson_weights(a.n, start, stop, seed, scratch)

    map_chunks(a.n, n_resamples, job)
    return out


def regression_replicates(
    y_true: np.ndarray,
    predicted: np.ndarray,
    n_resamples: int = 1000,
    seed: int = 0,
    metrics: Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """Each requested metric on ``n_resamples`` Poisson-bootstrap resamples: ``{metric: (B,)}``."""
    names = _resolve_metrics(metrics)
    check_resampling(n_resamples, seed=seed)
    y, p = _check_inputs(y_true, predicted)
    return _replicates(_arrange(y, p), n_resamples, seed, names)


def _replicates(a: _Arranged, n_resamples: int, seed: int, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Bootstrap replicates of the named metrics for an arranged dataset."""

    def job(start: int, stop: int, scratch: Scratch) -> dict[str, np.ndarray]:
        w = draw_poisson_weights(a.n, start, stop, seed, scratch)
        return _weighted(a, w, names, scratch, force_finite=False)

    return concat_chunks(map_chunks(a.n, n_resamples, job), names)


def _estimates(
    point: dict[str, float], reps: dict[str, np.ndarray], confidence: float, n: int
) -> dict[str, MetricEstimate]:
    """Point values with percentile intervals of their replicates; regression has no minority class."""
    result: dict[str, MetricEstimate] = {}
    for name, values in reps.items():
        warn_degenerate(name, values)
        lower, upper, std = percentile_interval(values, confidence)
        result[name] = MetricEstimate(
            value=point[name], lower=lower, upper=upper, std=std, n=n, minority=None, reliable=n >= RELIABLE_MIN_ROWS
        )
    return result


def bootstrap_regression(
    y_true: np.ndarray,
    predicted: np.ndarray,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    metrics: Sequence[str] | None = None,
) -> dict[str, MetricEstimate]:
    """Each metric on the full sample plus a percentile Poisson-bootstrap interval.

    ``value`` is the metric on the full sample (not the bootstrap mean); ``lower``/``upper`` are
    the (1 - confidence)/2 and (1 + confidence)/2 percentiles of the resampled values with NaN
    resamples left out; ``std`` is their standard deviation.  ``n`` is the number of rows,
    ``minority`` None (no classes) and ``reliable`` is ``n >= RELIABLE_MIN_ROWS``.
    """
    names = _resolve_metrics(metrics)
    check_resampling(n_resamples, confidence, seed)
    y, p = _check_inputs(y_true, predicted)
    a = _arrange(y, p)
    _note_mape_exclusions(a.zero_pos.size, a.n, names)
    return _estimates(_point(a, names), _replicates(a, n_resamples, seed, names), float(confidence), a.n)


def compare_regression(
    y_true: np.ndarray,
    predicted_challenger: np.ndarray,
    predicted_champion: np.ndarray,
    metric: str = "rmse",
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    metrics: Sequence[str] | None = None,
) -> tuple[dict[str, MetricEstimate], PairedDifference]:
    """:func:`bootstrap_regression` of the challenger and its paired difference from the champion
    on ``metric``, from one pass over the resamples.

    Both models are scored on identical resamples (each row keeps its weight), so the interval
    reflects only the difference between them.  ``difference`` is oriented so positive means the
    challenger is better (champion - challenger for the error metrics, challenger - champion for
    R^2); ``prob_challenger_better`` counts ties one half.
    """
    if not isinstance(metric, str):
        raise ConfigError(f"metric must be one metric name, got {metric!r}.")
    primary = _resolve_metrics((metric,))[0]
    requested = _resolve_metrics(metrics)
    names = requested if primary in requested else (*requested, primary)
    check_resampling(n_resamples, confidence, seed)
    y, p_ch = _check_inputs(y_true, predicted_challenger)
    p_champ = _as_numbers(predicted_champion, "predicted_champion")
    if p_champ.shape != p_ch.shape:
        raise TrainingError(f"the champion predicted {p_champ.shape[0]} rows, the challenger {p_ch.shape[0]}.")
    a_ch = _arrange(y, p_ch)
    _note_mape_exclusions(a_ch.zero_pos.size, a_ch.n, names)
    if primary == "median_ae":
        # the champion's median needs its own error order: its rows take their challenger weights
        a_champ = _arrange(y, p_champ)
        slot = np.empty(a_ch.n, dtype=np.intp)
        slot[a_ch.rows] = np.arange(a_ch.n)
        perm: np.ndarray | None = slot[a_champ.rows]
    else:
        a_champ, perm = _arrange(y, p_champ, rows=a_ch.rows), None  # same order: the same weights apply
    champion_key = "\0champion"

    def job(start: int, stop: int, scratch: Scratch) -> dict[str, np.ndarray]:
        w = draw_poisson_weights(a_ch.n, start, stop, seed, scratch)
        wf = scratch.as_float("wf", w) if _SUM_METRICS.intersection(names) else None
        out = _weighted(a_ch, w, names, scratch, force_finite=False, wf=wf)
        if perm is None:
            out[champion_key] = _weighted(a_champ, w, (primary,), scratch, force_finite=False, wf=wf)[primary]
        else:
            w_champ = scratch.get("w_champion", w.shape, np.uint8)
            np.take(w, perm, axis=1, out=w_champ, mode="clip")  # indices are in range by construction
            out[champion_key] = _weighted(a_champ, w_champ, (primary,), scratch, force_finite=False)[primary]
        return out

    reps = concat_chunks(map_chunks(a_ch.n, n_resamples, job), (*names, champion_key))
    champion_reps = reps.pop(champion_key)
    point = _point(a_ch, names)
    champion = _point(a_champ, (primary,))[primary]
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
    estimates = _estimates(point, {name: reps[name] for name in requested}, float(confidence), a_ch.n)
    return estimates, paired


# --------------------------------------------------------------------------------------------
# Public: curves for the report
# --------------------------------------------------------------------------------------------


def _thin(n: int, max_points: int) -> np.ndarray:
    """At most ``max_points`` evenly spread indices of 0..n-1, both ends included."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(np.intp))


def _round(value: float) -> float:
    """4 decimals, as the binary curves -- but never fewer than 4 significant digits, since a
    regression target may live on any scale (a target in micrometres would round to 0)."""
    v = float(value)
    if v == 0.0 or not math.isfinite(v):
        return v
    return round(v, max(4, 3 - math.floor(math.log10(abs(v)))))


def _rounded(values: np.ndarray) -> list[float]:
    """Values for a JSON report (see :func:`_round`)."""
    return [_round(v) for v in values]


def regression_curves(y_true: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    """The JSON-ready data behind a regression model's report plots.

    - ``scatter``: predicted against actual for at most 500 rows, evenly spread over the rows
      sorted by actual value (so deterministic, and both tails are shown);
    - ``residuals``: a 30-bin histogram of ``predicted - actual``;
    - ``by_decile``: the rows grouped by deciles of the prediction (rows with equal predictions
      share a group, empty groups are dropped) with their mean prediction and mean actual value --
      the regression counterpart of a calibration table;
    - ``summary``: mean actual, mean predicted, mean residual, rows, and the rows MAPE leaves out.

    Values are rounded to 4 decimals, keeping at least 4 significant digits.
    """
    y, p = _check_inputs(y_true, predicted)
    n = y.shape[0]
    by_actual = np.argsort(y, kind="stable")[_thin(n, SCATTER_MAX_POINTS)]
    residual = p - y
    counts, edges = np.histogram(residual, bins=RESIDUAL_BINS)
    inner = np.unique(np.quantile(p, np.linspace(0.0, 1.0, PREDICTION_GROUPS + 1)[1:-1]))
    group = np.searchsorted(inner, p, side="left")
    rows = np.bincount(group, minlength=inner.size + 1)
    sum_p = np.bincount(group, weights=p, minlength=inner.size + 1)
    sum_y = np.bincount(group, weights=y, minlength=inner.size + 1)
    filled = rows > 0
    return {
        "scatter": {"actual": _rounded(y[by_actual]), "predicted": _rounded(p[by_actual])},
        "residuals": {"bin_edges": _rounded(edges), "counts": [int(c) for c in counts]},
        "by_decile": {
            "mean_predicted": _rounded(sum_p[filled] / rows[filled]),
            "mean_actual": _rounded(sum_y[filled] / rows[filled]),
            "rows": [int(r) for r in rows[filled]],
        },
        "summary": {
            "mean_actual": _round(y.mean()),
            "mean_predicted": _round(p.mean()),
            "mean_residual": _round(residual.mean()),
            "rows": int(n),
            "mape_excluded_rows": int(np.count_nonzero(y == 0.0)),
        },
    }
