"""The alerts part of the MetadataStore contract, on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from pipeline.core.errors import NotFound
from pipeline.registry.alert import Alert
from pipeline.registry.sql import SqlMetadataStore

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def alert(key: str, kind: str = "promoted", at: datetime = T0, **kw: Any) -> Alert:
    fields: dict[str, Any] = {
        "kind": kind,
        "severity": "info",
        "title": f"title {key}",
        "message": f"message {key}",
        "dedupe_key": key,
        "created_at": at.isoformat(),
    }
    fields.update(kw)
    return Alert(**fields)


def test_an_alert_round_trips_and_is_recorded_once(store: SqlMetadataStore) -> None:
    details = {
        "snapshot_id": "abc",
        "failed_checks": [{"name": "expectation:ä", "n": 3, "ok": False, "x": None}],
        "share": 0.25,
    }
    source = {"dag_id": "ct_train", "task_id": "validate", "run_id": "manual__2026", "try_number": 2}
    first, created = store.record_alert(
        alert("k1", kind="validation_failed", severity="critical", details=details, source=source), "pending"
    )
    assert created
    assert (first.kind, first.severity, first.title, first.message, first.dedupe_key) == (
        "validation_failed",
        "critical",
        "title k1",
        "message k1",
        "k1",
    )
    assert (first.details, first.source, first.created_at) == (details, source, "2026-03-01T09:00:00+00:00")
    assert (first.delivery_status, first.delivery_detail, first.delivery_attempts) == ("pending", None, 0)

    # The same event again, even with other text or a later time: the stored row, untouched.
    again, created_again = store.record_alert(alert("k1", title="changed", at=T0 + timedelta(hours=1)), "pending")
    assert not created_again and again == first
    assert [a.id for a in store.list_alerts()] == [first.id]


def test_concurrent_records_of_one_event_leave_one_row(database_url: str) -> None:
    stores = [SqlMetadataStore(database_url) for _ in range(6)]
    results: list[Any] = []
    gate = threading.Barrier(len(stores))

    def record(s: SqlMetadataStore) -> None:
        gate.wait()
        try:
            results.append(s.record_alert(alert("same-event")))
        except BaseException as err:  # collected: the assertion below shows it
            results.append(err)

    threads = [threading.Thread(target=record, args=(s,)) for s in stores]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    try:
        assert all(isinstance(r, tuple) for r in results), results
        assert sorted(created for _, created in results) == [False] * 5 + [True]
        assert len({rec.id for rec, _ in results}) == 1
        assert len(stores[0].list_alerts()) == 1
    finally:
        for s in stores:
            s.dispose()


def test_list_filters_by_kind_since_and_limit_newest_first(store: SqlMetadataStore) -> None:
    store.record_alert(alert("a", kind="promoted", at=T0))
    store.record_alert(alert("b", kind="task_failed", at=T0 + timedelta(hours=1)))
    store.record_alert(alert("c", kind="promoted", at=T0 + timedelta(hours=2)))
    store.record_alert(alert("d", kind="drift", at=T0 + timedelta(hours=3)))

    keys = lambda **kw: [a.dedupe_key for a in store.list_alerts(**kw)]  # noqa: E731
    assert keys() == ["d", "c", "b", "a"]
    assert keys(kind="promoted") == ["c", "a"]
    assert keys(kind="rolled_back") == []
    assert keys(since=T0 + timedelta(hours=1)) == ["d", "c", "b"]  # at or after
    assert keys(since=(T0 + timedelta(hours=1, minutes=30)).astimezone(timezone(timedelta(hours=5)))) == ["d", "c"]
    assert keys(since=datetime(2026, 3, 1, 10, 30)) == ["d", "c"]  # naive means UTC
    assert keys(kind="promoted", since=T0 + timedelta(minutes=1)) == ["c"]
    assert keys(limit=2) == ["d", "c"]
    assert keys(kind="promoted", limit=1) == ["c"]


def test_delivery_is_recorded_and_counted(store: SqlMetadataStore) -> None:
    rec, _ = store.record_alert(alert("k"), "pending")
    failed = store.record_alert_delivery(rec.id, "failed", "HTTP 502 Bad Gateway")
    assert (failed.delivery_status, failed.delivery_detail, failed.delivery_attempts) == (
        "failed",
        "HTTP 502 Bad Gateway",
        1,
    )
    done = store.record_alert_delivery(rec.id, "delivered", "HTTP 200")
    assert (done.delivery_status, done.delivery_detail, done.delivery_attempts) == ("delivered", "HTTP 200", 2)
    assert store.list_alerts()[0] == done
    with pytest.raises(NotFound, match="no alert with id 999"):
        store.record_alert_delivery(999, "delivered", "HTTP 200")
