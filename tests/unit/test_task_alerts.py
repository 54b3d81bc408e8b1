"""The ``task_failed`` alert the Airflow glue hands to the app layer: recorded once, even when the config
or the database is the reason the task failed."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest

from pipeline.app.task_alerts import TaskFailure, record_task_failure
from pipeline.core.settings import Settings
from pipeline.registry.sql import SqlMetadataStore

FAILURE = TaskFailure(
    dag_id="ct_train",
    task_id="fit",
    run_id="manual__1",
    try_number=3,
    map_index=1,
    error="ValidationFailed: 2 checks failed\nsee the report",
    log_url="http://airflow/log",
)


def _stored(settings: Settings) -> list:
    store = SqlMetadataStore(settings.database_url)
    try:
        return store.list_alerts(kind="task_failed")
    finally:
        store.dispose()


def test_a_failure_is_recorded_once_with_where_it_happened(settings: Settings) -> None:
    first = record_task_failure(FAILURE, settings)
    again = record_task_failure(FAILURE, settings)  # the callback fired twice for the same try

    assert first is not None and again is not None and again.id == first.id
    [alert] = _stored(settings)
    assert alert.title == "ct_train.fit[1] failed (try 3): ValidationFailed: 2 checks failed"
    assert alert.source == {
        "dag_id": "ct_train",
        "task_id": "fit",
        "run_id": "manual__1",
        "try_number": 3,
        "map_index": 1,
    }
    assert alert.message.endswith("\nLog: http://airflow/log")


def test_a_broken_config_still_alerts_with_the_default_settings(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("alerts: [this is not a mapping\n")
    with caplog.at_level(logging.WARNING, logger="ct.alerts"):
        record = record_task_failure(FAILURE, dataclasses.replace(settings, config_path=broken))

    assert record is not None and record.kind == "task_failed"
    assert any("alerts settings not read from" in r.getMessage() for r in caplog.records)


def test_an_unreachable_database_costs_the_row_not_the_alert(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    nowhere = dataclasses.replace(settings, database_url="postgresql+psycopg2://nobody@127.0.0.1:1/none")  # refused
    with caplog.at_level(logging.WARNING):
        assert record_task_failure(FAILURE, nowhere) is None

    messages = [r.getMessage() for r in caplog.records]
    assert "the metadata store could not be opened for the task_failed alert" in messages
    assert any("ct_train.fit[1] failed (try 3)" in m for m in messages)  # the log still tells
