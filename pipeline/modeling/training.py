"""Build and fit the scikit-learn pipeline declared in config.

Preprocessing is part of the fitted model (imputation, scaling, one-hot encoding), so the artifact
scores raw snapshot rows and nothing about the training data leaks into serving code.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.feature_extraction import FeatureHasher
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler, TargetEncoder

from pipeline.core.config import DatasetConfig, ModelSpec
from pipeline.core.errors import TrainingError
from pipeline.core.thread_budget import ThreadBudget, limit_threads

log = logging.getLogger(__name__)

_ESTIMATORS: dict[str, Any] = {
    "logistic_regression": LogisticRegression,
    "random_forest": RandomForestClassifier,
    "gradient_boosting": HistGradientBoostingClassifier,
}
_SEEDED = {"random_forest", "gradient_boosting", "logistic_regression"}


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


def build_pipeline(dataset: DatasetConfig, spec: ModelSpec, seed: int) -> Pipeline:
    """An unfitted preprocessing + estimator pipeline for ``spec``; bad params name the spec."""
    params = dict(spec.params)
    if spec.estimator in _SEEDED:
        params.setdefault("random_state", seed)
    try:
        estimator = _ESTIMATORS[spec.estimator](**params)
    except TypeError as err:
        raise TrainingError(f"model spec {spec.estimator}: bad params {spec.params}: {err}") from None
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
        "target": lambda: TargetEncoder(target_type="binary", random_state=seed),
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


def features_and_target(frame: pd.DataFrame, dataset: DatasetConfig) -> tuple[pd.DataFrame, np.ndarray]:
    """Feature frame (see :func:`feature_frame`) and 0/1 target."""
    y = (frame[dataset.label].astype(str) == dataset.positive_class).to_numpy(dtype=np.int8)
    return feature_frame(frame, dataset), y


def fit_model(
    frame: pd.DataFrame, dataset: DatasetConfig, spec: ModelSpec, seed: int, threads: ThreadBudget | int | None = None
) -> Pipeline:
    """Fit the declared pipeline on ``frame`` within the thread budget; needs both classes present.

    ``threads`` is the task's budget (``Workspace.thread_budget``); None derives it from the
    environment (see ``pipeline/core/thread_budget.py``).
    """
    X, y = features_and_target(frame, dataset)
    if len(np.unique(y)) < 2:
        raise TrainingError(
            f"the training data holds only one class of {dataset.label!r}; both "
            f"{list(dataset.classes)} are needed to train"
        )
    model = build_pipeline(dataset, spec, seed)
    try:
        with limit_threads(threads):
            model.fit(X, y)
    except (ValueError, TypeError) as err:  # sklearn validates params only when fitting
        raise TrainingError(
            f"model spec {spec.estimator} with params {spec.params} could not be fitted: {err}"
        ) from None
    return model


def predict_proba(
    model: Pipeline, frame: pd.DataFrame, dataset: DatasetConfig, threads: ThreadBudget | int | None = None
) -> np.ndarray:
    """Probability of the positive class for each row of ``frame`` (a label column is not needed),
    computed within the thread budget (None: derived from the environment)."""
    X = feature_frame(frame, dataset)
    with limit_threads(threads):
        return model.predict_proba(X)[:, 1]
