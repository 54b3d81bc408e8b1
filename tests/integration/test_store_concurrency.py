"""Concurrent writers on one metadata database, on PostgreSQL and on a SQLite file.

The first group starts real processes (``spawn`` context, each with its own SqlMetadataStore) that
meet at a Barrier and then register at the same moment. The second group makes a race
deterministic: an engine hook pauses one writer just before its write statement, runs a competing
writer to completion (or until it is seen to be blocked), then lets the first writer go on.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import queue as queue_module
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from pipeline.registry import schema as t
from pipeline.registry.base import CHAMPION, NewModelVersion, SnapshotRecord
from pipeline.registry.sql import SqlMetadataStore

MODEL = "churn"


def _new(snapshot_id: str, name: str = MODEL) -> NewModelVersion:
    return NewModelVersion(
        name=name,
        snapshot_id=snapshot_id,
        config_hash="cfg-1",
        spec_name="logreg",
        params={"C": 1.0},
        metrics={"roc_auc": 0.8},
        evaluation={},
        artifact_uri=f"file:///a/{snapshot_id}.joblib",
        artifact_sha256="ab" * 32,
        validation_id=None,
        trigger={"kind": "test"},
        code_version="test",
        lineage={},
    )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database whose schema already exists (so children never race to create it)."""
    if request.param == "sqlite":
        db_url = f"sqlite:///{tmp_path / 'concurrent.db'}"
    else:
        db_url = request.getfixturevalue("postgres_url")
    SqlMetadataStore(db_url).dispose()
    return db_url


# -- real processes behind a barrier ---------------------------------------------------------


def _register_worker(db_url: str, barrier: Any, results: Any, snapshot_id: str) -> None:
    """Child process: open a store of its own, wait for everyone, register one version."""
    store = None
    try:
        store = SqlMetadataStore(db_url, create=False)
        barrier.wait(timeout=60)
        mv, created = store.register_model(_new(snapshot_id))
        results.put(("ok", snapshot_id, mv.version, created, mv.snapshot_id))
    except BaseException as err:  # report everything to the parent, which fails the test
        results.put(("error", snapshot_id, f"{type(err).__name__}: {err}", None, None))
    finally:
        if store is not None:
            store.dispose()


def _run_together(db_url: str, snapshot_ids: list[str]) -> list[tuple]:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(len(snapshot_ids))
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_register_worker, args=(db_url, barrier, results, sid), daemon=True) for sid in snapshot_ids
    ]
    for p in procs:
        p.start()
    out = []
    try:
        for _ in procs:
            out.append(results.get(timeout=120))
    except queue_module.Empty:
        pytest.fail(f"only {len(out)} of {len(procs)} workers reported: {out}")
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    errors = [r for r in out if r[0] != "ok"]
    assert not errors, errors
    assert [p.exitcode for p in procs] == [0] * len(procs)
    return out


@pytest.mark.slow
def test_concurrent_registrations_get_consecutive_versions(url: str) -> None:
    # 32 processes on PostgreSQL (the production database); 16 on SQLite, whose single writer
    # lock serialises them anyway and whose busy-wait makes more of them only slower.
    n = 16 if url.startswith("sqlite") else 32
    snapshot_ids = [f"{i:04d}000000000000" for i in range(n)]

    results = _run_together(url, snapshot_ids)

    versions = sorted(r[2] for r in results)
    assert versions == list(range(1, n + 1))
    assert all(r[3] is True for r in results)
    assert all(r[1] == r[4] for r in results)  # each worker got back its own snapshot's version

    store = SqlMetadataStore(url, create=False)
    try:
        rows = store.list_model_versions(MODEL)
        assert [v.version for v in rows] == list(range(n, 0, -1))
        assert {v.snapshot_id: v.version for v in rows} == {r[1]: r[2] for r in results}
        # Each semver was derived from the version before it, under the same lock: new data every
        # time, so exactly 1.0.0, 1.1.0, ... in version order.
        assert [v.semver for v in reversed(rows)] == [f"1.{i}.0" for i in range(n)]
        with store.engine.connect() as conn:
            assert (
                conn.execute(
                    sa.select(t.registered_models.c.last_version).where(t.registered_models.c.name == MODEL)
                ).scalar_one()
                == n
            )
        # The next registration continues the sequence.
        assert store.register_model(_new("after0000000000"))[0].version == n + 1
    finally:
        store.dispose()


