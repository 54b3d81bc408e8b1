"""The Notifier: log, alerts table (a real SQLite store) and a real local webhook (http.server)."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pipeline.core.config import AlertsConfig, parse_config
from pipeline.core.errors import ConfigError
from pipeline.core.settings import BUNDLED_CONFIG, load_settings
from pipeline.monitoring.alerts import Notifier, retrain_alert, runtime_source, validation_alert
from pipeline.registry import schema as t
from pipeline.registry.alert import MAX_KEY, Alert, make_dedupe_key
from pipeline.registry.sql import SqlMetadataStore

TOKEN_PATH = "/hooks/T000/SECRET-TOKEN"


class Webhook:
    """A local HTTP endpoint that records every POST and answers with ``status`` after ``delay``."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.status = 200
        self.delay = 0.0
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.received.append(
                    {"path": self.path, "content_type": self.headers["Content-Type"], "json": json.loads(body)}
                )
                time.sleep(hook.delay)
                try:
                    self.send_response(hook.status)
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:  # the client gave up waiting (the timeout test)
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{TOKEN_PATH}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    try:
        yield hook
    finally:
        hook.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlMetadataStore]:
    s = SqlMetadataStore(f"sqlite:///{tmp_path / 'ct.db'}")
    try:
        yield s
    finally:
        s.dispose()


def _alert(key: str = "validation_failed:snap1:-:abc", **kw: Any) -> Alert:
    fields: dict[str, Any] = {
        "kind": "validation_failed",
        "severity": "critical",
        "title": "validation failed on snapshot snap1: 1 check(s), training stopped",
        "message": "expectation:contract: unexpected value 'weekly'",
        "dedupe_key": key,
        "details": {"snapshot_id": "snap1", "failed_checks": [{"name": "x", "n": 3}]},
        "source": {"dag_id": "ct_train", "task_id": "validate", "run_id": "r1"},
    }
    fields.update(kw)
    return Alert(**fields)


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{TOKEN_PATH}"  # nothing listens here now


# -- delivery ----------------------------------------------------------------------------------------
def test_alert_is_logged_stored_and_posted_once(
    store: SqlMetadataStore, webhook: Webhook, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = Notifier(store, webhook_url=webhook.url, timeout_seconds=2)
    alert = _alert()
    with caplog.at_level(logging.INFO, logger="pipeline.monitoring.alerts"):
        record = notifier.notify(alert)

    assert record is not None and (record.delivery_status, record.delivery_detail, record.delivery_attempts) == (
        "delivered",
        "HTTP 200",
        1,
    )
    assert len(webhook.received) == 1
    post = webhook.received[0]
    assert post["path"] == TOKEN_PATH and post["content_type"] == "application/json"
    body = post["json"]
    assert body["text"].startswith("[CRITICAL] validation failed on snapshot snap1")
    assert {k: body[k] for k in ("id", "kind", "severity", "dedupe_key", "details", "source")} == {
        "id": record.id,
        "kind": "validation_failed",
        "severity": "critical",
        "dedupe_key": alert.dedupe_key,
        "details": alert.details,
        "source": alert.source,
    }
    assert "delivery_status" not in body
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "ALERT [critical] validation_failed" in errors[0].getMessage()
    assert all("SECRET-TOKEN" not in r.getMessage() for r in caplog.records), "the webhook token never reaches a log"

    # The same event again (a task retry or rerun): nothing new is written, posted or shouted.
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="pipeline.monitoring.alerts"):
        again = notifier.notify(_alert())
    assert again is not None and again.id == record.id and again.delivery_status == "delivered"
    assert len(webhook.received) == 1
    assert len(store.list_alerts()) == 1
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "already recorded" in caplog.text


