"""Default task arguments and schedules shared by every DAG.

Schedules are read when Airflow parses DAG files, so they come from the environment (cheap, no
file or DB access at parse time) rather than from pipeline.yaml.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

START_DATE = datetime(2026, 1, 1, tzinfo=timezone.utc)

DEFAULT_ARGS = {
    "owner": "ct",
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
}

TRAIN_CRON = os.environ.get("CT_TRAIN_CRON", "0 3 * * *")
INGEST_CRON = os.environ.get("CT_INGEST_CRON", "*/10 * * * *")
MONITOR_CRON = os.environ.get("CT_MONITOR_CRON", "0 * * * *")
LANDING_POKE_SECONDS = float(os.environ.get("CT_LANDING_POKE_SECONDS", "30"))
