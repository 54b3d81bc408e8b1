"""The Poisson bootstrap every metric family shares: row weights, chunking, intervals, results.

Each resample gives every row an independent weight with mean 1 and variance 1 (a 256-point
version of Poisson(1), see ``pipeline.modeling.metrics``), drawn from the resample's own stream
``SFC64(SeedSequence(seed, spawn_key=(b,)))``: byte k of that stream is the weight of the k-th row
in the order the metric family arranges its rows.  So a family's results depend only on (data,
seed, arrangement), never on chunking, and the first k resamples are the same whatever the total.
Binary classification, multiclass and regression metrics (``metrics``, ``metrics_multiclass``,
``metrics_regression``) all compute their replicates from these weights in cache-sized chunks,
and report :class:`MetricEstimate` and :class:`PairedDifference` alike.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import numpy as np
from threadpoolctl import threadpool_limits

from pipeline.core.errors import ConfigError

logger = logging.getLogger("pipeline.modeling.metrics")  # the name existing log filters know

BOOTSTRAP_METHOD = "poisson"
"""Recorded with every interval so a reader knows how it was made (see the module docstring)."""

POISSON_CUTS = np.array([94, 189, 235, 251, 255], dtype=np.uint8)
_CACHE_BUDGET_BYTES = 24 * 1024 * 1024  # a chunk's scratch should stay in cache: memory bandwidth is the limit
_BYTES_PER_CELL = 40  # scratch bytes per (resample, row) cell, about
_BLAS_LIMIT_CELLS = 2_000_000  # above this many cells, keep BLAS to one thread (its spinning threads cost more)

_T = TypeVar("_T")


RELIABLE_MIN_ROWS = 100
"""Below this many rows a bootstrap interval is shown, but marked unreliable (see :func:`is_reliable`)."""

RELIABLE_MIN_CLASS_ROWS = 10
"""Below this many rows of either class an interval is marked unreliable, whatever the total."""


def is_reliable(n: int, minority: int) -> bool:
    """Whether a percentile bootstrap interval from ``n`` rows, ``minority`` of the rarer class, can be trusted.

    With few rows, or few of one class, the resamples repeat the same handful of rows: ROC/PR AUC
    resamples often lack a class altogether and the percentile interval is too narrow (it covers
    the truth far less often than it claims). The thresholds match the ones that flag a slice
    ``small`` in the evaluation, so a number is called unreliable in the same cases everywhere.
    """
    return n >= RELIABLE_MIN_ROWS and minority >= RELIABLE_MIN_CLASS_ROWS


@dataclass(frozen=True)
class MetricEstimate:
    """A metric on the full sample with its bootstrap percentile interval and spread.

    ``n`` is the number of rows behind it and ``minority`` the rows of the rarer class;
    ``reliable`` is False when they are too few for the interval to mean much
    (:func:`is_reliable`), so every place that shows the interval can say so.
    """

    value: float
    lower: float
    upper: float
    std: float
    n: int | None = None
    minority: int | None = None
    reliable: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a plain dict (JSON-friendly); sample sizes only when known
        (no ``minority`` for regression, which has no classes)."""
        out: dict[str, Any] = {k: float(getattr(self, k)) for k in ("value", "lower", "upper", "std")}
        if self.n is not None:
            out["n"] = int(self.n)
            if self.minority is not None:
                out["minority"] = int(self.minority)
            out["reliable"] = bool(self.reliable)
        return out


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


def resolve_metrics(metrics: Sequence[str] | None, known: tuple[str, ...], family: str = "") -> tuple[str, ...]:
    """Validate a metric selection against ``known`` (a family's names, e.g. ``family="regression "``);
    ``None`` means all of them, in their order; duplicates are dropped."""
    if metrics is None:
        return known
    names = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    if not names:
        raise ConfigError(f"No metric requested; choose from {', '.join(known)}.")
    unknown = [m for m in names if m not in known]
    if unknown:
        raise ConfigError(f"Unknown {family}metric(s) {unknown}; known metrics are {', '.join(known)}.")
    return tuple(dict.fromkeys(names))


def check_resampling(n_resamples: int, confidence: float | None = None, seed: int = 0) -> None:
    """Resamples: a positive int; confidence in (0, 1); seed a nonnegative int."""
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)):
        raise ConfigError(f"n_resamples must be an integer, got {n_resamples!r}.")
    if n_resamples < 1:
        raise ConfigError(f"n_resamples must be >= 1, got {n_resamples}.")
    if confidence is not None and not (0.0 < float(confidence) < 1.0):
        raise ConfigError(f"confidence must be in (0, 1), got {confidence!r}.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a nonnegative integer, got {seed!r}.")


class Scratch:
    """Named work buffers reused across chunks (fresh large arrays cost page faults each time)."""

    def __init__(self) -> None:
        self._buffers: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        """A C-contiguous array of ``shape`` and ``dtype`` backed by the buffer ``name``."""
        size = int(np.prod(shape))
        buf = self._buffers.get(name)
        if buf is None or buf.dtype != np.dtype(dtype) or buf.size < size:
            buf = np.empty(max(size, 1), dtype=dtype)
            self._buffers[name] = buf
        return buf[:size].reshape(shape)

    def as_float(self, name: str, values: np.ndarray) -> np.ndarray:
        """``values`` converted to float64 in the buffer ``name``."""
        out = self.get(name, values.shape, np.float64)
        np.copyto(out, values, casting="unsafe")
        return out


