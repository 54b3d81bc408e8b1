"""Binary-classification metrics with fast, vectorised bootstrap intervals.

Every metric is computed from *weights* over the evaluation rows, so a whole batch of
bootstrap resamples is evaluated at once from a ``(B, n)`` matrix of resample counts rather
than with a Python loop over resamples.  The data are sorted once by score; rows with the same
score and label are interchangeable for every metric here, so the ``(B, n)`` weights are
first reduced to ``(B, 2G)`` weights over (tie group, label) *slots* (G distinct scores).
ROC AUC and average precision are then cumulative sums over the ascending tie groups, and the
threshold metrics, log loss and Brier score come from one matrix product.

The bootstrap never materialises the full count matrix: resample row indices are drawn chunk
by chunk (``rng.integers``) and mapped straight to slot counts with one ``np.bincount``, with
the chunk size picked from ``n`` so that working memory stays near 200 MB whatever ``n`` is.

Conventions: ``y_true`` holds 0/1 labels, ``proba`` the predicted probability of class 1, a
row is predicted positive when ``proba >= threshold``.  Where a ratio is undefined the value
follows scikit-learn's ``zero_division`` default (0.0) for precision, recall and F1, is NaN
for ROC AUC and average precision (no positives or no negatives), and NaN for every metric
when the total weight is zero.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from pipeline.errors import ConfigError, TrainingError

logger = logging.getLogger(__name__)

METRIC_NAMES: tuple[str, ...] = (
    "roc_auc",
    "pr_auc",
    "accuracy",
    "balanced_accuracy",
    "f1",
    "precision",
    "recall",
    "log_loss",
    "brier",
)

HIGHER_IS_BETTER: dict[str, bool] = {
    "roc_auc": True,
    "pr_auc": True,
    "accuracy": True,
    "balanced_accuracy": True,
    "f1": True,
    "precision": True,
    "recall": True,
    "log_loss": False,
    "brier": False,
}

LOG_LOSS_EPS: float = float(np.finfo(np.float64).eps)
"""Probabilities are clipped to ``[eps, 1 - eps]`` before taking logs.

