"""Build and fit the scikit-learn pipeline declared in config.

Preprocessing is part of the fitted model (imputation, scaling, one-hot encoding), so the artifact
scores raw snapshot rows and nothing about the training data leaks into serving code.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from pipeline.config import DatasetConfig, ModelSpec
from pipeline.errors import TrainingError
from pipeline.thread_budget import ThreadBudget, limit_threads

log = logging.getLogger(__name__)

_ESTIMATORS: dict[str, Any] = {
    "logistic_regression": LogisticRegression,
    "random_forest": RandomForestClassifier,
    "gradient_boosting": HistGradientBoostingClassifier,
}
_SEEDED = {"random_forest", "gradient_boosting", "logistic_regression"}


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
        transformers.append(("numeric", Pipeline([
            ("impute", SimpleImputer(strategy="median")),
            ("scale", StandardScaler()),
        ]), dataset.numeric_names))
    if dataset.categorical_names:
        transformers.append(("categorical", Pipeline([
            ("impute", SimpleImputer(strategy="constant", fill_value="__missing__")),
            ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]), dataset.categorical_names))
    return Pipeline([("preprocess", ColumnTransformer(transformers)), ("model", estimator)])


def feature_frame(frame: pd.DataFrame, dataset: DatasetConfig) -> pd.DataFrame:
    """The model's input: declared features, categoricals as object dtype (as the encoder expects).

    Needs no label column, so unlabelled batches are scored through the same preparation.
    """
    X = frame[dataset.feature_names].copy()
    for col in dataset.categorical_names:
        X[col] = X[col].astype(object).where(X[col].notna(), np.nan)
    return X


def features_and_target(frame: pd.DataFrame, dataset: DatasetConfig) -> tuple[pd.DataFrame, np.ndarray]:
    """Feature frame (see :func:`feature_frame`) and 0/1 target."""
    y = (frame[dataset.label].astype(str) == dataset.positive_class).to_numpy(dtype=np.int8)
    return feature_frame(frame, dataset), y


def fit_model(frame: pd.DataFrame, dataset: DatasetConfig, spec: ModelSpec, seed: int,
              threads: ThreadBudget | int | None = None) -> Pipeline:
    """Fit the declared pipeline on ``frame`` within the thread budget; needs both classes present.

    ``threads`` is the task's budget (``Workspace.thread_budget``); None derives it from the
    environment (see ``pipeline/thread_budget.py``).
    """
    X, y = features_and_target(frame, dataset)
    if len(np.unique(y)) < 2:
        raise TrainingError(f"the training data holds only one class of {dataset.label!r}; both "
                            f"{list(dataset.classes)} are needed to train")
    model = build_pipeline(dataset, spec, seed)
    try:
        with limit_threads(threads):
            model.fit(X, y)
    except (ValueError, TypeError) as err:  # sklearn validates params only when fitting
        raise TrainingError(f"model spec {spec.estimator} with params {spec.params} could not be fitted: {err}") from None
    return model


def predict_proba(model: Pipeline, frame: pd.DataFrame, dataset: DatasetConfig,
                  threads: ThreadBudget | int | None = None) -> np.ndarray:
    """Probability of the positive class for each row of ``frame`` (a label column is not needed),
    computed within the thread budget (None: derived from the environment)."""
    X = feature_frame(frame, dataset)
    with limit_threads(threads):
        return model.predict_proba(X)[:, 1]
