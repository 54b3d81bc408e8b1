"""The prediction log of ``ct serve``: where each logged prediction is stored and what it holds.

The service (``pipeline/serving/prediction_log.py``) writes it and ``ct_monitor`` reads it, so the
two agree through this module only. One Parquet file per flush, partitioned by model, day and hour::

    prediction-logs/<model>/date=YYYY-MM-DD/hour=HH/<yyyymmddThhmmss>-<writer>-<seq>.parquet

One row per (request row, model version that scored it): with a challenger, a request row has a
row for the version that answered it (``served``) and one for the version that scored it in shadow.
Columns, in this order:

- ``request_id`` (str), ``row`` (int, position in the request), ``entity_id`` (str, what assigned
  canary traffic), ``logged_at`` (UTC timestamp of the request);
- the dataset's id columns, as sent;
- the feature columns as sent (``serving.log.features: full``) or ``features_sha256`` (``hash``);
- ``model_name`` (str), ``model_version`` (int64), ``artifact_sha256`` (str), ``role``
  (``champion`` | ``challenger``), ``served`` (bool: this answer was returned);
- the task's prediction columns (:mod:`pipeline.modeling.prediction_columns`);
- ``latency_ms`` (float: time to score this version's rows of the request).
"""

from __future__ import annotations

from datetime import datetime

PREDICTION_LOG_PREFIX = "prediction-logs"

ROLE_CHAMPION = "champion"
ROLE_CHALLENGER = "challenger"

REQUEST_COLUMNS: tuple[str, ...] = ("request_id", "row", "entity_id", "logged_at")
MODEL_COLUMNS: tuple[str, ...] = ("model_name", "model_version", "artifact_sha256", "role", "served")
FEATURES_HASH_COLUMN = "features_sha256"
LATENCY_COLUMN = "latency_ms"


def model_log_prefix(model_name: str) -> str:
    """Every log file of one model lies under this prefix."""
    return f"{PREDICTION_LOG_PREFIX}/{model_name}"


def log_file_key(model_name: str, when: datetime, writer: str, seq: int) -> str:
    """The key of one flushed log file; ``when`` (UTC) is the flush time and names the partition,
    ``writer`` is unique per service process (e.g. host, pid and a random suffix)."""
    return (
        f"{model_log_prefix(model_name)}/date={when:%Y-%m-%d}/hour={when:%H}/"
        f"{when:%Y%m%dT%H%M%S}-{writer}-{seq:06d}.parquet"
    )