Machine epsilon (~2.2e-16), as scikit-learn >= 1.5 does, so log loss agrees with
``sklearn.metrics.log_loss`` even for models that output exactly 0 or 1."""

_RANK_METRICS = frozenset({"roc_auc", "pr_auc"})
_MEMORY_BUDGET_BYTES = 240 * 1024 * 1024
_BYTES_PER_CELL = 48  # upper bound of live bytes per (resample, row) cell of a chunk (~40 seen)

# Columns of the per-slot "sums" matrix: one matrix product gives all weighted totals.
_COL_TOTAL, _COL_POS, _COL_TP, _COL_FP, _COL_NLL, _COL_SQERR = range(6)


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricEstimate:
    """A metric on the full sample with its bootstrap percentile interval and spread."""

    value: float
    lower: float
    upper: float
    std: float

    def to_dict(self) -> dict[str, float]:
        """Return the fields as a plain dict (JSON-friendly)."""
        return {k: float(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class PairedDifference:
    """Challenger-minus-champion difference of one metric, oriented so positive = challenger better.

    ``lower``/``upper`` bound the difference; ``prob_challenger_better`` is the share of valid
    resamples in which the challenger wins (ties count one half).
    """

    metric: str
    challenger: float
    champion: float
    difference: float
    lower: float
    upper: float
    prob_challenger_better: float
    n_resamples: int

    def to_dict(self) -> dict[str, float | int | str]:
        """Return the fields as a plain dict (JSON-friendly)."""
        out: dict[str, float | int | str] = {}
        for key, val in asdict(self).items():
            if isinstance(val, str):
                out[key] = val
            elif isinstance(val, (int, np.integer)) and not isinstance(val, bool):
                out[key] = int(val)
            else:
                out[key] = float(val)
        return out


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def _resolve_metrics(metrics: Sequence[str] | None) -> tuple[str, ...]:
    """Validate a metric selection; ``None`` means all of METRIC_NAMES, in canonical order."""
    if metrics is None:
        return METRIC_NAMES
    if isinstance(metrics, str):
        metrics = (metrics,)
    names = tuple(metrics)
    if not names:
        raise ConfigError(f"No metric requested; choose from {', '.join(METRIC_NAMES)}.")
    unknown = [m for m in names if m not in METRIC_NAMES]
    if unknown:
        raise ConfigError(
            f"Unknown metric(s) {unknown}; known metrics are {', '.join(METRIC_NAMES)}."
        )
    return tuple(dict.fromkeys(names))


def _check_threshold(threshold: float) -> float:
    """A decision threshold must be a finite number in [0, 1]."""
    t = float(threshold)
    if not (np.isfinite(t) and 0.0 <= t <= 1.0):
        raise ConfigError(f"threshold must be in [0, 1], got {threshold!r}.")
    return t


def _check_resampling(n_resamples: int, confidence: float | None = None) -> None:
    """The number of resamples must be a positive int and the confidence level in (0, 1)."""
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)):
        raise ConfigError(f"n_resamples must be an integer, got {n_resamples!r}.")
    if n_resamples < 1:
        raise ConfigError(f"n_resamples must be >= 1, got {n_resamples}.")
    if confidence is not None and not (0.0 < float(confidence) < 1.0):
        raise ConfigError(f"confidence must be in (0, 1), got {confidence!r}.")


def _check_binary_inputs(y_true: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (y as int8 0/1, proba as float64), or raise TrainingError on bad shapes/values."""
    y = np.asarray(y_true)
    p = np.asarray(proba)
    if y.ndim != 1 or p.ndim != 1:
        raise TrainingError(
            f"y_true and proba must be 1-D, got shapes {y.shape} and {p.shape}; "
            "pass the probability of class 1 only."
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
        raise TrainingError(
            f"proba must lie in [0, 1], got range [{p.min():.6g}, {p.max():.6g}]."
        )
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
# Core: slot preparation and metrics from slot weights
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Prepared:
    """Sorting and grouping of one (y, proba) sample, shared by every resample.

    A *group* is a run of equal proba in ascending order (a tie group).  Every row maps to a
    *slot*: ``group`` for negatives, ``n_groups + group`` for positives, so weights reduced to
    slots, shape (c, 2G), hold the negative weights of all groups in columns [:G] and the
    positive weights in [G:].  Rows in one slot are interchangeable for every metric.
    """

    n: int
    order: np.ndarray  # (n,) stable argsort of proba
    group_starts: np.ndarray  # (G,) start of each tie group within `order`
    y_sorted: np.ndarray  # (n,) float64 labels in `order`
    slot: np.ndarray  # (n,) int32 slot of each row, original row order
    n_groups: int
    sums: np.ndarray  # (2G, 6) per-unit-weight contribution of each slot, columns _COL_*


def _prepare(y: np.ndarray, p: np.ndarray, threshold: float) -> _Prepared:
    """Sort once by score and build the slot tables used for every resample."""
    n = y.shape[0]
    order = np.argsort(p, kind="stable")
    ps = p[order]
    new_group = np.empty(n, dtype=bool)
    new_group[0] = True
    new_group[1:] = ps[1:] != ps[:-1]
    group_starts = np.flatnonzero(new_group)
    n_groups = int(group_starts.shape[0])
    group = np.empty(n, dtype=np.int64)
    group[order] = np.cumsum(new_group) - 1
    slot = (group + n_groups * y.astype(np.int64)).astype(np.int32)

    p_group = ps[group_starts]
    p_slot = np.concatenate([p_group, p_group])
    pos_slot = np.repeat(np.array([False, True]), n_groups)
    pred_slot = p_slot >= threshold
    pc = np.clip(p_slot, LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS)
    sums = np.empty((2 * n_groups, 6), dtype=np.float64)
    sums[:, _COL_TOTAL] = 1.0
    sums[:, _COL_POS] = pos_slot
    sums[:, _COL_TP] = pos_slot & pred_slot
    sums[:, _COL_FP] = ~pos_slot & pred_slot
    sums[:, _COL_NLL] = -np.where(pos_slot, np.log(pc), np.log1p(-pc))
    sums[:, _COL_SQERR] = (p_slot - pos_slot) ** 2
    return _Prepared(
        n=n,
        order=order,
        group_starts=group_starts,
        y_sorted=y[order].astype(np.float64),
        slot=slot,
        n_groups=n_groups,
        sums=sums,
    )


def _ratio(num: np.ndarray, den: np.ndarray, fill: float) -> np.ndarray:
    """num / den elementwise, with ``fill`` where den == 0."""
    out = np.full(np.broadcast(num, den).shape, fill, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _rank_metrics(
    prep: _Prepared, sw: np.ndarray, pos: np.ndarray, neg: np.ndarray, names: tuple[str, ...]
) -> dict[str, np.ndarray]:
    """ROC AUC and average precision for each row of slot weights ``sw`` (c, 2G).

    With Wp_k, Wn_k the positive/negative weight of tie group k (ascending score) and
    Cn_k = Wn_1 + ... + Wn_k: AUC = sum_k Wp_k * (Cn_k - Wn_k / 2) / (P * N) (ties count one
    half, as in the trapezoidal ROC).  Scanning thresholds from the top,
    AP = sum_k (Wp_k / P) * TP_k / (TP_k + FP_k) with TP_k = P - Cp_k + Wp_k and
    FP_k = N - Cn_k + Wn_k, which is exactly scikit-learn's step-wise average precision.
    """
    g = prep.n_groups
    wn, wp = sw[:, :g], sw[:, g:]
    cn = np.cumsum(wn, axis=1)
    degenerate = (pos <= 0) | (neg <= 0)
    out: dict[str, np.ndarray] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        if "roc_auc" in names:
            num = np.vecdot(wp, cn) - 0.5 * np.vecdot(wp, wn)
            auc = num / (pos * neg)
            auc[degenerate] = np.nan
            out["roc_auc"] = auc
        if "pr_auc" in names:
            tp = np.cumsum(wp, axis=1)
            np.subtract(pos[:, None], tp, out=tp)
            tp += wp  # positive weight at scores >= group k
            np.subtract(neg[:, None], cn, out=cn)
            cn += wn  # negative weight at scores >= group k
            cn += tp  # all weight at scores >= group k
            np.divide(tp, cn, out=tp, where=cn > 0)  # where cn == 0, tp == 0 == Wp_k
            ap = np.vecdot(wp, tp) / pos
            ap[degenerate] = np.nan
            out["pr_auc"] = ap
    return out


def _metrics_from_slot_weights(
    prep: _Prepared, sw: np.ndarray, names: tuple[str, ...]
) -> dict[str, np.ndarray]:
    """Every requested metric for each row of slot weights ``sw`` (c, 2G) -> arrays (c,)."""
    tot = sw @ prep.sums  # (c, 6)
    total, pos = tot[:, _COL_TOTAL], tot[:, _COL_POS]
    tp, fp = tot[:, _COL_TP], tot[:, _COL_FP]
    neg = total - pos
    fn = pos - tp
    tn = neg - fp
    out: dict[str, np.ndarray] = {}
    if _RANK_METRICS.intersection(names):
        out.update(_rank_metrics(prep, sw, pos, neg, names))
    if "accuracy" in names:
        out["accuracy"] = _ratio(tp + tn, total, np.nan)
    if "balanced_accuracy" in names:
        tpr = _ratio(tp, pos, np.nan)
        tnr = _ratio(tn, neg, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # both NaN only if total == 0
            out["balanced_accuracy"] = np.nanmean(np.stack([tpr, tnr]), axis=0)
    if "precision" in names:
        out["precision"] = _ratio(tp, tp + fp, 0.0)
    if "recall" in names:
        out["recall"] = _ratio(tp, pos, 0.0)
    if "f1" in names:
        out["f1"] = _ratio(2.0 * tp, 2.0 * tp + fp + fn, 0.0)
    if "log_loss" in names:
        out["log_loss"] = _ratio(tot[:, _COL_NLL], total, np.nan)
    if "brier" in names:
        out["brier"] = _ratio(tot[:, _COL_SQERR], total, np.nan)
    empty = total <= 0  # an all-zero weighting defines no metric at all
    if empty.any():
        for vals in out.values():
            vals[empty] = np.nan
    return {name: out[name] for name in names}


def _chunk_size(n: int) -> int:
    """Resamples per chunk so that a chunk's working memory stays within the budget."""
    return max(1, _MEMORY_BUDGET_BYTES // (_BYTES_PER_CELL * max(n, 1)))


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

    Row b of ``weights`` gives each row's multiplicity in resample b (bootstrap counts, or any
    nonnegative frequency weights), so integer weights reproduce the metric on the explicitly
    repeated sample.  No Python loop runs over resamples: the weights are reduced to
    (score, label) slots and each metric is a vector operation, done in memory-bounded
    chunks.  Returns ``{metric: array of shape (B,)}`` for the requested ``metrics``
    (default: all).
    """
    names = _resolve_metrics(metrics)
    thr = _check_threshold(threshold)
    y, p = _check_binary_inputs(y_true, proba)
    w = _check_weights(weights, y.shape[0])
    prep = _prepare(y, p, thr)
    chunk = _chunk_size(prep.n)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for start in range(0, w.shape[0], chunk):
        block = np.asarray(w[start : start + chunk][:, prep.order], dtype=np.float64)
        w_pos = np.add.reduceat(block * prep.y_sorted, prep.group_starts, axis=1)
        block *= 1.0 - prep.y_sorted
        w_neg = np.add.reduceat(block, prep.group_starts, axis=1)
        sw = np.concatenate([w_neg, w_pos], axis=1)
        for name, vals in _metrics_from_slot_weights(prep, sw, names).items():
            parts[name].append(vals)
    return {
        name: (np.concatenate(vals) if vals else np.empty(0)) for name, vals in parts.items()
    }


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
    return _point_metrics(_prepare(y, p, thr), names)


def _point_metrics(prep: _Prepared, names: tuple[str, ...]) -> dict[str, float]:
    """Metrics on the full (unit-weight) sample of a prepared dataset."""
    sw = np.bincount(prep.slot, minlength=2 * prep.n_groups).astype(np.float64)[None, :]
    return {
        name: float(vals[0])
        for name, vals in _metrics_from_slot_weights(prep, sw, names).items()
    }


# --------------------------------------------------------------------------------------------
# Public: bootstrap
# --------------------------------------------------------------------------------------------


def _resample_index_chunks(
    n: int, n_resamples: int, rng: np.random.Generator
) -> Iterator[np.ndarray]:
    """Yield (c, n) arrays of row indices drawn with replacement, c <= _chunk_size(n).

    The single source of bootstrap randomness: every public bootstrap function consumes the
    generator through this, so the same seed yields the same resamples everywhere.
    """
    chunk = _chunk_size(n)
    index_dtype = np.int32 if n <= np.iinfo(np.int32).max else np.int64
    for start in range(0, n_resamples, chunk):
        c = min(chunk, n_resamples - start)
        yield rng.integers(0, n, size=(c, n), dtype=index_dtype)


def _row_bincount(codes: np.ndarray, width: int) -> np.ndarray:
    """Row-wise bincount of a (c, m) int array with values in [0, width) -> (c, width) int64.

    Offsets row i by i * width and runs one flat bincount; ``codes`` may be modified in place.
    """
    c = codes.shape[0]
    if c * width >= np.iinfo(codes.dtype).max:
        codes = codes.astype(np.int64)
    codes += (np.arange(c, dtype=codes.dtype) * width)[:, None]
    return np.bincount(codes.ravel(), minlength=c * width).reshape(c, width)


def bootstrap_counts(n: int, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Return a (n_resamples, n) int64 matrix of bootstrap multiplicities (each row sums to n).

    Equivalent in distribution to ``rng.multinomial(n, [1/n]*n, size=n_resamples)`` but much
    faster: indices are drawn with ``rng.integers`` and counted with one row-wise bincount per
    chunk.  It consumes ``rng`` exactly as :func:`bootstrap_replicates` does, so passing
    ``np.random.default_rng(seed)`` here and the result to :func:`weighted_metrics` reproduces
    ``bootstrap_replicates(..., seed=seed)``.  Materialises B x n; meant for small n or tests.
    """
    if n < 1:
        raise ConfigError(f"n must be >= 1, got {n}.")
    _check_resampling(n_resamples)
    out = np.empty((n_resamples, n), dtype=np.int64)
    row = 0
    for idx in _resample_index_chunks(n, n_resamples, rng):
        out[row : row + idx.shape[0]] = _row_bincount(idx, n)
        row += idx.shape[0]
    return out


def _bootstrap_slot_weights(prep: _Prepared, idx: np.ndarray) -> np.ndarray:
    """Map a (c, n) chunk of resampled row indices to (c, 2G) slot weights."""
    counts = _row_bincount(prep.slot.take(idx), 2 * prep.n_groups)
    return counts.astype(np.float64)


def _bootstrap_chunk_metrics(
    prep: _Prepared, idx: np.ndarray, names: tuple[str, ...]
) -> dict[str, np.ndarray]:
    """Metrics for one chunk of resampled indices; its large temporaries die on return."""
    return _metrics_from_slot_weights(prep, _bootstrap_slot_weights(prep, idx), names)


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
    given seed and sample size.
    """
    names = _resolve_metrics(metrics)
    thr = _check_threshold(threshold)
    _check_resampling(n_resamples)
    y, p = _check_binary_inputs(y_true, proba)
    return _replicates(_prepare(y, p, thr), n_resamples, seed, names)


def _replicates(
    prep: _Prepared, n_resamples: int, seed: int, names: tuple[str, ...]
) -> dict[str, np.ndarray]:
    """Bootstrap replicates of the named metrics for a prepared dataset."""
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for idx in _resample_index_chunks(prep.n, n_resamples, rng):
        for name, vals in _bootstrap_chunk_metrics(prep, idx, names).items():
            parts[name].append(vals)
    return {name: np.concatenate(vals) for name, vals in parts.items()}


def _percentile_interval(values: np.ndarray, confidence: float) -> tuple[float, float, float]:
    """NaN-aware (lower, upper, std) of bootstrap replicates; all NaN if none are valid."""
    valid = values[~np.isnan(values)]
    if valid.size == 0:
        return float("nan"), float("nan"), float("nan")
    alpha = (1.0 - confidence) / 2.0
    lower, upper = np.percentile(valid, [100.0 * alpha, 100.0 * (1.0 - alpha)])
    std = float(np.std(valid, ddof=1)) if valid.size > 1 else float("nan")
    return float(lower), float(upper), std


def _warn_degenerate(name: str, values: np.ndarray) -> None:
    """Log how many resamples gave no value (e.g. a single class), if any."""
    n_nan = int(np.isnan(values).sum())
    if n_nan:
        logger.warning(
            "%s: %d of %d bootstrap resamples were degenerate (NaN) and were left out of "
            "the interval; the evaluation sample may be too small or too imbalanced.",
            name,
            n_nan,
            values.shape[0],
        )


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
    _check_resampling(n_resamples, confidence)
    y, p = _check_binary_inputs(y_true, proba)
    prep = _prepare(y, p, thr)
    point = _point_metrics(prep, names)
    reps = _replicates(prep, n_resamples, seed, names)
    result: dict[str, MetricEstimate] = {}
    for name in names:
        _warn_degenerate(name, reps[name])
        lower, upper, std = _percentile_interval(reps[name], float(confidence))
        result[name] = MetricEstimate(value=point[name], lower=lower, upper=upper, std=std)
    return result


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

    Both models are scored on identical resamples, so the interval reflects only the
    difference between them (the shared sampling noise cancels).  ``difference`` is
    oriented so positive means the challenger is better (champion - challenger for
    lower-is-better metrics such as log_loss).
    """
    if not isinstance(metric, str):
        raise ConfigError(f"metric must be one metric name, got {metric!r}.")
    names = _resolve_metrics((metric,))
    name = names[0]
    thr = _check_threshold(threshold)
    _check_resampling(n_resamples, confidence)
    y, p_ch = _check_binary_inputs(y_true, proba_challenger)
    _, p_champ = _check_binary_inputs(y_true, proba_champion)
    prep_ch = _prepare(y, p_ch, thr)
    prep_champ = _prepare(y, p_champ, thr)
    sign = 1.0 if HIGHER_IS_BETTER[name] else -1.0

    challenger = _point_metrics(prep_ch, names)[name]
    champion = _point_metrics(prep_champ, names)[name]

    rng = np.random.default_rng(seed)
    diffs: list[np.ndarray] = []
    for idx in _resample_index_chunks(prep_ch.n, n_resamples, rng):
        a = _bootstrap_chunk_metrics(prep_ch, idx, names)[name]
        b = _bootstrap_chunk_metrics(prep_champ, idx, names)[name]
        diffs.append(sign * (a - b))
    d = np.concatenate(diffs)
    _warn_degenerate(f"paired {name}", d)
    lower, upper, _ = _percentile_interval(d, float(confidence))
    valid = d[~np.isnan(d)]
    if valid.size:
        prob = float(((valid > 0).sum() + 0.5 * (valid == 0).sum()) / valid.size)
    else:
        prob = float("nan")
    return PairedDifference(
        metric=name,
        challenger=challenger,
        champion=champion,
        difference=sign * (challenger - champion),
        lower=lower,
        upper=upper,
        prob_challenger_better=prob,
        n_resamples=int(n_resamples),
    )
