"""Tell a person that an orchestrator task failed for good: the ``task_failed`` alert, on this process's stores.

The Airflow glue (``plugins/ct_airflow/notify.py``) reads the failed task instance into a
:class:`TaskFailure` and calls :func:`record_task_failure`; building the alert, loading the alerts
settings and opening the metadata store is application wiring, so it lives here and the glue
imports nothing below ``pipeline.app``. A broken config (a common reason for a task to fail) or an
unreachable database must not cost the alert: the defaults and the log stand in for them.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

from pipeline.core.config import AlertsConfig, load_config
from pipeline.core.errors import CTError
from pipeline.core.settings import Settings, load_settings
from pipeline.monitoring.alerts import Notifier, task_failed_alert
from pipeline.registry.base import AlertRecord
from pipeline.registry.sql import SqlMetadataStore

log = logging.getLogger("ct.alerts")


@dataclass(frozen=True)
class TaskFailure:
    """One try of a task that failed for good, as the orchestrator reports it."""

    dag_id: str
    task_id: str
    run_id: str
    try_number: int | None
    map_index: int | None
    error: str
    """The failure in words (the pipeline error behind the orchestrator's own exception, if any)."""
    log_url: str | None


def _alerts_config(settings: Settings) -> AlertsConfig:
    """The ``alerts`` section of the config; the defaults when the config cannot be read."""
    try:
        return load_config(settings.config_path).alerts
    except CTError as err:
        log.warning(
            "alerts settings not read from %s (%s); using the defaults", settings.config_path, str(err).splitlines()[0]
        )
        return AlertsConfig()


def _open_store(settings: Settings) -> SqlMetadataStore | None:
    """The metadata store, or None when it cannot be opened (the log and the webhook still hear)."""
    try:
        return SqlMetadataStore(settings.database_url)
    except Exception:  # the database may be why the task failed
        log.exception("the metadata store could not be opened for the task_failed alert")
        return None


def record_task_failure(failure: TaskFailure, settings: Settings | None = None) -> AlertRecord | None:
    """Record and deliver the ``task_failed`` alert for ``failure``; returns the stored row, if any.

    Like every notifier call it does not raise for a store or webhook problem; the store it opens
    is closed again before it returns.
    """
    alert = task_failed_alert(**asdict(failure))
    settings = settings or load_settings()
    alerts = _alerts_config(settings)
    store = _open_store(settings)
    try:
        return Notifier.from_config(store, alerts, settings).notify(alert)
    finally:
        if store is not None:
            store.dispose()