def test_concurrent_registrations_of_the_same_inputs_create_one_version(url: str) -> None:
    n = 8
    results = _run_together(url, ["same000000000000"] * n)

    assert [r[2] for r in results] == [1] * n
    assert Counter(r[3] for r in results) == {True: 1, False: n - 1}

    store = SqlMetadataStore(url, create=False)
    try:
        assert [(v.version, v.snapshot_id) for v in store.list_model_versions()] == [(1, "same000000000000")]
        # No version number was burnt by the losers.
        assert store.register_model(_new("next000000000000"))[0].version == 2
    finally:
        store.dispose()


# -- deterministic interleavings -------------------------------------------------------------


class Interleave:
    """Run ``competitor`` while ``store``'s engine is about to execute a statement starting with ``prefix``.

    The competitor runs on another thread with its own store. The hook waits until it finishes or
    ``patience`` seconds pass (the competitor is then blocked on a lock, which is correct behaviour).
    """

    def __init__(
        self, store: SqlMetadataStore, prefix: str, competitor: Callable[[], Any], patience: float = 1.0
    ) -> None:
        self.store, self.prefix, self.competitor, self.patience = store, prefix.upper(), competitor, patience
        self.fired = False
        self.result: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.result = self.competitor()
        except BaseException as err:
            self.error = err

    def _hook(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if not self.fired and " ".join(statement.split()).upper().startswith(self.prefix):
            self.fired = True
            self.thread.start()
            self.thread.join(self.patience)

    def __enter__(self) -> Interleave:
        sa.event.listen(self.store.engine, "before_cursor_execute", self._hook)
        return self

    def __exit__(self, *exc: Any) -> None:
        sa.event.remove(self.store.engine, "before_cursor_execute", self._hook)
        if self.fired:
            self.thread.join(60)
            assert not self.thread.is_alive(), "the competing writer never finished"


@pytest.fixture
def two_stores(url: str) -> Iterator[tuple[SqlMetadataStore, SqlMetadataStore]]:
    a, b = SqlMetadataStore(url), SqlMetadataStore(url)
    try:
        yield a, b
    finally:
        a.dispose()
        b.dispose()


def _assert_ledger_is_a_chain(store: SqlMetadataStore) -> None:
    history = store.promotion_history(MODEL, CHAMPION)
    pairs = [(r.from_version, r.to_version) for r in history]
    assert pairs and pairs[0][0] is None, pairs
    for previous, row in itertools.pairwise(pairs):
        assert row[0] == previous[1], f"ledger is not a chain: {pairs}"
    assert store.get_alias(MODEL).version == pairs[-1][1], pairs


def test_concurrent_alias_moves_keep_the_ledger_a_chain(two_stores) -> None:
    """A moves champion 1 -> 2 while B moves it to 3: B must see A's move (2 -> 3), or A see B's.

    Regression: on SQLite set_alias used to read the current alias before taking any lock
    (pysqlite BEGINs lazily, FOR UPDATE is a no-op), writing both 1 -> 3 and 1 -> 2.
    """
    a, b = two_stores
    for sid in ("s1", "s2", "s3"):
        a.register_model(_new(sid))
    a.set_alias(MODEL, CHAMPION, 1, "first", {}, "setup")

    with Interleave(a, "UPDATE ct_aliases", lambda: b.set_alias(MODEL, CHAMPION, 3, "b", {}, "b")) as race:
        moved = a.set_alias(MODEL, CHAMPION, 2, "a", {}, "a")

    assert race.fired and race.error is None, race.error
    assert moved is not None and race.result is not None
    _assert_ledger_is_a_chain(a)
    assert len(a.promotion_history(MODEL, CHAMPION)) == 3


def test_rollback_racing_a_promotion_keeps_the_ledger_a_chain(two_stores) -> None:
    """A rolls champion back (3 -> 2) while B promotes 4: whichever goes second starts where the first ended."""
    a, b = two_stores
    for sid in ("s1", "s2", "s3", "s4"):
        a.register_model(_new(sid))
    for version in (1, 2, 3):
        a.set_alias(MODEL, CHAMPION, version, f"p{version}", {}, "setup")

    with Interleave(a, "UPDATE ct_aliases", lambda: b.set_alias(MODEL, CHAMPION, 4, "b", {}, "b")) as race:
        back = a.rollback_alias(MODEL, CHAMPION, "a", "a")

    assert race.fired and race.error is None, race.error
    assert (back.from_version, back.to_version) == (3, 2)
    _assert_ledger_is_a_chain(a)
    assert [(r.kind, r.from_version, r.to_version) for r in a.promotion_history(MODEL)][-2:] == [
        ("rollback", 3, 2),
        ("promotion", 2, 4),
    ]


def test_concurrent_first_promotions_both_succeed(two_stores) -> None:
    """Two first promotions of an alias at once: both succeed and the ledger reads None -> x -> y.

    Regression: SELECT ... FOR UPDATE on a not-yet-existing alias row locked nothing, so the loser's
    INSERT into ct_aliases raised a raw IntegrityError (both dialects).
    """
    a, b = two_stores
    for sid in ("s1", "s2", "s3"):
        a.register_model(_new(sid))

    with Interleave(a, "INSERT INTO ct_aliases", lambda: b.set_alias(MODEL, CHAMPION, 3, "b", {}, "b")) as race:
        moved = a.set_alias(MODEL, CHAMPION, 2, "a", {}, "a")

    assert race.fired and race.error is None, race.error
    assert moved is not None and race.result is not None
    _assert_ledger_is_a_chain(a)


def test_concurrent_snapshots_get_distinct_positions(two_stores) -> None:
    """Regression: seq = max(seq)+1 without a lock gave two concurrent snapshots the same position."""
    a, b = two_stores
    a.record_snapshot(SnapshotRecord("0000000000000000", "churn", None, 1, 1, "m0", ""))

    with Interleave(
        a,
        "INSERT INTO ct_snapshots",
        lambda: b.record_snapshot(SnapshotRecord("bbbb000000000000", "churn", None, 1, 1, "mb", "")),
    ) as race:
        a.record_snapshot(SnapshotRecord("aaaa000000000000", "churn", None, 1, 1, "ma", ""))

    assert race.fired and race.error is None, race.error
    assert len(a.list_snapshots("churn")) == 3
    with a.engine.connect() as conn:
        seqs = conn.execute(sa.select(t.snapshots.c.id, t.snapshots.c.seq)).all()
    assert len({seq for _id, seq in seqs}) == 3, f"snapshots share a position in the newest-first order: {seqs}"


# -- schema creation by several processes at once ---------------------------------------------


@pytest.mark.parametrize("dialect", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_two_stores_opening_a_fresh_database_at_once_both_succeed(
    dialect: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Every Airflow task opens the store with create=True, so a fresh database can be opened twice at once.

    Regression: metadata.create_all was unguarded; the second creator failed with "table already exists".
    """
    db_url = f"sqlite:///{tmp_path / 'fresh.db'}" if dialect == "sqlite" else request.getfixturevalue("postgres_url")
    opened: list[SqlMetadataStore] = []
    errors: list[BaseException] = []

    def competitor() -> None:
        try:
            opened.append(SqlMetadataStore(db_url))
        except BaseException as err:
            errors.append(err)

    fired = threading.Event()
    thread = threading.Thread(target=competitor, daemon=True)

    def hook(conn, cursor, statement, parameters, context, executemany) -> None:
        if not fired.is_set() and statement.lstrip().upper().startswith("CREATE TABLE"):
            fired.set()
            thread.start()
            thread.join(1.0)

    # The first store's engine is built by SqlMetadataStore itself, so hook every engine briefly.
    sa.event.listen(sa.engine.Engine, "before_cursor_execute", hook)
    try:
        opened.append(SqlMetadataStore(db_url))
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", hook)
        thread.join(60)
        for s in opened:
            s.dispose()
    assert fired.is_set()
    assert not errors, errors
    assert len(opened) == 2

    check = SqlMetadataStore(db_url, create=False)
    try:
        with check.engine.connect() as conn:
            assert {tb.name for tb in t.metadata.sorted_tables} <= set(sa.inspect(conn).get_table_names())
            assert conn.execute(sa.select(t.schema_version.c.version)).scalars().all() == [t.SCHEMA_VERSION]
        check.register_model(_new("s1"))
    finally:
        check.dispose()
