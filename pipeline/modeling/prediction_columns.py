"""How a model's scores are written into a predictions file and read back, for every task type.

Batch scoring writes these columns and the late-label join reads them back to score the champion
on live labels, so the two must agree; this module is the one place that says what they are:

- binary: ``score`` (the positive class's probability) and ``predicted_label``;
- multiclass: ``proba_<class>`` per class in ``dataset.classes`` order, ``score`` (the predicted
  class's probability) and ``predicted_label``;
- regression: ``prediction`` (post-processed as ``model.output`` says).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.config import DatasetConfig
from pipeline.core.errors import ScoringError

DECISION_THRESHOLD = 0.5
"""A binary row is predicted positive when its score is at least this, unless
``evaluation.decision_threshold`` says otherwise (the default of that key)."""


def recorded_threshold(evaluation: Mapping[str, Any] | None, configured: float) -> float:
    """The decision threshold of a model version: the one recorded with its evaluation, so its
    labels and live threshold metrics are those its evidence describes; ``configured``
    (``evaluation.decision_threshold``) for a version recorded before thresholds were."""
    recorded = (evaluation or {}).get("threshold")
    return float(recorded) if recorded is not None else configured


def proba_column(class_name: str) -> str:
    """The predictions column holding one class's probability (multiclass)."""
    return f"proba_{class_name}"


def score_columns(dataset: DatasetConfig) -> list[str]:
    """The columns :func:`scores_from_predictions` reads."""
    if dataset.task == "multiclass":
        return [proba_column(c) for c in dataset.classes]
    if dataset.task == "regression":
        return ["prediction"]
    return ["score"]


def prediction_frame(scores: np.ndarray, dataset: DatasetConfig, threshold: float = DECISION_THRESHOLD) -> pd.DataFrame:
    """The prediction columns for ``scores`` as ``predict_scores`` returns them (one row per row);
    a binary row's label is the positive class when its score is at least ``threshold``
    (``evaluation.decision_threshold``)."""
    if dataset.task == "regression":
        return pd.DataFrame({"prediction": np.asarray(scores, dtype="float64")})
    if dataset.task == "multiclass":
        proba = np.asarray(scores, dtype="float64")
        labels = np.asarray(dataset.classes, dtype=object)
        best = proba.argmax(axis=1)
        columns = {proba_column(c): proba[:, k] for k, c in enumerate(dataset.classes)}
        return pd.DataFrame({**columns, "score": proba[np.arange(len(proba)), best], "predicted_label": labels[best]})
    proba = np.asarray(scores, dtype="float64")
    positive = str(dataset.positive_class)
    negative = next(c for c in dataset.classes if c != positive)
    return pd.DataFrame({"score": proba, "predicted_label": np.where(proba >= threshold, positive, negative)})


def scores_from_predictions(frame: pd.DataFrame, dataset: DatasetConfig) -> np.ndarray:
    """The scores a predictions file holds, as ``predict_scores`` returned them."""
    columns = score_columns(dataset)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ScoringError(
            f"the predictions lack columns {missing} that a {dataset.task} task writes; they were made "
            "under another dataset.task or class list: score the batch again with the current champion"
        )
    values = frame[columns].to_numpy(dtype="float64")
    return values if dataset.task == "multiclass" else values[:, 0]
