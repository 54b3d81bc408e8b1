"""Deterministic train/holdout assignment and cross-validation folds.

Two kinds of split.  By default (no time column) a hash of each row's key decides its side, and
the training part is cut into stratified folds (for a regression target, stratified on quantile
bins of the target, :func:`regression_folds`).  With ``dataset.time_column`` the holdout is the
most recent data and the folds chain forward in time (:func:`split_by_time`, :func:`time_folds`),
which is the honest choice when the future must be predicted from the past.

The hash holdout is chosen by hashing a stable per-row *key* (the declared id columns, or a hash of
the whole row when there are none) with a salt.  A row's assignment therefore depends only on
its own key, never on the other rows, their order or how many there are: as the data grow,
rows already in the holdout stay there and rows already used for training never leak into it.
Changing the salt draws a fresh, independent holdout.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold

from pipeline.core.errors import ConfigError, TrainingError

logger = logging.getLogger(__name__)

DEFAULT_SALT = "ct-holdout"
KEY_SEPARATOR = "|"
MISSING_KEY_PART = "<NA>"
"""Stands in for a missing id value inside a key."""

_UNIT_SCALE = 2.0**-53  # top 53 bits of a uint64 hash -> uniform float in [0, 1)


@dataclass(frozen=True)
class TrainingSample:
    """How a capped training part was sampled (:mod:`pipeline.modeling.training_sample`):
    ``rows`` of ``from_rows``, stratified on ``stratified_on``, drawn with ``seed``."""

    from_rows: int
    rows: int
    stratified_on: str
    seed: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "from_rows": self.from_rows,
            "rows": self.rows,
            "stratified_on": self.stratified_on,
            "seed": self.seed,
            "setting": "model.max_train_rows",
        }


@dataclass(frozen=True, eq=False)
class Split:
    """Positional row indices (for ``df.iloc``) of the training part and the holdout; ``sample``
    says how the training part was sampled when it was capped (``model.max_train_rows``)."""

    train_index: np.ndarray
    holdout_index: np.ndarray
    sample: TrainingSample | None = None

    @property
    def n_train(self) -> int:
        """Number of training rows."""
        return int(self.train_index.shape[0])

    @property
    def n_holdout(self) -> int:
        """Number of holdout rows."""
        return int(self.holdout_index.shape[0])


def _key_strings(col: pd.Series) -> pd.Series:
    """Render one id column as strings, stable across dtype drift.

    Integral floats are written without a decimal part, so an integer id column that pandas
    upcasts to float (because a later batch holds a missing value) keeps the same keys.
    Missing values become MISSING_KEY_PART.
    """
    missing = col.isna().to_numpy()
    if pd.api.types.is_float_dtype(col.dtype):
        values = col.to_numpy(dtype=np.float64, na_value=np.nan)
        finite = np.isfinite(values)
        integral = finite & (np.trunc(values) == values) & (np.abs(values) < 2.0**53)
        text = values.astype(str).astype(object)
        text[integral] = values[integral].astype(np.int64).astype(str)
        rendered = pd.Series(text, index=col.index, dtype=object)
    else:
        rendered = col.astype(str).astype(object)
    rendered[missing] = MISSING_KEY_PART
    return rendered


def _escape(part: pd.Series) -> pd.Series:
    """Escape backslashes and separators so a joined composite key is unambiguous."""
    return part.str.replace("\\", "\\\\", regex=False).str.replace(KEY_SEPARATOR, "\\" + KEY_SEPARATOR, regex=False)


def _check_id_columns(df: pd.DataFrame, id_columns: Sequence[str]) -> list[str]:
    """Return id_columns as a list, or raise ConfigError naming a missing/duplicated column."""
    if isinstance(id_columns, str):
        id_columns = [id_columns]
    ids = list(id_columns)
    missing = [c for c in ids if c not in df.columns]
    if missing:
        raise ConfigError(
            f"id column(s) {missing} not found in the data; available columns: "
            f"{[str(c) for c in df.columns]}. Fix `id_columns` in the pipeline config."
        )
    duplicated = sorted({str(c) for c in df.columns[df.columns.duplicated()] if c in ids})
    if duplicated:
        raise ConfigError(f"id column(s) {duplicated} appear more than once in the data.")
    return ids


def row_keys(df: pd.DataFrame, id_columns: Sequence[str]) -> pd.Series:
    """Return one stable string key per row of ``df`` (same index), used to assign the holdout.

    With id columns, the key is their values as strings joined by "|" (with "|" and "\\"
    escaped inside values when there are several columns; a single id column is used
    verbatim).  Without id columns, the key is the 16-hex-digit ``hash_pandas_object`` of the
    row's values (columns taken in sorted-name order, so reordering columns does not change
    keys); identical rows then share a key and always land on the same side, but editing any
    value of a row gives it a new key.
    """
    ids = _check_id_columns(df, id_columns)
    if ids:
        parts = [_key_strings(df[c]) for c in ids]
        if len(parts) == 1:
            key = parts[0]
        else:
            key = _escape(parts[0])
            for part in parts[1:]:
                key = key + KEY_SEPARATOR + _escape(part)
        values = key.to_numpy(dtype=object)
    else:
        if df.shape[1] == 0:
            raise ConfigError("Cannot build row keys: the data has no columns and no id_columns.")
        ordered = df[sorted(df.columns, key=str)]
        hashes = pd.util.hash_pandas_object(ordered, index=False).to_numpy(dtype=np.uint64)
        values = np.array([f"{h:016x}" for h in hashes.tolist()], dtype=object)
    return pd.Series(values, index=df.index, name="row_key", dtype=object)


def _check_fraction(fraction: float) -> float:
    """The holdout fraction must be a number strictly between 0 and 1."""
    try:
        f = float(fraction)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"holdout fraction must be a number, got {fraction!r}.") from exc
    if not 0.0 < f < 1.0:
        raise ConfigError(f"holdout fraction must be strictly between 0 and 1, got {fraction!r}.")
    return f


def _salt_hash_key(salt: str) -> str:
    """Derive the 16-character hash key pandas' SipHash needs from an arbitrary salt."""
    if not isinstance(salt, str):
        raise ConfigError(f"holdout salt must be a string, got {type(salt).__name__}.")
    return hashlib.blake2b(salt.encode("utf-8"), digest_size=8).hexdigest()


