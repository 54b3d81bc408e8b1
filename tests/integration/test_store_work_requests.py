"""The training-requests part of the MetadataStore contract, on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

import threading

from pipeline.registry.base import NewWorkRequest
from pipeline.registry.sql import SqlMetadataStore


def request(key: str, kind: str = "new_data", snapshot: str | None = "s1", model: str = "churn") -> NewWorkRequest:
    return NewWorkRequest(
        model=model,
        kind=kind,
        snapshot_id=snapshot,
        reason=f"because {key}",
        dedupe_key=key,
        evidence={"windows": [{"window_id": "w1", "value": 0.7}]} if kind != "new_data" else {},
    )


def test_a_request_round_trips_and_is_recorded_once(store: SqlMetadataStore) -> None:
    first, created = store.record_work_request(request("k1", kind="performance_drop"))
    again, created_again = store.record_work_request(request("k1", kind="performance_drop"))
    assert created is True and created_again is False and again == first
    assert (first.model, first.kind, first.snapshot_id, first.status) == ("churn", "performance_drop", "s1", "pending")
    assert first.evidence == {"windows": [{"window_id": "w1", "value": 0.7}]}
    assert first.claimed_by is None and first.resolved_by is None and first.created_at


def test_listing_filters_by_model_and_state_newest_first(store: SqlMetadataStore) -> None:
    a = store.record_work_request(request("a"))[0]
    b = store.record_work_request(request("b", snapshot="s2"))[0]
    store.record_work_request(request("other", model="other-model"))
    assert [r.id for r in store.list_work_requests("churn")] == [b.id, a.id]
    store.resolve_work_requests([a.id], "run-1", 3, "trained: snapshot s1")
    assert [r.id for r in store.list_work_requests("churn", pending=True)] == [b.id]
    (done,) = store.list_work_requests("churn", pending=False)
    assert (done.id, done.status, done.resolved_by, done.resolved_version) == (a.id, "done", "run-1", 3)
    assert done.resolution == "trained: snapshot s1" and done.resolved_at
    assert len(store.list_work_requests(limit=1)) == 1


def test_a_later_claim_takes_over_and_resolved_requests_stay_resolved(store: SqlMetadataStore) -> None:
    a = store.record_work_request(request("a"))[0]
    b = store.record_work_request(request("b"))[0]
    assert [r.claimed_by for r in store.claim_work_requests([a.id, b.id], "run-dies")] == ["run-dies", "run-dies"]
    assert store.resolve_work_requests([a.id], "run-2", 1, "trained") == 1
    claimed = store.claim_work_requests([a.id, b.id], "run-3")
    assert [(r.id, r.claimed_by) for r in claimed] == [(b.id, "run-3")]  # a was resolved: not claimed again
    assert store.resolve_work_requests([a.id, b.id], "run-3", 2, "covered") == 1  # first writer wins for a
    resolved = {r.id: r for r in store.list_work_requests("churn")}
    assert (resolved[a.id].resolved_by, resolved[b.id].resolved_by) == ("run-2", "run-3")
    assert store.claim_work_requests([], "run-4") == [] and store.resolve_work_requests([], "run-4", None, "x") == 0


def test_two_processes_raising_the_same_request_store_it_once(database_url: str) -> None:
    stores = [SqlMetadataStore(database_url) for _ in range(4)]
    results: list[bool] = []
    barrier = threading.Barrier(len(stores))

    def raise_it(s: SqlMetadataStore) -> None:
        barrier.wait()
        results.append(s.record_work_request(request("same"))[1])

    threads = [threading.Thread(target=raise_it, args=(s,)) for s in stores]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    try:
        assert sorted(results) == [False, False, False, True]
        assert len(stores[0].list_work_requests("churn")) == 1
    finally:
        for s in stores:
            s.dispose()
