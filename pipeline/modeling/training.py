"""Build and fit the scikit-learn pipeline declared in config, for any task type.

Preprocessing is part of the fitted model (imputation, scaling, one-hot encoding), and so is a
regressor's output post-processing (clip, round: :class:`PostProcessedRegressor`), so the
artifact scores raw snapshot rows the same way in evaluation, batch scoring and serving, and
nothing about the training data leaks into serving code.  The target is 0/1 for a binary task
(1 = the positive class), the class's index in ``dataset.classes`` for a multiclass task and the
number itself for regression (:func:`target_values`).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.feature_extraction import FeatureHasher
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler, TargetEncoder

from pipeline.core.config import DatasetConfig, ModelSpec, OutputConfig
from pipeline.core.errors import TrainingError
from pipeline.core.thread_budget import ThreadBudget, limit_threads
from pipeline.modeling.postprocess import PostProcessedRegressor

log = logging.getLogger(__name__)

_CLASSIFIERS: dict[str, Any] = {
    "logistic_regression": LogisticRegression,
    "random_forest": RandomForestClassifier,
    "gradient_boosting": HistGradientBoostingClassifier,
}
_REGRESSORS: dict[str, Any] = {
    "linear_regression": LinearRegression,
    "ridge": Ridge,
    "random_forest": RandomForestRegressor,
    "gradient_boosting": HistGradientBoostingRegressor,
}
_UNSEEDED = {"linear_regression"}
_TARGET_TYPE = {"binary": "binary", "multiclass": "multiclass", "regression": "continuous"}


HASHED_COLUMNS = 32
"""Columns per hashed categorical feature (``encoding: hashing``)."""
_SECONDS_PER_DAY = 86_400.0


def _utc(values: Any) -> pd.Series:
    series = pd.Series(values)
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return series.dt.tz_localize("UTC") if series.dt.tz is None else series.dt.tz_convert("UTC")
    if pd.api.types.is_numeric_dtype(series.dtype):  # a numeric time column: taken as epoch seconds
        return pd.to_datetime(series, unit="s", utc=True, errors="coerce")
    return pd.to_datetime(series, utc=True, errors="coerce", format="mixed")


class DatetimeParts(BaseEstimator, TransformerMixin):
    """Numbers the model can use from datetime columns: year, month, day of week, hour, age in days.

    Takes the datetime columns (``parts[i]`` lists what to derive from column ``i``), followed by the
    time column when any of them derives ``age_days`` (days from the value to the row's time).
    Stateless, so it scores any row the same whatever it was fitted on; missing values stay NaN for
    the imputer that follows.
    """

    def __init__(self, parts: tuple[tuple[str, ...], ...] = (), with_time: bool = False) -> None:
        self.parts = parts
        self.with_time = with_time

    def fit(self, X: Any, y: Any = None) -> DatetimeParts:
        self.n_features_in_ = np.shape(X)[1]  # marks it fitted for scikit-learn's checks
        return self

    def transform(self, X: Any) -> np.ndarray:
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
        time = _utc(frame.iloc[:, len(self.parts)].to_numpy()) if self.with_time else None
        out = []
        for i, parts in enumerate(self.parts):
            values = _utc(frame.iloc[:, i].to_numpy())
            for part in parts:
                if part == "year":
                    out.append(values.dt.year)
                elif part == "month":
                    out.append(values.dt.month)
                elif part == "day_of_week":
                    out.append(values.dt.day_of_week)
                elif part == "hour":
                    out.append(values.dt.hour)
                elif part == "age_days" and time is not None:
                    out.append((time - values).dt.total_seconds() / _SECONDS_PER_DAY)
        if not out:
            return np.empty((len(frame), 0))
        return np.column_stack([pd.Series(c).to_numpy(dtype=float, na_value=np.nan) for c in out])


class HashedCategories(BaseEstimator, TransformerMixin):
    """Each text column hashed into ``n_features`` columns (any level, seen or not, gets a place)."""

    def __init__(self, n_features: int = HASHED_COLUMNS) -> None:
        self.n_features = n_features

    def fit(self, X: Any, y: Any = None) -> HashedCategories:
        self.n_features_in_ = np.shape(X)[1]  # marks it fitted for scikit-learn's checks
        return self

    def transform(self, X: Any) -> np.ndarray:
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
        hasher = FeatureHasher(n_features=self.n_features, input_type="string")
        blocks = [hasher.transform([[str(v)] for v in frame.iloc[:, i]]).toarray() for i in range(frame.shape[1])]
        return np.hstack(blocks) if blocks else np.empty((len(frame), 0))


def model_input_columns(dataset: DatasetConfig) -> list[str]:
    """The columns the fitted model reads: the features, plus the time column when a datetime
    feature derives its age from it (the time column may be an id column)."""
    names = list(dataset.feature_names)
    time = _age_time_column(dataset)
    if time is not None and time not in names:
        names.append(time)
    return names


def _age_time_column(dataset: DatasetConfig) -> str | None:
    wants_age = any("age_days" in f.derive and f.name != dataset.time_column for f in dataset.features.datetime)
    return dataset.time_column if wants_age else None


def _datetime_parts(dataset: DatasetConfig) -> tuple[tuple[str, ...], ...]:
    time = _age_time_column(dataset)
    return tuple(
        tuple(p for p in f.derive if p != "age_days" or (time and f.name != time)) for f in dataset.features.datetime
    )


def _estimator(dataset: DatasetConfig, spec: ModelSpec, seed: int, output: OutputConfig | None) -> Any:
    """The task's estimator for ``spec`` (the regressor wrapped in its output post-processing)."""
    registry = _CLASSIFIERS if dataset.is_classification else _REGRESSORS
    if spec.estimator not in registry:
        raise TrainingError(
            f"model spec {spec.estimator} does not fit a {dataset.task} task; use one of {sorted(registry)}"
        )
    params = dict(spec.params)
    if spec.estimator not in _UNSEEDED:
        params.setdefault("random_state", seed)
    try:
        estimator = registry[spec.estimator](**params)
    except TypeError as err:
        raise TrainingError(f"model spec {spec.estimator}: bad params {spec.params}: {err}") from None
    if output is not None:
        return PostProcessedRegressor(
            estimator, clip_min=output.clip_min, clip_max=output.clip_max, round_decimals=output.round_decimals
        )
    return estimator


def build_pipeline(dataset: DatasetConfig, spec: ModelSpec, seed: int, output: OutputConfig | None = None) -> Pipeline:
    """An unfitted preprocessing + estimator pipeline for ``spec``; bad params name the spec.

    ``output`` (``model.output``, regression only) becomes the pipeline's last step, so every
    prediction of the fitted model is post-processed the same way wherever it is made.
    """
    estimator = _estimator(dataset, spec, seed, output)
    transformers = []
    if dataset.numeric_names:
        transformers.append(
            (
                "numeric",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="median")),
                        ("scale", StandardScaler()),
                    ]
                ),
                dataset.numeric_names,
            )
        )
    by_encoding: dict[str, list[str]] = {}
    for cat in dataset.features.categorical:
        by_encoding.setdefault(cat.encoding, []).append(cat.name)
    encoders = {
        "onehot": lambda: OneHotEncoder(handle_unknown="ignore", sparse_output=False),
        # cross-fitted: fit_transform encodes each row with statistics from the other folds
        "target": lambda: TargetEncoder(target_type=_TARGET_TYPE[dataset.task], random_state=seed),
        "hashing": HashedCategories,
    }
    for encoding, names in by_encoding.items():
        # the one-hot step keeps its historical name so existing pipelines look the same
        transformers.append(
            (
                "categorical" if encoding == "onehot" else f"categorical_{encoding}",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="constant", fill_value="__missing__")),
                        (encoding, encoders[encoding]()),
                    ]
                ),
                names,
            )
        )
    if dataset.datetime_names:
        time = _age_time_column(dataset)
        transformers.append(
            (
                "datetime",
                Pipeline(
                    [
                        ("derive", DatetimeParts(parts=_datetime_parts(dataset), with_time=time is not None)),
                        ("impute", SimpleImputer(strategy="median")),
                        ("scale", StandardScaler()),
                    ]
                ),
                [*dataset.datetime_names, *([time] if time else [])],
            )
        )
    return Pipeline([("preprocess", ColumnTransformer(transformers)), ("model", estimator)])


