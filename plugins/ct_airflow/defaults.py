"""Default task arguments and schedules shared by every DAG.

Schedules come from the ``schedules`` section of the pipeline config (``CT_CONFIG``, else the
bundled ``config/pipeline.yaml``), with ``CT_<NAME>_CRON`` environment overrides. They are read
when Airflow parses the DAG files, so this reads the YAML directly — no pipeline import, no
validation, no DB — and falls back to the defaults when the file cannot be read; ``ct
validate-config`` and every task validate the same section properly.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from ct_airflow.notify import notify_task_failure

log = logging.getLogger(__name__)

START_DATE = datetime(2026, 1, 1, tzinfo=UTC)

DEFAULT_ARGS = {
    "owner": "ct",
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "on_failure_callback": [notify_task_failure],  # a task_failed alert once retries are used up (ct alerts)
}

_BUNDLED_CONFIG = Path(__file__).resolve().parents[2] / "config" / "pipeline.yaml"
_DEFAULTS: dict[str, Any] = {
    "ingest": "*/5 * * * *",
    "monitor": "0 * * * *",
    "train": "0 3 * * *",
    "landing_poke_seconds": 30.0,
    "landing_wait_minutes": 60.0,
}


def read_schedules(config_path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The ``schedules`` section of the pipeline config over the defaults; unreadable → defaults."""
    path = Path(config_path or os.environ.get("CT_CONFIG") or _BUNDLED_CONFIG)
    try:
        section = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("schedules") or {}
    except (OSError, yaml.YAMLError, AttributeError) as err:
        log.warning("schedules: could not read %s (%s); using the defaults", path, err)
        section = {}
    return {**_DEFAULTS, **{k: v for k, v in section.items() if k in _DEFAULTS}}


_SCHEDULES = read_schedules()

TRAIN_CRON: str = os.environ.get("CT_TRAIN_CRON") or _SCHEDULES["train"]
INGEST_CRON: str = os.environ.get("CT_INGEST_CRON") or _SCHEDULES["ingest"]
MONITOR_CRON: str = os.environ.get("CT_MONITOR_CRON") or _SCHEDULES["monitor"]
LANDING_POKE_SECONDS = float(os.environ.get("CT_LANDING_POKE_SECONDS") or _SCHEDULES["landing_poke_seconds"])
LANDING_WAIT = timedelta(minutes=float(os.environ.get("CT_LANDING_WAIT_MINUTES") or _SCHEDULES["landing_wait_minutes"]))
