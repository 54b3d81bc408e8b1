"""The prediction log writer: flushed by size, by time and on close, in the served_log format, and
never losing rows when the store fails for a while."""

from __future__ import annotations

import dataclasses
import io
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from pipeline.core.config import PipelineConfig, PredictionLogConfig
from pipeline.core.errors import CTError
from pipeline.core.storage import ObjectStore
from pipeline.monitoring.served_log import (
    FEATURES_HASH_COLUMN,
    LATENCY_COLUMN,
    MODEL_COLUMNS,
    REQUEST_COLUMNS,
    model_log_prefix,
)
from pipeline.serving.prediction_log import LogEntry, PredictionLog
from pipeline.serving.request_schema import build_request_schema, example_record, validate_rows


class FlakyStore(ObjectStore):
    """A real local store whose first ``failures`` writes fail (a full disk, a dropped connection)."""

    def __init__(self, root_url: str, failures: int) -> None:
        super().__init__(root_url)
        self.failures = failures

    def put(self, key: str, data: bytes) -> bool:
        if self.failures > 0:
            self.failures -= 1
            raise OSError("No space left on device")
        return super().put(key, data)


def wait_until(condition: Callable[[], bool], what: str, limit: float = 30.0) -> None:
    """Wait for a background thread to act (the limit only guards against a hang)."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.01)


def make_log(store: ObjectStore, config: PipelineConfig, **log_config: object) -> PredictionLog:
    schema = build_request_schema(config.dataset)
    return PredictionLog(
        store,
        config.model.name,
        config.dataset,
        schema.id_columns,
        schema.feature_columns,
        PredictionLogConfig.model_validate(log_config),
        writer="test-writer",
    )


def entry(config: PipelineConfig, request: str, rows: int, version: int = 1, served: bool = True) -> LogEntry:
    schema = build_request_schema(config.dataset)
    example = example_record(schema, config.dataset)
    records = [{**example, "customer_id": f"{request}-{i}"} for i in range(rows)]
    valid = validate_rows(records, schema)
    return LogEntry(
        request_id=request,
        logged_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        entities=[f"{request}-{i}" for i in range(rows)],
        inputs=valid.values,
        rows=list(range(rows)),
        model_name=config.model.name,
        model_version=version,
        artifact_sha256="ab" * 32,
        role="champion" if version == 1 else "challenger",
        served=[served] * rows,
        predictions={"score": [0.25] * rows, "predicted_label": ["no"] * rows},
        latency_ms=1.5,
    )


def read_log(store: ObjectStore, config: PipelineConfig) -> pd.DataFrame:
    keys = store.list(model_log_prefix(config.model.name))
    return pd.concat([pd.read_parquet(io.BytesIO(store.get(k))) for k in keys], ignore_index=True)


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    return ObjectStore(tmp_path.as_uri())


def test_columns_and_key_are_exactly_those_of_served_log(store, config):
    log = make_log(store, config)
    log.append(entry(config, "r1", 2))
    log.append(entry(config, "r1", 2, version=2, served=False))
    assert log.flush() == 4
    (key,) = store.list("prediction-logs")
    assert key.startswith(f"prediction-logs/{config.model.name}/date=")
    assert "/hour=" in key and key.endswith("-test-writer-000001.parquet")
    frame = read_log(store, config)
    dataset = config.dataset
    assert list(frame.columns) == [
        *REQUEST_COLUMNS,
        *dataset.id_columns,
        *dataset.feature_names,
        *MODEL_COLUMNS,
        "score",
        "predicted_label",
        LATENCY_COLUMN,
    ]
    assert frame["model_version"].dtype == "int64" and frame["row"].dtype == "int64"
    assert frame["served"].tolist() == [True, True, False, False]
    assert str(frame["logged_at"].dt.tz) == "UTC"
    assert frame["customer_id"].tolist() == ["r1-0", "r1-1", "r1-0", "r1-1"]


def test_a_canary_entry_logs_only_the_rows_its_version_scored(store, config):
    """A challenger on canary scores some rows of a request: the log has those rows, each with its
    own entity, features and prediction, beside the champion's rows of the same request."""
    champion = entry(config, "r1", 4)
    feature = config.dataset.feature_names[0]
    inputs = {c: list(v) for c, v in champion.inputs.items()}
    inputs[feature] = [10.0 * i for i in range(4)]
    picked = dataclasses.replace(
        champion,
        inputs=inputs,
        rows=[1, 3],
        model_version=2,
        role="challenger",
        served=[True, True],
        predictions={"score": [0.1, 0.3], "predicted_label": ["no", "yes"]},
    )
    log = make_log(store, config)
    log.append(
        dataclasses.replace(
            champion,
            rows=[0, 2],
            served=[True, True],
            predictions={"score": [0.0, 0.2], "predicted_label": ["no", "no"]},
        )
    )
    log.append(picked)
    log.flush()
    frame = read_log(store, config)
    assert frame["row"].tolist() == [0, 2, 1, 3]
    assert frame["customer_id"].tolist() == ["r1-0", "r1-2", "r1-1", "r1-3"]
    assert frame["entity_id"].tolist() == ["r1-0", "r1-2", "r1-1", "r1-3"]
    assert frame["model_version"].tolist() == [1, 1, 2, 2]
    assert frame["score"].tolist() == [0.0, 0.2, 0.1, 0.3]
    assert frame.loc[frame["model_version"] == 2, feature].tolist() == [10.0, 30.0]