def holdout_mask(keys: pd.Series, fraction: float, salt: str = DEFAULT_SALT) -> np.ndarray:
    """Return a boolean array, True for rows whose key hashes into the holdout.

    Each key is hashed (SipHash keyed by the salt) to a uniform number in [0, 1) and goes to
    the holdout when that number is below ``fraction``; vectorised, and each row's outcome
    depends only on its own key and the salt.
    """
    f = _check_fraction(fraction)
    hash_key = _salt_hash_key(salt)
    series = keys if isinstance(keys, pd.Series) else pd.Series(keys)
    if series.isna().any():
        raise ConfigError(f"{int(series.isna().sum())} row key(s) are missing; keys must be set.")
    values = series.astype(str).to_numpy(dtype=object)
    hashes = pd.util.hash_array(values, hash_key=hash_key, categorize=False)
    unit = (hashes >> np.uint64(11)).astype(np.float64) * _UNIT_SCALE
    return unit < f


def split_holdout(
    df: pd.DataFrame,
    id_columns: Sequence[str],
    fraction: float,
    salt: str = DEFAULT_SALT,
) -> Split:
    """Split ``df`` into training and holdout rows by hashed row keys (see :func:`row_keys`).

    Returns positional indices; the split is reproducible and stable as rows are appended.
    """
    mask = holdout_mask(row_keys(df, id_columns), fraction, salt)
    split = Split(train_index=np.flatnonzero(~mask), holdout_index=np.flatnonzero(mask))
    if split.n_train == 0 or split.n_holdout == 0:
        logger.warning(
            "Holdout split of %d rows at fraction %.3f left %d training and %d holdout rows.",
            len(df),
            float(fraction),
            split.n_train,
            split.n_holdout,
        )
    else:
        logger.info(
            "Holdout split: %d training rows, %d holdout rows (fraction %.3f requested).",
            split.n_train,
            split.n_holdout,
            float(fraction),
        )
    return split


