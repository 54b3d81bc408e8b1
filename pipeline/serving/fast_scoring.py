"""A request-path shortcut for the usual fitted pipeline: its preprocessing redone in plain NumPy.

scikit-learn's ``ColumnTransformer`` spends milliseconds per call on DataFrame indexing, input
checks and feature-name bookkeeping, far more than the arithmetic of one row needs. For the
pipeline ``build_pipeline`` makes with median-imputed, standard-scaled numeric features and
one-hot categoricals (``handle_unknown="ignore"``), :func:`compile_scorer` reads the fitted
statistics (imputer fills, scaler means and scales, encoder categories) and builds the same matrix
from the checked request values, then calls the fitted estimator itself on it. Anything else
(target or hashed categoricals, datetime parts, an estimator fitted with feature names) is not
compiled and is scored through scikit-learn as before. A compiled scorer is used only after it
reproduced scikit-learn's scores on a set of probe rows (every level, missing values, an unknown
level), so it can be wrong only where the probes could not see, never silently by construction.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from pipeline.core.config import DatasetConfig
from pipeline.modeling.training import feature_frame, scores_from_model

log = logging.getLogger(__name__)

MISSING_LEVEL = "__missing__"
"""What the categorical imputer of ``build_pipeline`` puts in place of a missing value."""

Columns = Mapping[str, Sequence[Any]]


@dataclass(frozen=True)
class _NumericBlock:
    columns: tuple[str, ...]
    fill: np.ndarray
    mean: np.ndarray
    scale: np.ndarray

    def __call__(self, values: Columns, n: int) -> np.ndarray:
        X = np.array([values[c] for c in self.columns], dtype=np.float64).T.reshape(n, len(self.columns))
        missing = np.isnan(X)
        if missing.any():
            X = np.where(missing, self.fill, X)
        return (X - self.mean) / self.scale


@dataclass(frozen=True)
class _OneHotBlock:
    columns: tuple[str, ...]
    lookups: tuple[dict[str, int], ...]
    """Per column: level -> output column (offsets included)."""
    width: int

    def __call__(self, values: Columns, n: int) -> np.ndarray:
        out = np.zeros((n, self.width))
        for column, lookup in zip(self.columns, self.lookups):
            for i, value in enumerate(values[column]):
                k = lookup.get(MISSING_LEVEL if value is None else value)
                if k is not None:  # an unknown level is all zeros, as handle_unknown="ignore" makes it
                    out[i, k] = 1.0
        return out


def _numeric_block(columns: list[str], steps: Pipeline) -> _NumericBlock | None:
    if [type(s) for _, s in steps.steps] != [SimpleImputer, StandardScaler]:
        return None
    imputer, scaler = steps.steps[0][1], steps.steps[1][1]
    fill = np.asarray(imputer.statistics_, dtype=np.float64)
    if imputer.strategy not in ("median", "mean") or fill.shape != (len(columns),) or np.isnan(fill).any():
        return None  # a column empty in training is dropped by the imputer: leave it to scikit-learn
    mean = np.zeros(len(columns)) if scaler.mean_ is None else np.asarray(scaler.mean_, dtype=np.float64)
    scale = np.ones(len(columns)) if scaler.scale_ is None else np.asarray(scaler.scale_, dtype=np.float64)
    return _NumericBlock(tuple(columns), fill, mean, scale)


def _onehot_block(columns: list[str], steps: Pipeline) -> _OneHotBlock | None:
    if [type(s) for _, s in steps.steps] != [SimpleImputer, OneHotEncoder]:
        return None
    imputer, encoder = steps.steps[0][1], steps.steps[1][1]
    if (
        imputer.strategy != "constant"
        or imputer.fill_value != MISSING_LEVEL
        or encoder.handle_unknown != "ignore"
        or encoder.drop is not None
        or getattr(encoder, "_infrequent_enabled", False)
        or encoder.sparse_output
        or len(encoder.categories_) != len(columns)
    ):
        return None
    lookups, offset = [], 0
    for categories in encoder.categories_:
        lookups.append({str(level): offset + k for k, level in enumerate(categories)})
        offset += len(categories)
    return _OneHotBlock(tuple(columns), tuple(lookups), offset)


@dataclass(frozen=True)
class CompiledScorer:
    """Scores checked request values (column lists) like ``scores_from_model`` does the frame."""

    blocks: tuple[_NumericBlock | _OneHotBlock, ...]
    estimator: Any
    dataset: DatasetConfig

    def matrix(self, values: Columns, n: int) -> np.ndarray:
        parts = [block(values, n) for block in self.blocks]
        return parts[0] if len(parts) == 1 else np.hstack(parts)

    def __call__(self, values: Columns, n: int) -> np.ndarray:
        return scores_from_model(self.estimator, self.matrix(values, n), self.dataset)  # type: ignore[arg-type]


def _compile(model: Any, dataset: DatasetConfig) -> CompiledScorer | None:
    if not isinstance(model, Pipeline) or len(model.steps) != 2:
        return None
    preprocess, estimator = model.steps[0][1], model.steps[1][1]
    if not isinstance(preprocess, ColumnTransformer) or hasattr(estimator, "feature_names_in_"):
        return None
    blocks: list[_NumericBlock | _OneHotBlock] = []
    for name, transformer, selected in preprocess.transformers_:
        if transformer == "drop" or (isinstance(selected, list | tuple) and not selected):
            continue
        if name == "remainder" or not isinstance(transformer, Pipeline):
            return None
        columns = [str(c) for c in selected]
        block = _numeric_block(columns, transformer) or _onehot_block(columns, transformer)
        if block is None:
            return None
        blocks.append(block)
    return CompiledScorer(tuple(blocks), estimator, dataset) if blocks else None


def probe_rows(example: Mapping[str, Any], dataset: DatasetConfig) -> list[dict[str, Any]]:
    """Rows that exercise every level, a missing value per nullable feature and an unknown level."""
    rows = [dict(example)]
    for cat in dataset.features.categorical:
        rows += [{**example, cat.name: level} for level in [*cat.levels, "__an unknown level__"]]
        if cat.nullable:
            rows.append({**example, cat.name: None})
    for k, num in enumerate(dataset.features.numeric):
        rows.append({**example, num.name: float(example[num.name]) * (1.5 + k) + 1.0})
        if num.nullable:
            rows.append({**example, num.name: None})
    return rows


def _probe(example: Mapping[str, Any], dataset: DatasetConfig) -> tuple[dict[str, list[Any]], pd.DataFrame]:
    """The probe rows as checked request values and as the frame scikit-learn scores."""
    rows = probe_rows(example, dataset)
    values: dict[str, list[Any]] = {}
    for name in dataset.numeric_names:
        values[name] = [np.nan if r[name] is None else float(r[name]) for r in rows]
    for name in dataset.categorical_names:
        values[name] = [r[name] for r in rows]
    return values, feature_frame(pd.DataFrame(values), dataset)


def compile_scorer(model: Any, dataset: DatasetConfig, example: Mapping[str, Any]) -> CompiledScorer | None:
    """A NumPy scorer equal to scikit-learn's on the probe rows made from ``example`` (a valid
    request row), or None when the pipeline has another shape or the two disagree."""
    if dataset.features.datetime:
        return None
    compiled = _compile(model, dataset)
    if compiled is None:
        return None
    try:
        values, frame = _probe(example, dataset)
        fast = compiled(values, len(frame))
        slow = scores_from_model(model, frame, dataset)
    except Exception as err:  # noqa: BLE001 - any surprise means: not compiled, scikit-learn scores
        log.warning("the fast scoring path does not fit this model (%s); scoring through scikit-learn", err)
        return None
    if fast.shape != slow.shape or not np.allclose(fast, slow, rtol=1e-9, atol=1e-12):
        log.warning("the fast scoring path differs from scikit-learn on the probe rows; scoring through scikit-learn")
        return None
    return compiled