def feature_frame(frame: pd.DataFrame, dataset: DatasetConfig) -> pd.DataFrame:
    """The model's input: declared features, categoricals as object dtype (as the encoder expects).

    Needs no label column, so unlabelled batches are scored through the same preparation.
    """
    X = frame[model_input_columns(dataset)].copy()
    for col in dataset.categorical_names:
        X[col] = X[col].astype(object).where(X[col].notna(), np.nan)
    return X


def target_values(frame: pd.DataFrame, dataset: DatasetConfig) -> np.ndarray:
    """The label as the model learns it: 0/1 (binary, 1 = positive class), the class's index in
    ``dataset.classes`` (multiclass, int16) or the number (regression, float64).

    Snapshots hold only labels that ingestion accepted (a declared class, or a number), so an
    unknown class here is a bug upstream and raises rather than being coded as some class.
    """
    label = frame[dataset.label]
    if dataset.task == "binary":
        return (label.astype(str) == dataset.positive_class).to_numpy(dtype=np.int8)
    if dataset.task == "multiclass":
        codes = pd.Index(list(dataset.classes)).get_indexer(pd.Index(label.astype(str)))
        if (codes < 0).any():
            bad = sorted(set(label[codes < 0].astype(str).tolist()))[:5]
            raise TrainingError(f"{dataset.label}: values {bad} are not among dataset.classes {list(dataset.classes)}")
        return np.asarray(codes, dtype=np.int16)
    return pd.to_numeric(label, errors="raise").to_numpy(dtype=np.float64)