def stratified_folds(y: np.ndarray, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Return (train_index, validation_index) pairs of a shuffled stratified K-fold split.

    When the rarest class has fewer members than ``n_folds`` the number of folds is lowered
    to that count (with a warning) so every fold still sees each class; a class with a
    single member cannot be stratified and raises TrainingError.
    """
    if isinstance(n_folds, bool) or not isinstance(n_folds, (int, np.integer)) or n_folds < 2:
        raise ConfigError(f"n_folds must be an integer >= 2, got {n_folds!r}.")
    labels = pd.Series(np.asarray(y))
    if labels.ndim != 1 or labels.empty:
        raise TrainingError("Cannot build folds: the target is empty.")
    if labels.isna().any():
        n_missing = int(labels.isna().sum())
        raise TrainingError(f"Cannot build folds: the target has {n_missing} missing value(s).")
    counts = labels.value_counts()
    if counts.shape[0] < 2:
        raise TrainingError(f"Cannot build stratified folds: the target has a single class {counts.index[0]!r}.")
    rarest, smallest = counts.index[-1], int(counts.iloc[-1])
    if smallest < 2:
        raise TrainingError(
            f"Cannot build stratified folds: class {rarest!r} has only {smallest} member; "
            "every class needs at least 2. Collect more data or merge rare classes."
        )
    folds = int(n_folds)
    if smallest < folds:
        logger.warning(
            "Class %r has only %d members; using %d folds instead of %d.",
            rarest,
            smallest,
            smallest,
            folds,
        )
        folds = smallest
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return [
        (train.astype(np.int64), valid.astype(np.int64))
        for train, valid in splitter.split(np.zeros((labels.shape[0], 1)), labels.to_numpy())
    ]


MAX_TARGET_BINS = 10
"""At most this many quantile bins of a regression target are stratified on."""


def _check_n_folds(n_folds: int) -> int:
    """The number of folds must be an integer of at least 2."""
    if isinstance(n_folds, bool) or not isinstance(n_folds, (int, np.integer)) or n_folds < 2:
        raise ConfigError(f"n_folds must be an integer >= 2, got {n_folds!r}.")
    return int(n_folds)


def target_bins(y: np.ndarray, n_folds: int) -> np.ndarray:
    """Quantile-bin labels (0, 1, ...) of a regression target, each bin holding >= ``n_folds`` rows.

    As many quantile bins as keep ``n_folds`` rows per bin, at most :data:`MAX_TARGET_BINS`; edges
    that coincide (ties in the target) are merged, and a bin that still ends up with fewer than
    ``n_folds`` rows (a heavy tie next to it) is merged into its smaller neighbour.  Every row
    of a bin is at most every row of the next one, and equal targets share a bin.
    """
    values = np.asarray(y, dtype=np.float64)
    n = values.shape[0]
    n_bins = min(MAX_TARGET_BINS, n // _check_n_folds(n_folds))
    if n_bins < 2:
        return np.zeros(n, dtype=np.intp)
    edges = np.unique(np.quantile(values, np.linspace(0.0, 1.0, n_bins + 1)[1:-1]))
    labels = np.searchsorted(edges, values, side="left")
    counts = list(np.bincount(labels, minlength=edges.size + 1))
    merged_into = np.arange(len(counts))  # bin -> the bin it now belongs to (runs stay contiguous)
    groups = [[b] for b in range(len(counts))]
    while len(counts) > 1 and min(counts) < n_folds:
        i = int(np.argmin(counts))
        j = i - 1 if i == len(counts) - 1 or (i > 0 and counts[i - 1] <= counts[i + 1]) else i + 1
        keep, drop = min(i, j), max(i, j)
        counts[keep] += counts.pop(drop)
        groups[keep] += groups.pop(drop)
    for new_label, members in enumerate(groups):
        merged_into[members] = new_label
    return merged_into[labels]


def regression_folds(y: np.ndarray, n_folds: int, seed: int, binned: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    """Return (fit_index, validation_index) pairs of a shuffled K-fold split of a numeric target.

    ``binned`` (``evaluation.regression_folds: binned``, the default) stratifies on the
    target's quantile bins (:func:`target_bins`) with the same ``StratifiedKFold`` as
    :func:`stratified_folds`, so every fold sees the target's whole range in about its share --
    with a skewed target, plain folds can put most of the tail in one fold and the fold scores
    then measure the split more than the model.  Otherwise (``plain``) a shuffled K-fold.
    Either way every row is validated exactly once and the folds depend only on (y, n_folds,
    seed).  Too few rows for the folds, or a missing target, raise TrainingError.
    """
    folds = _check_n_folds(n_folds)
    target = np.asarray(y)
    if target.ndim != 1 or target.shape[0] == 0:
        raise TrainingError(f"Cannot build folds: the target must be a non-empty column, got shape {target.shape}.")
    if not (np.issubdtype(target.dtype, np.number) or target.dtype == np.bool_):
        raise TrainingError(
            f"Cannot build regression folds: the target has dtype {target.dtype}, not numbers. "
            "Check dataset.task and the target column."
        )
    values = target.astype(np.float64, copy=False)
    missing = ~np.isfinite(values)
    if missing.any():
        raise TrainingError(
            f"Cannot build folds: the target has {int(missing.sum())} missing or infinite value(s); "
            "drop those rows first (the label contract's max_missing_share governs how many may be dropped)."
        )
    n = values.shape[0]
    if n < folds:
        raise TrainingError(
            f"Cannot build {folds} folds from {n} training row(s): every fold needs at least one validation row. "
            f"Lower evaluation.folds to at most {n} or collect more data."
        )
    if binned:
        labels = target_bins(values, folds)
        n_bins = int(labels.max()) + 1
        if n_bins >= 2:
            logger.info("Regression folds: %d folds stratified on %d quantile bins of the target.", folds, n_bins)
            splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
            pairs = splitter.split(np.zeros((n, 1)), labels)
            return [(fit.astype(np.int64), valid.astype(np.int64)) for fit, valid in pairs]
        logger.info(
            "Regression folds: %d rows (%d distinct targets) are too few to bin for %d folds; using plain folds.",
            n,
            np.unique(values).size,
            folds,
        )
    splitter_plain = KFold(n_splits=folds, shuffle=True, random_state=seed)
    return [(fit.astype(np.int64), valid.astype(np.int64)) for fit, valid in splitter_plain.split(np.zeros((n, 1)))]


# --------------------------------------------------------------------------------------------
# Time-based split: the holdout is the most recent data, folds chain forward in time
# --------------------------------------------------------------------------------------------


def time_values(col: pd.Series) -> np.ndarray:
    """Return a time column as sortable float64 values (epoch ticks for dates and timestamps).

    Numbers are used as they are (e.g. a day number); anything else is parsed as a date or
    timestamp (timezone-aware values are compared in UTC).  Missing or unparseable values raise
    ConfigError naming the column and a few offending values.
    """
    name = str(col.name)
    missing = col.isna()
    if missing.any():
        raise ConfigError(
            f"time column {name!r} has {int(missing.sum())} missing value(s); every row needs a time "
            "for a time-based split. Fill them, or remove `dataset.time_column` to split by row key."
        )
    if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
        return col.to_numpy(dtype=np.float64)
    parsed = pd.to_datetime(col, errors="coerce", utc=True, format="mixed")
    bad = col[parsed.isna()]
    if not bad.empty:
        raise ConfigError(
            f"time column {name!r} holds {bad.shape[0]} value(s) that are neither numbers nor dates, "
            f"e.g. {bad.astype(str).head(3).tolist()}; write them as ISO dates (2024-05-31) or numbers."
        )
    return parsed.astype("int64").to_numpy(dtype=np.float64)


def split_by_time(times: np.ndarray, fraction: float) -> Split:
    """Hold out the most recent ``fraction`` of rows; all rows at the cutoff time go to the holdout.

    Unlike the hash split this moves with the data: as newer rows arrive, the holdout moves
    forward and older holdout rows become training rows.  That is the point of a time split:
    the model is always judged on data newer than anything it was trained on.
    """
    f = _check_fraction(fraction)
    t = np.asarray(times, dtype=np.float64)
    if t.ndim != 1 or t.shape[0] < 2:
        raise TrainingError(f"a time-based split needs at least 2 rows, got {t.shape[0] if t.ndim == 1 else t.shape}.")
    ordered = np.sort(t, kind="stable")
    n_train = t.shape[0] - max(1, int(np.ceil(t.shape[0] * f)))
    cutoff = ordered[n_train]
    mask = t >= cutoff
    if mask.all():
        raise TrainingError(
            f"cannot hold out the most recent {f:.0%} of rows by time: every row is at or after the cutoff "
            f"{cutoff!r} (too few distinct times). Collect data over a longer period or lower holdout_fraction."
        )
    split = Split(train_index=np.flatnonzero(~mask), holdout_index=np.flatnonzero(mask))
    logger.info(
        "Time split: %d training rows before %r, %d holdout rows from it (fraction %.3f requested).",
        split.n_train,
        cutoff,
        split.n_holdout,
        f,
    )
    return split


def time_folds(times: np.ndarray, n_folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Forward-chaining folds over time (like scikit-learn's TimeSeriesSplit, but tie-aware).

    The rows are cut by time into ``n_folds + 1`` blocks of about equal size; fold k trains on
    blocks 0..k-1 and validates on block k, so a model is never validated on data older than
    what it was fitted on.  Rows with equal times always share a block; blocks that end up empty
    (heavy ties) are skipped, and fewer than 2 usable folds raise TrainingError.
    """
    if isinstance(n_folds, bool) or not isinstance(n_folds, (int, np.integer)) or n_folds < 2:
        raise ConfigError(f"n_folds must be an integer >= 2, got {n_folds!r}.")
    t = np.asarray(times, dtype=np.float64)
    ordered = np.sort(t, kind="stable")
    positions = (np.arange(1, n_folds + 1) * t.shape[0]) // (n_folds + 1)
    cuts = ordered[np.minimum(positions, t.shape[0] - 1)]
    block = np.searchsorted(cuts, t, side="right")
    folds = []
    for k in range(1, n_folds + 1):
        fit, valid = np.flatnonzero(block < k), np.flatnonzero(block == k)
        if fit.size and valid.size:
            folds.append((fit.astype(np.int64), valid.astype(np.int64)))
    if len(folds) < 2:
        raise TrainingError(
            f"only {len(folds)} forward-chaining fold(s) could be formed from {t.shape[0]} rows with "
            f"{np.unique(t).size} distinct times; lower evaluation.folds or collect data over more time."
        )
    if len(folds) < n_folds:
        logger.warning("Ties in the time column left %d of %d forward-chaining folds.", len(folds), n_folds)
    return folds