def test_webhook_down_still_stores_the_alert_with_the_failure(
    store: SqlMetadataStore, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = Notifier(store, webhook_url=_closed_port_url(), timeout_seconds=2)
    with caplog.at_level(logging.WARNING, logger="pipeline.monitoring.alerts"):
        record = notifier.notify(_alert())  # must not raise

    assert record is not None and record.delivery_status == "failed" and record.delivery_attempts == 1
    assert "Connection refused" in record.delivery_detail or "ConnectionRefused" in record.delivery_detail
    [stored] = store.list_alerts()
    assert (stored.kind, stored.delivery_status, stored.delivery_detail) == (
        "validation_failed",
        "failed",
        record.delivery_detail,
    )
    assert "could not be posted" in caplog.text and "SECRET-TOKEN" not in caplog.text


def test_failed_delivery_is_retried_by_a_rerun_and_a_delivered_one_is_not(
    store: SqlMetadataStore, webhook: Webhook
) -> None:
    notifier = Notifier(store, webhook_url=webhook.url, timeout_seconds=2)
    webhook.status = 500
    first = notifier.notify(_alert())
    assert (first.delivery_status, first.delivery_detail) == ("failed", "HTTP 500 Internal Server Error")

    webhook.status = 200
    second = notifier.notify(_alert())
    third = notifier.notify(_alert())
    assert (second.id, second.delivery_status, second.delivery_attempts) == (first.id, "delivered", 2)
    assert third.delivery_attempts == 2
    assert [r["json"]["id"] for r in webhook.received] == [first.id, first.id]
    assert len(store.list_alerts()) == 1


def test_slow_webhook_times_out_without_holding_the_pipeline(store: SqlMetadataStore, webhook: Webhook) -> None:
    webhook.delay = 1.5
    started = time.perf_counter()
    record = Notifier(store, webhook_url=webhook.url, timeout_seconds=0.3).notify(_alert())
    assert time.perf_counter() - started < 1.4
    assert (record.delivery_status, record.delivery_detail) == ("failed", "no answer within 0.3s")


def test_without_webhook_the_alert_is_logged_and_stored(
    store: SqlMetadataStore, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="pipeline.monitoring.alerts"):
        record = Notifier(store).notify(_alert(kind="promoted", severity="info", key="promoted:m:champion:ledger1"))
    assert record.delivery_status == "not_configured" and record.delivery_attempts == 0
    assert [(r.levelno, r.getMessage().splitlines()[0]) for r in caplog.records] == [
        (logging.INFO, "ALERT [info] promoted: validation failed on snapshot snap1: 1 check(s), training stopped")
    ]


def test_a_broken_alerts_table_is_logged_and_the_webhook_still_hears(
    store: SqlMetadataStore, webhook: Webhook, caplog: pytest.LogCaptureFixture
) -> None:
    t.alerts.drop(store.engine)  # e.g. the database refuses writes
    with caplog.at_level(logging.INFO, logger="pipeline.monitoring.alerts"):
        assert Notifier(store, webhook_url=webhook.url).notify(_alert()) is None  # no row, and no exception
    assert "could not be stored" in caplog.text and "ALERT [critical]" in caplog.text
    assert len(webhook.received) == 1 and webhook.received[0]["json"]["id"] is None

    # No store at all (the database could not be opened, e.g. in Airflow's failure callback): same.
    assert Notifier(None, webhook_url=webhook.url).notify(_alert(key="k2")) is None
    assert [r["json"]["dedupe_key"] for r in webhook.received] == [_alert().dedupe_key, "k2"]


# -- configuration -----------------------------------------------------------------------------------
def test_webhook_url_comes_from_config_and_the_environment_overrides_it(
    store: SqlMetadataStore, tmp_path: Path
) -> None:
    config = AlertsConfig(webhook_url="https://hooks.example/from-config", timeout_seconds=2)
    plain = load_settings({"CT_HOME": str(tmp_path)})
    overridden = load_settings({"CT_HOME": str(tmp_path), "CT_ALERT_WEBHOOK_URL": "https://hooks.example/env"})
    assert Notifier.from_config(store, config, plain).webhook_url == "https://hooks.example/from-config"
    chosen = Notifier.from_config(store, config, overridden)
    assert (chosen.webhook_url, chosen.timeout_seconds) == ("https://hooks.example/env", 2)
    assert Notifier.from_config(store, AlertsConfig(), plain).webhook_url is None
    odd = load_settings({"CT_HOME": str(tmp_path), "CT_ALERT_WEBHOOK_URL": "file:///etc/passwd"})
    assert Notifier.from_config(store, config, odd).webhook_url is None  # refused (logged), never fails


def test_alerts_config_is_optional_and_checked() -> None:
    import yaml

    data = yaml.safe_load(BUNDLED_CONFIG.read_text())
    assert parse_config(data).alerts == AlertsConfig(webhook_url=None, timeout_seconds=5)
    data.pop("alerts", None)
    assert parse_config(data).alerts == AlertsConfig()
    with pytest.raises(ConfigError, match=r"alerts\.webhook_url: expected an http:// or https:// URL"):
        parse_config({**data, "alerts": {"webhook_url": "hooks.example/x"}})
    with pytest.raises(ConfigError, match=r"alerts\.timeout_seconds"):
        parse_config({**data, "alerts": {"timeout_seconds": 0}})


# -- the alerts themselves ---------------------------------------------------------------------------
def test_dedupe_keys_fit_the_column_and_stay_distinct() -> None:
    long_a = make_dedupe_key("drift", "m", "x" * 400 + "a")
    long_b = make_dedupe_key("drift", "m", "x" * 400 + "b")
    assert len(long_a) <= MAX_KEY and len(long_b) <= MAX_KEY and long_a != long_b
    assert make_dedupe_key("promoted", "m", "champion", "ledger3") == "promoted:m:champion:ledger3"
    with pytest.raises(ValueError, match="kind 'exploded'"):
        _alert(kind="exploded")
    with pytest.raises(ValueError, match="severity"):
        _alert(severity="loud")


def test_validation_alert_is_the_same_for_the_same_failures_only() -> None:
    fails = [{"name": "expectation:contract", "severity": "fail", "message": "unexpected 'weekly'"}]
    one = validation_alert("s1", "s0", fails, "file:///r.html", blocking=True)
    assert (one.kind, one.severity) == ("validation_failed", "critical")
    assert "Full report: file:///r.html" in one.message
    assert one.dedupe_key == validation_alert("s1", "s0", fails, None, blocking=True).dedupe_key
    other = [*fails, {"name": "expectation:age", "severity": "fail", "message": "out of range"}]
    assert validation_alert("s1", "s0", other, None, blocking=True).dedupe_key != one.dedupe_key
    assert validation_alert("s2", "s0", fails, None, blocking=True).dedupe_key != one.dedupe_key
    warned = validation_alert(
        "s1", "s0", [{"name": "label_contract", "severity": "warn", "message": "70/30"}], None, blocking=False
    )
    assert (warned.kind, warned.severity) == ("validation_warning", "warning")


def test_retrain_alert_only_for_a_found_drop_or_drift() -> None:
    windows = {"windows": [{"window_id": "p1"}, {"window_id": "p2"}]}
    assert retrain_alert({"retrain": False, "kind": None, "reason": "no sustained drop"}, "m", 1) is None
    asked = retrain_alert({"retrain": True, "kind": "performance_drop", "reason": "fell", "evidence": windows}, "m", 1)
    held = retrain_alert(
        {"retrain": False, "kind": "performance_drop", "reason": "fell; cooldown", "evidence": windows}, "m", 1
    )
    assert (asked.severity, held.severity) == ("warning", "info")
    assert asked.dedupe_key != held.dedupe_key
    later = retrain_alert(
        {
            "retrain": True,
            "kind": "performance_drop",
            "reason": "fell",
            "evidence": {"windows": [{"window_id": "p2"}, {"window_id": "p3"}]},
        },
        "m",
        1,
    )
    assert later.dedupe_key != asked.dedupe_key
    assert retrain_alert({"retrain": True, "kind": "drift", "reason": "d", "evidence": windows}, "m", 1).kind == "drift"


def test_source_names_the_airflow_task_when_inside_one() -> None:
    env = {
        "AIRFLOW_CTX_DAG_ID": "ct_train",
        "AIRFLOW_CTX_TASK_ID": "validate",
        "AIRFLOW_CTX_DAG_RUN_ID": "r1",
        "AIRFLOW_CTX_TRY_NUMBER": "2",
    }
    assert runtime_source(env) == {"dag_id": "ct_train", "task_id": "validate", "run_id": "r1", "try_number": "2"}
    outside = runtime_source({})
    assert outside["process"] == "ct" and outside["host"]