def chunk_size(n: int) -> int:
    """Resamples per chunk so that a chunk's scratch (about 40 bytes a cell) stays cache-sized.

    The work is a few passes over each chunk; when the chunk fits in cache those passes run at
    cache speed instead of memory speed (3-5x faster here).  Memory use is bounded as well.
    """
    return max(1, _CACHE_BUDGET_BYTES // (_BYTES_PER_CELL * max(n, 1)))


def map_chunks(n: int, n_resamples: int, job: Callable[[int, int, Scratch], _T]) -> list[_T]:
    """Run ``job(start, stop, scratch)`` over cache-sized chunks of resamples, in order.

    One scratch serves every chunk.  Results never depend on the chunking because each resample
    draws from its own random stream.  (Threads were tried and dropped: the passes are bound by
    memory bandwidth, and on the 2-core development machine two threads were 25% slower.)
    """
    chunk = chunk_size(n)
    scratch = Scratch()
    blas = threadpool_limits(1, user_api="blas") if n * n_resamples >= _BLAS_LIMIT_CELLS else nullcontext()
    with blas:
        return [job(start, min(start + chunk, n_resamples), scratch) for start in range(0, n_resamples, chunk)]


def poisson_weights_from_bytes(random_bytes: np.ndarray, out: np.ndarray, scratch: Scratch) -> np.ndarray:
    """Map uniform random bytes to the 256-point Poisson(1) weights (see the module docstring)."""
    reached = scratch.get("reached", random_bytes.shape, np.bool_)
    np.greater_equal(random_bytes, POISSON_CUTS[0], out=out.view(np.bool_))
    for cut in POISSON_CUTS[1:]:
        np.greater_equal(random_bytes, cut, out=reached)
        out += reached.view(np.uint8)
    return out


def percentile_interval(values: np.ndarray, confidence: float) -> tuple[float, float, float]:
    """NaN-aware (lower, upper, std) of bootstrap replicates; all NaN if none are valid."""
    valid = values[~np.isnan(values)]
    if valid.size == 0:
        return float("nan"), float("nan"), float("nan")
    alpha = (1.0 - confidence) / 2.0
    lower, upper = np.percentile(valid, [100.0 * alpha, 100.0 * (1.0 - alpha)])
    std = float(np.std(valid, ddof=1)) if valid.size > 1 else float("nan")
    return float(lower), float(upper), std


def warn_degenerate(name: str, values: np.ndarray) -> None:
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


def random_bytes(n: int, start: int, stop: int, seed: int, scratch: Scratch) -> np.ndarray:
    """The first ``n`` bytes of each stream of resamples [start, stop): (c, n) uint8, in ``scratch``."""
    c = stop - start
    words = (n + 7) // 8
    raw = scratch.get("raw", (c, words), np.uint64)
    for j, b in enumerate(range(start, stop)):
        raw[j] = np.random.SFC64(np.random.SeedSequence(seed, spawn_key=(b,))).random_raw(words)
    return raw.view(np.uint8)[:, :n]


def draw_poisson_weights(n: int, start: int, stop: int, seed: int, scratch: Scratch) -> np.ndarray:
    """Poisson weights of resamples [start, stop) for ``n`` rows in the caller's arrangement: (c, n) uint8.

    Row k of the arrangement gets byte k of each resample's stream; the array lives in ``scratch``
    (buffer ``"w"``), so copy what must outlive the next call.
    """
    stream_bytes = random_bytes(n, start, stop, seed, scratch)
    return poisson_weights_from_bytes(stream_bytes, scratch.get("w", stream_bytes.shape, np.uint8), scratch)


def concat_chunks(parts: list[dict[str, np.ndarray]], names: Sequence[str]) -> dict[str, np.ndarray]:
    """Join per-chunk metric arrays (as :func:`map_chunks` returns them) in chunk order."""
    return {name: np.concatenate([part[name] for part in parts]) if parts else np.empty(0) for name in names}


def paired_difference(
    metric: str,
    challenger: float,
    champion: float,
    challenger_replicates: np.ndarray,
    champion_replicates: np.ndarray,
    confidence: float,
    n_resamples: int,
    higher_is_better: bool,
) -> PairedDifference:
    """The paired comparison of two models' replicates on the same resamples, oriented so that
    positive means the challenger is better (champion minus challenger for an error metric)."""
    sign = 1.0 if higher_is_better else -1.0
    d = sign * (challenger_replicates - champion_replicates)
    warn_degenerate(f"paired {metric}", d)
    lower, upper, _ = percentile_interval(d, float(confidence))
    valid = d[~np.isnan(d)]
    prob = float(((valid > 0).sum() + 0.5 * (valid == 0).sum()) / valid.size) if valid.size else float("nan")
    return PairedDifference(
        metric=metric,
        challenger=challenger,
        champion=champion,
        difference=sign * (challenger - champion),
        lower=lower,
        upper=upper,
        prob_challenger_better=prob,
        n_resamples=int(n_resamples),
    )
