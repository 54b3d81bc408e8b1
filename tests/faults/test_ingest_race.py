"""Two ingests at once must neither fork the snapshot chain nor trip over each other's files.

The races are made deterministic: one run is held inside its landing listing (a slow listing,
monkeypatched) while the other runs to completion, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd
import pytest
from fault_helpers import batch, make_workspace

import pipeline.app.stages.ingest as ingest_stage
import pipeline.data.inbox as inbox_module
from pipeline.app import stages
from pipeline.data.snapshots import load_snapshot, read_manifest


def _hold_listing(monkeypatch: pytest.MonkeyPatch, entered: threading.Event, go: threading.Event) -> None:
    """The first listing (in the thread that calls it) waits for ``go``; later ones run normally."""
    original = inbox_module.find_ready_files  # the landing listing goes through the inbox helper
    held = {"done": False}

    def slow_listing(*args, **kwargs):
        if not held["done"] and threading.current_thread() is not threading.main_thread():
            held["done"] = True
            entered.set()
            assert go.wait(60)
        return original(*args, **kwargs)

    monkeypatch.setattr(inbox_module, "find_ready_files", slow_listing)


def _run_in_thread(fn) -> tuple[threading.Thread, dict]:
    box: dict = {}

    def target() -> None:
        try:
            box["out"] = fn()
        except BaseException as err:  # reported by the test
            box["err"] = err

    thread = threading.Thread(target=target)
    thread.start()
    return thread, box


def test_a_run_that_read_an_old_parent_rebases_instead_of_losing_the_other_runs_file(
    home: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    landing = home / "landing"
    landing.mkdir()
    batch(150, 1, 0).to_csv(landing / "f1.csv", index=False)
    entered, go = threading.Event(), threading.Event()
    _hold_listing(monkeypatch, entered, go)

    # B reads the (empty) parent, then sits in its listing
    thread, box = _run_in_thread(lambda: stages.ingest_landing(make_workspace(home, database_url)))
    assert entered.wait(60)
    # A takes f1 in and archives it meanwhile
    out_a = stages.ingest_landing(make_workspace(home, database_url))
    assert out_a.accepted == ["f1.csv"]
    batch(120, 2, 10_000).to_csv(landing / "f2.csv", index=False)
    go.set()
    thread.join(120)
    assert "err" not in box, box.get("err")

    ws = make_workspace(home, database_url)
    latest = read_manifest(ws.store, ws.meta.latest_snapshot("churn").id)
    assert latest.rows == 270, "f1 was archived but is in no later snapshot"
    assert {p.source.name for p in latest.parts} == {"f1.csv", "f2.csv"}
    assert latest.parent == out_a.snapshot_id  # a chain, not a fork
    ids = load_snapshot(ws.store, latest)["customer_id"]
    assert ids.is_unique


def test_two_ingests_of_the_same_files_take_each_row_once_and_neither_crashes(
    home: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    landing = home / "landing"
    landing.mkdir()
    a = batch(150, 3, 0).astype({"age": object})
    a.loc[[5, 77], "age"] = "old"  # rejected rows: both runs spool them
    a.to_csv(landing / "a.csv", index=False)
    b = batch(90, 4, 20_000).astype({"churned": object})
    b.loc[[3], "churned"] = "maybe"
    b.to_parquet(landing / "b.parquet", index=False)

    # B lists the files, then waits right before appending its snapshot while A does everything
    entered, go = threading.Event(), threading.Event()
    original_take = ingest_stage.take_in_file
    calls = {"n": 0}

    def held_take(*args, **kwargs):
        got = original_take(*args, **kwargs)
        if threading.current_thread() is not threading.main_thread():
            calls["n"] += 1
            if calls["n"] == 2:  # both files taken, spools written
                entered.set()
                assert go.wait(60)
        return got

    monkeypatch.setattr(ingest_stage, "take_in_file", held_take)
    thread, box = _run_in_thread(lambda: stages.ingest_landing(make_workspace(home, database_url)))
    assert entered.wait(60)
    out_a = stages.ingest_landing(make_workspace(home, database_url))
    go.set()
    thread.join(120)
    assert "err" not in box, f"the second ingest crashed: {box.get('err')!r}"

    ws = make_workspace(home, database_url)
    assert [r.id for r in ws.meta.list_snapshots()] == [out_a.snapshot_id]
    assert read_manifest(ws.store, out_a.snapshot_id).rows == 150 - 2 + 90 - 1
    assert list(landing.iterdir()) == []
    rows = [
        pd.read_csv(p, dtype=str)
        for p in (home / "quarantine").rglob("*.rejected_rows.csv")
        if ".pending" not in p.parts
    ]
    assert sorted(len(r) for r in rows) == [1, 2]  # each file's rejected rows exactly once
    assert not any((home / "quarantine" / ".pending").iterdir())
    assert not box["out"].quarantined  # stepping aside is not a rejection


def test_the_store_appends_a_snapshot_only_onto_the_current_latest(database_url: str) -> None:
    from pipeline.core.errors import SnapshotConflict
    from pipeline.registry.base import SnapshotRecord
    from pipeline.registry.sql import SqlMetadataStore

    store = SqlMetadataStore(database_url)

    def rec(sid: str, parent: str | None) -> SnapshotRecord:
        return SnapshotRecord(id=sid, dataset="churn", parent=parent, rows=1, parts=1, manifest_uri="u", created_at="")

    store.append_snapshot(rec("s1", None))
    store.append_snapshot(rec("s2", "s1"))
    assert store.append_snapshot(rec("s2", "s1")).id == "s2"  # a rerun of the same append
    with pytest.raises(SnapshotConflict) as info:
        store.append_snapshot(rec("s2b", "s1"))  # built on s1, but s2 is the latest now
    assert info.value.latest == "s2" and "s2" in str(info.value)
    with pytest.raises(SnapshotConflict):
        store.append_snapshot(rec("first-again", None))
    store.append_snapshot(
        SnapshotRecord(id="o1", dataset="other", parent=None, rows=1, parts=1, manifest_uri="u", created_at="")
    )  # each dataset has a chain of its own
    assert [r.id for r in store.list_snapshots("churn")] == ["s2", "s1"]
    store.dispose()