def test_hash_mode_logs_a_checksum_instead_of_the_features(store, config):
    log = make_log(store, config, features="hash")
    log.append(entry(config, "r1", 2))
    log.flush()
    frame = read_log(store, config)
    assert FEATURES_HASH_COLUMN in frame.columns
    assert not set(config.dataset.feature_names) & set(frame.columns)
    assert frame[FEATURES_HASH_COLUMN].str.len().eq(64).all()
    assert frame[FEATURES_HASH_COLUMN].nunique() == 1  # the same features, the same hash


def test_the_thread_flushes_once_enough_rows_wait(store, config):
    log = make_log(store, config, flush_rows=5, flush_seconds=3600)
    log.start()
    try:
        log.append(entry(config, "r1", 3))
        assert store.list("prediction-logs") == []
        log.append(entry(config, "r2", 3))
        wait_until(lambda: len(store.list("prediction-logs")) == 1, "a flush by size")
        assert len(read_log(store, config)) == 6
    finally:
        log.close()


def test_the_thread_flushes_on_time_and_close_writes_the_rest(store, config):
    log = make_log(store, config, flush_rows=10_000, flush_seconds=0.05)
    log.start()
    log.append(entry(config, "r1", 2))
    wait_until(lambda: len(store.list("prediction-logs")) == 1, "a flush by time")
    log.append(entry(config, "r2", 1))
    log.close()
    frame = read_log(store, config)
    assert sorted(frame["request_id"]) == ["r1", "r1", "r2"]
    assert log.pending_rows == 0


def test_a_failing_store_keeps_the_rows_in_order_and_writes_them_later(tmp_path, config):
    store = FlakyStore(tmp_path.as_uri(), failures=2)
    log = make_log(store, config)
    log.append(entry(config, "r1", 2))
    with pytest.raises(OSError):
        log.flush()
    log.append(entry(config, "r2", 1))
    with pytest.raises(OSError):
        log.flush()
    assert log.pending_rows == 3
    assert log.flush() == 3
    assert read_log(store, config)["request_id"].tolist() == ["r1", "r1", "r2"]


def test_close_retries_and_reports_rows_it_could_not_write(tmp_path, config):
    store = FlakyStore(tmp_path.as_uri(), failures=1)
    log = make_log(store, config)
    log.append(entry(config, "r1", 2))
    log.close()  # the first attempt fails, the retry writes
    assert len(read_log(store, config)) == 2
    broken = FlakyStore(tmp_path.as_uri(), failures=100)
    log = make_log(broken, config)
    log.append(entry(config, "r2", 1))
    with pytest.raises(CTError, match="1 row"):
        log.close()


def test_appends_from_many_threads_all_reach_the_log(store, config):
    log = make_log(store, config, flush_rows=7, flush_seconds=3600)
    log.start()

    def send(k: int) -> None:
        for n in range(25):
            log.append(entry(config, f"t{k}-{n}", 1))

    threads = [threading.Thread(target=send, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    frame = read_log(store, config)
    assert len(frame) == 100 and frame["request_id"].nunique() == 100