def features_and_target(frame: pd.DataFrame, dataset: DatasetConfig) -> tuple[pd.DataFrame, np.ndarray]:
    """Feature frame (see :func:`feature_frame`) and target (see :func:`target_values`)."""
    return feature_frame(frame, dataset), target_values(frame, dataset)


def _trainable(y: np.ndarray, dataset: DatasetConfig) -> None:
    """Refuse a target nothing can be learnt from: one class, or one value of a numeric label."""
    distinct = np.unique(y)
    if dataset.is_classification and distinct.size < 2:
        raise TrainingError(
            f"the training data holds only one class of {dataset.label!r}; at least two of "
            f"{list(dataset.classes)} are needed to train"
        )
    if not dataset.is_classification and distinct.size < 2:
        raise TrainingError(f"the training data holds a single value of {dataset.label!r}; a regressor needs more")


def fit_model(
    frame: pd.DataFrame,
    dataset: DatasetConfig,
    spec: ModelSpec,
    seed: int,
    threads: ThreadBudget | int | None = None,
    output: OutputConfig | None = None,
) -> Pipeline:
    """Fit the declared pipeline on ``frame`` within the thread budget (see :func:`build_pipeline`).

    ``threads`` is the task's budget (``Workspace.thread_budget``); None derives it from the
    environment (see ``pipeline/core/thread_budget.py``).
    """
    X, y = features_and_target(frame, dataset)
    _trainable(y, dataset)
    model = build_pipeline(dataset, spec, seed, output)
    try:
        with limit_threads(threads):
            model.fit(X, y)
    except (ValueError, TypeError) as err:  # sklearn validates params only when fitting
        raise TrainingError(
            f"model spec {spec.estimator} with params {spec.params} could not be fitted: {err}"
        ) from None
    return model


def scores_from_model(model: Any, X: pd.DataFrame, dataset: DatasetConfig) -> np.ndarray:
    """What the metrics read from a fitted model on feature frame ``X`` (see :func:`predict_scores`)."""
    if dataset.task == "regression":
        return np.asarray(model.predict(X), dtype=np.float64)
    proba = np.asarray(model.predict_proba(X), dtype=np.float64)
    if dataset.task == "binary":
        return proba[:, 1]
    # columns in dataset.classes order; a class the model never saw in training gets probability 0
    out = np.zeros((proba.shape[0], len(dataset.classes)), dtype=np.float64)
    for column, code in enumerate(np.asarray(model.classes_).astype(int)):
        out[:, code] = proba[:, column]
    return out


def predict_scores(
    model: Any, frame: pd.DataFrame, dataset: DatasetConfig, threads: ThreadBudget | int | None = None
) -> np.ndarray:
    """Each row's prediction as the metrics read it, within the thread budget (None: from the
    environment); a label column is not needed.

    Binary: the probability of the positive class, shape (n,).  Multiclass: the probability of
    each class in ``dataset.classes`` order, shape (n, k).  Regression: the predicted number,
    post-processed as ``model.output`` says, shape (n,).
    """
    X = feature_frame(frame, dataset)
    with limit_threads(threads):
        return scores_from_model(model, X, dataset)


def predict_proba(
    model: Pipeline, frame: pd.DataFrame, dataset: DatasetConfig, threads: ThreadBudget | int | None = None
) -> np.ndarray:
    """Probability of the positive class for each row of ``frame`` (binary tasks; see :func:`predict_scores`)."""
    return predict_scores(model, frame, dataset, threads)
