"""Airflow's side of alerting: a task that failed for good becomes a ``task_failed`` alert.

Wired into every task through ``DEFAULT_ARGS["on_failure_callback"]``. Airflow 3's task runner
calls ``on_failure_callback`` only when a try ends FAILED — retries exhausted, or an error that is
not retried (``AirflowFailException``, which ``stage.run_stage`` raises for the pipeline's own
errors); a try that will be retried calls ``on_retry_callback`` instead. So one failure is one
alert, not one per try. The alert (log, alerts table, webhook) is made by ``pipeline.monitoring.alerts``.

Parsing a DAG file imports only ``BaseNotifier`` from here; the pipeline and its stores are
touched when a task fails, in the task's own process.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import BaseNotifier

log = logging.getLogger("ct.alerts")


def _error_text(error: Any) -> str:
    """The failure in words; for ``AirflowFailException`` from ``run_stage``, the pipeline error behind it."""
    if error is None:
        return "the task failed (Airflow gave no exception: e.g. it was killed or timed out)"
    if isinstance(error, str):
        return error
    cause = getattr(error, "__cause__", None)
    if type(error).__name__ == "AirflowFailException" and cause is not None:
        error = cause
    return f"{type(error).__name__}: {error}"


def _log_url(ti: Any) -> str | None:
    try:
        return str(ti.log_url) or None
    except Exception:  # noqa: BLE001 - the URL is a convenience; whatever breaks it must not cost the alert
        return None


def task_failed_alert_from(context: Any) -> Any:
    """The ``task_failed`` alert for the task instance in an Airflow callback ``context``."""
    from pipeline.monitoring.alerts import task_failed_alert

    ti = context.get("ti") or context.get("task_instance")
    map_index = getattr(ti, "map_index", None)
    return task_failed_alert(
        dag_id=ti.dag_id,
        task_id=ti.task_id,
        run_id=ti.run_id,
        try_number=getattr(ti, "try_number", None),
        map_index=int(map_index) if map_index is not None else None,
        error=_error_text(context.get("exception")),
        log_url=_log_url(ti),
    )


def _notifier() -> Any:
    """A notifier on this process's stores; a broken config (a common reason to fail) still alerts."""
    from pipeline.core.config import AlertsConfig, load_config
    from pipeline.core.errors import CTError
    from pipeline.core.settings import load_settings
    from pipeline.monitoring.alerts import Notifier
    from pipeline.registry.sql import SqlMetadataStore

    settings = load_settings()
    try:
        alerts = load_config(settings.config_path).alerts
    except CTError as err:
        log.warning(
            "alerts settings not read from %s (%s); using the defaults", settings.config_path, str(err).splitlines()[0]
        )
        alerts = AlertsConfig()
    try:
        store = SqlMetadataStore(settings.database_url)
    except Exception:  # the database may be why the task failed: the log and the webhook still hear
        log.exception("the metadata store could not be opened for the task_failed alert")
        store = None
    return Notifier.from_config(store, alerts, settings)


class TaskFailedNotifier(BaseNotifier):
    """``on_failure_callback`` that records a ``task_failed`` alert; it never raises."""

    def notify(self, context: Any) -> None:
        try:
            alert = task_failed_alert_from(context)
            notifier = _notifier()
            try:
                notifier.notify(alert)
            finally:
                if notifier.store is not None:
                    notifier.store.dispose()
        except Exception:  # a failing alert must not hide the task's own failure in the log
            log.exception("the task_failed alert could not be recorded")


notify_task_failure = TaskFailedNotifier()
"""The instance ``DEFAULT_ARGS`` hands to every task."""
