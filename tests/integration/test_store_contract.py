"""The MetadataStore contract, run unchanged against SQLite and the real PostgreSQL server.

Every test takes the ``database_url`` fixture, so each one runs twice: on a fresh SQLite file and
in a fresh schema of the PostgreSQL server.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from pipeline.core.errors import NotFound, RegistryError, SchemaVersionError
from pipeline.registry import schema as t
from pipeline.registry import sql as sql_module
from pipeline.registry.base import CHALLENGER, CHAMPION, ModelVersion, NewModelVersion, SnapshotRecord
from pipeline.registry.sql import SqlMetadataStore

# Fixed-length hex ids, like the real ones (sha256[:16]); the first two share the prefix "aaaa".
S1 = "aaaa111100000000"
S2 = "aaaa222200000000"
S3 = "bbbb333300000000"


# -- helpers ---------------------------------------------------------------------------------


def snap(
    snapshot_id: str, dataset: str = "churn", parent: str | None = None, rows: int = 100, parts: int = 1
) -> SnapshotRecord:
    return SnapshotRecord(
        id=snapshot_id,
        dataset=dataset,
        parent=parent,
        rows=rows,
        parts=parts,
        manifest_uri=f"file:///data/snapshots/{snapshot_id}/manifest.json",
        created_at="",
    )


def new_model(
    name: str = "churn", snapshot_id: str = S1, config_hash: str = "cfg-1", spec_name: str = "logreg", **overrides: Any
) -> NewModelVersion:
    fields: dict[str, Any] = {
        "name": name,
        "snapshot_id": snapshot_id,
        "config_hash": config_hash,
        "spec_name": spec_name,
        "params": {"C": 0.5, "penalty": "l2", "class_weight": None},
        "metrics": {"roc_auc": {"value": 0.8125, "ci": [0.79, 0.83]}, "n_test": 120},
        "evaluation": {"slices": [{"segment": "new", "roc_auc": 0.7}], "calibrated": True},
        "artifact_uri": f"file:///data/artifacts/{name}/{snapshot_id}.joblib",
        "artifact_sha256": "ab" * 32,
        "validation_id": None,
        "trigger": {"kind": "new_data", "snapshot": snapshot_id},
        "code_version": "0.1.0+test",
        "lineage": {"parents": [snapshot_id], "spec": spec_name},
    }
    fields.update(overrides)
    return NewModelVersion(**fields)


def count_rows(s: SqlMetadataStore, table: sa.Table) -> int:
    with s.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def canonical(value: Any) -> str:
    """JSON text that tells True from 1 and 1.0 from 1, for type-exact comparisons."""
    return json.dumps(value, sort_keys=True)


def set_schema_version(url: str, version: int) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.update(t.schema_version).values(version=version))
    finally:
        engine.dispose()


def table_names(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch):
    """Make the store's clock step one minute per call, so "same created_at" is a real check."""
    state = {"now": datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)}

    def fake_now() -> datetime:
        state["now"] += timedelta(minutes=1)
        return state["now"]

    monkeypatch.setattr(sql_module, "_now", fake_now)
    return state


# -- schema ----------------------------------------------------------------------------------


def test_schema_is_created_on_first_open_and_reopening_works(database_url: str) -> None:
    assert not {tb.name for tb in t.metadata.sorted_tables} & table_names(database_url)

    first = SqlMetadataStore(database_url)
    first.record_snapshot(snap(S1))
    first.dispose()

    assert {tb.name for tb in t.metadata.sorted_tables} <= table_names(database_url)
    second = SqlMetadataStore(database_url)
    third = SqlMetadataStore(database_url, create=False)
    try:
        assert second.get_snapshot(S1).id == S1
        assert third.get_snapshot(S1).id == S1
        with second.engine.connect() as conn:
            assert conn.execute(sa.select(t.schema_version.c.version)).scalars().all() == [t.SCHEMA_VERSION]
    finally:
        second.dispose()
        third.dispose()


def test_newer_schema_is_refused_with_advice(database_url: str) -> None:
    SqlMetadataStore(database_url).dispose()
    set_schema_version(database_url, t.SCHEMA_VERSION + 1)

    for create in (True, False):
        with pytest.raises(SchemaVersionError) as info:
            SqlMetadataStore(database_url, create=create)
        msg = str(info.value)
        assert "newer" in msg
        assert str(t.SCHEMA_VERSION + 1) in msg and str(t.SCHEMA_VERSION) in msg
        assert "upgrade this code" in msg  # says what to do

    # Refusing must not "repair" the version row.
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        assert conn.execute(sa.select(t.schema_version.c.version)).scalar_one() == t.SCHEMA_VERSION + 1
    engine.dispose()


def test_older_schema_is_refused_and_points_to_db_upgrade(database_url: str) -> None:
    SqlMetadataStore(database_url).dispose()
    set_schema_version(database_url, t.SCHEMA_VERSION - 1)

    with pytest.raises(SchemaVersionError) as info:
        SqlMetadataStore(database_url)
    msg = str(info.value)
    assert "older" in msg and "newer" not in msg
    assert "ct db upgrade" in msg


def test_create_false_on_empty_database_names_db_upgrade_and_creates_nothing(database_url: str) -> None:
    with pytest.raises(SchemaVersionError) as info:
        SqlMetadataStore(database_url, create=False)
    assert "ct db upgrade" in str(info.value)
    assert not {tb.name for tb in t.metadata.sorted_tables} & table_names(database_url)


# -- snapshots -------------------------------------------------------------------------------


def test_record_snapshot_is_idempotent(store: SqlMetadataStore, clock) -> None:
    first = store.record_snapshot(snap(S1, rows=100))
    assert (first.id, first.dataset, first.parent, first.rows, first.parts) == (S1, "churn", None, 100, 1)
    assert first.manifest_uri.endswith(f"{S1}/manifest.json")
    assert first.created_at == "2024-05-01T12:01:00+00:00"

    again = store.record_snapshot(snap(S1, rows=999, dataset="other"))  # the clock has moved on
    assert again == first
    assert store.get_snapshot(S1) == first
    assert count_rows(store, t.snapshots) == 1


def test_get_snapshot_by_full_id_and_unique_prefix(store: SqlMetadataStore) -> None:
    s1 = store.record_snapshot(snap(S1))
    s2 = store.record_snapshot(snap(S2, parent=S1, rows=250, parts=3))
    s3 = store.record_snapshot(snap(S3, dataset="other"))

    assert store.get_snapshot(S1) == s1
    assert store.get_snapshot(S2) == s2
    assert store.get_snapshot("aaaa1") == s1
    assert store.get_snapshot("aaaa2") == s2
    assert store.get_snapshot("b") == s3
    assert (s2.parent, s2.rows, s2.parts) == (S1, 250, 3)


def test_ambiguous_prefix_and_unknown_id_raise_not_found_with_help(store: SqlMetadataStore) -> None:
    store.record_snapshot(snap(S1))
    store.record_snapshot(snap(S2))

    with pytest.raises(NotFound) as ambiguous:
        store.get_snapshot("aaaa")
    assert "'aaaa'" in str(ambiguous.value) and "ambiguous" in str(ambiguous.value)
    assert "more characters" in str(ambiguous.value)

    with pytest.raises(NotFound) as unknown:
        store.get_snapshot("cccc000000000000")
    assert "cccc000000000000" in str(unknown.value)
    assert "ct snapshots list" in str(unknown.value)


def test_list_and_latest_snapshots(store: SqlMetadataStore) -> None:
    assert store.list_snapshots() == []
    assert store.latest_snapshot("churn") is None

    store.record_snapshot(snap(S1, dataset="churn"))
    store.record_snapshot(snap(S3, dataset="other"))
    store.record_snapshot(snap(S2, dataset="churn", parent=S1))
    store.record_snapshot(snap(S1, dataset="churn"))  # re-recording must not move it to the front

    assert [s.id for s in store.list_snapshots()] == [S2, S3, S1]
    assert [s.id for s in store.list_snapshots("churn")] == [S2, S1]
    assert [s.id for s in store.list_snapshots("other")] == [S3]
    assert store.list_snapshots("nothing") == []
    assert store.latest_snapshot("churn").id == S2
    assert store.latest_snapshot("other").id == S3
    assert store.latest_snapshot("nothing") is None


# -- validations -----------------------------------------------------------------------------

SUMMARY: dict[str, Any] = {
    "checks": [
        {"name": "no_nulls", "passed": True, "value": 0.0, "threshold": None},
        {"name": "psi", "passed": False, "value": 0.2734375, "threshold": 0.2, "columns": ["age", "plan"]},
    ],
    "drift": {"age": {"psi": 1.5e-07, "bins": [0, 1, 2.5, -3.25]}, "plan": {"psi": None}},
    "counts": {"rows": 600, "failed": 1},
    "flags": [True, False, None, 1, 1.0, "text"],
    "empty": {},
    "none": [],
    "unicode": "café ✓",
}


def test_validation_round_trip_and_latest(store: SqlMetadataStore) -> None:
    store.record_snapshot(snap(S1))
    assert store.latest_validation(S1) is None

    first = store.record_validation(S1, None, False, SUMMARY, "file:///reports/v1.html")
    second = store.record_validation(S1, S2, True, {"checks": []}, None)
    other = store.record_validation(S3, S1, True, {"x": 1}, None)

    assert len({first.id, second.id, other.id}) == 3
    assert (first.snapshot_id, first.reference_snapshot_id, first.passed, first.report_uri) == (
        S1,
        None,
        False,
        "file:///reports/v1.html",
    )
    assert first.passed is False and second.passed is True
    assert canonical(first.summary) == canonical(SUMMARY)

    fetched = store.get_validation(first.id)
    assert fetched == first
    assert canonical(fetched.summary) == canonical(SUMMARY)
    assert type(fetched.summary["flags"][0]) is bool and type(fetched.summary["flags"][4]) is float

    assert store.latest_validation(S1) == second
    assert store.latest_validation(S3) == other
    assert store.latest_validation("unknown") is None


def test_non_finite_floats_are_stored_as_null(store: SqlMetadataStore) -> None:
    """PostgreSQL's json rejects NaN/Infinity; the store writes them as null on both dialects."""
    nan, inf = float("nan"), float("inf")
    v = store.record_validation(S1, None, False, {"psi": nan, "drift": {"ks": inf, "values": [-inf, 0.5]}}, None)
    expected = {"psi": None, "drift": {"ks": None, "values": [None, 0.5]}}
    assert v.summary == expected
    assert store.get_validation(v.id).summary == expected

    mv, _ = store.register_model(new_model(metrics={"roc_auc": nan, "log_loss": 0.25}))
    assert store.get_model_version("churn", mv.version).metrics == {"roc_auc": None, "log_loss": 0.25}


def test_unknown_validation_raises_not_found(store: SqlMetadataStore) -> None:
    with pytest.raises(NotFound, match="987654"):
        store.get_validation(987654)


# -- models ----------------------------------------------------------------------------------


def test_versions_are_allocated_per_name(store: SqlMetadataStore) -> None:
    order = [("churn", S1), ("other", S1), ("churn", S2), ("churn", S3), ("other", S2)]
    got = []
    for name, snapshot_id in order:
        mv, created = store.register_model(new_model(name=name, snapshot_id=snapshot_id))
        assert created is True
        got.append((mv.name, mv.version, mv.snapshot_id))
    assert got == [("churn", 1, S1), ("other", 1, S1), ("churn", 2, S2), ("churn", 3, S3), ("other", 2, S2)]


def test_registering_identical_inputs_returns_existing_version(store: SqlMetadataStore) -> None:
    v1, created1 = store.register_model(new_model(snapshot_id=S1))
    v2, created2 = store.register_model(new_model(snapshot_id=S2))
    assert (v1.version, created1, v2.version, created2) == (1, True, 2, True)

    # Same (name, snapshot, config hash, spec); the rest differs and must not matter.
    again, created = store.register_model(
        new_model(snapshot_id=S1, params={"C": 99}, metrics={}, artifact_sha256="cd" * 32)
    )
    assert created is False
    assert again == v1
    assert count_rows(store, t.model_versions) == 2

    # No version number was burnt by the duplicate; each input field on its own makes a new version.
    v3, c3 = store.register_model(new_model(snapshot_id=S1, config_hash="cfg-2"))
    v4, c4 = store.register_model(new_model(snapshot_id=S1, spec_name="gbm"))
    v5, c5 = store.register_model(new_model(name="other", snapshot_id=S1))
    assert [(v3.version, c3), (v4.version, c4), (v5.version, c5)] == [(3, True), (4, True), (1, True)]
    assert count_rows(store, t.model_versions) == 5


def test_get_list_and_find_model_versions(store: SqlMetadataStore) -> None:
    snapshot_ids = [S1, S2, S3]
    for snapshot_id in snapshot_ids:
        store.register_model(new_model(name="churn", snapshot_id=snapshot_id))
    store.register_model(new_model(name="other", snapshot_id=S1))
    store.register_model(new_model(name="other", snapshot_id=S2))
    validation = store.record_validation(S2, S1, True, {"ok": True}, None)
    store.register_model(new_model(name="churn", snapshot_id=S3, config_hash="cfg-9", validation_id=validation.id))

    expected = new_model(name="churn", snapshot_id=S2)
    mv = store.get_model_version("churn", 2)
    assert isinstance(mv, ModelVersion)
    for field in (
        "name",
        "snapshot_id",
        "config_hash",
        "spec_name",
        "artifact_uri",
        "artifact_sha256",
        "validation_id",
        "code_version",
    ):
        assert getattr(mv, field) == getattr(expected, field), field
    for field in ("params", "metrics", "evaluation", "trigger", "lineage"):
        assert canonical(getattr(mv, field)) == canonical(getattr(expected, field)), field
    assert mv.version == 2 and mv.decision is None and mv.aliases == ()
    assert store.get_model_version("churn", 4).validation_id == validation.id

    assert [v.version for v in store.list_model_versions("churn")] == [4, 3, 2, 1]
    assert [v.version for v in store.list_model_versions("other")] == [2, 1]
    assert store.list_model_versions("missing") == []
    everything = store.list_model_versions()
    assert sorted((v.name, v.version) for v in everything) == [
        ("churn", 1),
        ("churn", 2),
        ("churn", 3),
        ("churn", 4),
        ("other", 1),
        ("other", 2),
    ]
    for name in ("churn", "other"):
        mine = [v.version for v in everything if v.name == name]
        assert mine == sorted(mine, reverse=True)

    found = store.find_model_version("churn", S3, "cfg-1", "logreg")
    assert found is not None and found.version == 3
    assert found == store.get_model_version("churn", 3)
    assert store.find_model_version("churn", S3, "cfg-9", "logreg").version == 4
    assert store.find_model_version("churn", S3, "cfg-2", "logreg") is None
    assert store.find_model_version("churn", S3, "cfg-1", "gbm") is None
    assert store.find_model_version("other", S3, "cfg-1", "logreg") is None


def test_record_decision(store: SqlMetadataStore) -> None:
    store.register_model(new_model(snapshot_id=S1))
    store.register_model(new_model(snapshot_id=S2))
    decision = {
        "promote": True,
        "reason": "beats champion",
        "delta": 0.0125,
        "evidence": {"ci": [0.001, 0.02], "champion": None},
    }

    store.record_decision("churn", 2, decision)

    assert canonical(store.get_model_version("churn", 2).decision) == canonical(decision)
    assert store.get_model_version("churn", 1).decision is None

    store.record_decision("churn", 2, {"promote": False})  # a later decision replaces the earlier one
    assert store.get_model_version("churn", 2).decision == {"promote": False}


def test_unknown_model_version_raises_not_found(store: SqlMetadataStore) -> None:
    store.register_model(new_model(snapshot_id=S1))
    with pytest.raises(NotFound, match="no version 7"):
        store.get_model_version("churn", 7)
    with pytest.raises(NotFound, match="'nope'"):
        store.get_model_version("nope", 1)
    with pytest.raises(NotFound, match="no version 7"):
        store.record_decision("churn", 7, {"promote": True})
    with pytest.raises(NotFound):
        store.record_decision("nope", 1, {"promote": True})


# -- aliases and the promotion ledger --------------------------------------------------------


def _three_versions(store: SqlMetadataStore) -> None:
    for snapshot_id in (S1, S2, S3):
        store.register_model(new_model(snapshot_id=snapshot_id))


def test_alias_moves_write_ledger_rows(store: SqlMetadataStore) -> None:
    _three_versions(store)
    assert store.get_alias("churn") is None
    assert store.get_alias("churn", "challenger") is None
    assert store.promotion_history("churn") == []

    first = store.set_alias("churn", CHAMPION, 1, "first model", {"roc_auc": 0.81}, "alice")
    assert first is not None
    assert (first.name, first.alias, first.from_version, first.to_version, first.reason, first.actor) == (
        "churn",
        CHAMPION,
        None,
        1,
        "first model",
        "alice",
    )
    assert first.evidence == {"roc_auc": 0.81}
    assert store.get_alias("churn").version == 1
    assert store.get_alias("churn", CHAMPION) == store.get_model_version("churn", 1)

    second = store.set_alias("churn", CHAMPION, 2, "better", {"delta": 0.02, "ci": [0.01, 0.03]}, "scheduler")
    assert (second.from_version, second.to_version) == (1, 2)
    assert second.id > first.id
    assert store.get_alias("churn").version == 2
    assert store.promotion_history("churn") == [first, second]


def test_setting_alias_to_current_version_is_a_no_op(store: SqlMetadataStore) -> None:
    _three_versions(store)
    store.set_alias("churn", CHAMPION, 2, "promote", {}, "alice")
    before = store.promotion_history("churn")

    assert store.set_alias("churn", CHAMPION, 2, "promote again", {"x": 1}, "bob") is None
    assert store.promotion_history("churn") == before
    assert count_rows(store, t.promotions) == 1
    assert store.get_alias("churn").version == 2


def test_set_alias_to_missing_version_changes_nothing(store: SqlMetadataStore) -> None:
    _three_versions(store)
    store.set_alias("churn", CHAMPION, 1, "first", {}, "alice")
    history = store.promotion_history("churn")

    with pytest.raises(NotFound, match="no version 9"):
        store.set_alias("churn", CHAMPION, 9, "typo", {}, "alice")
    with pytest.raises(NotFound):
        store.set_alias("nope", CHAMPION, 1, "typo", {}, "alice")
    with pytest.raises(NotFound):
        store.set_alias("churn", "challenger", 9, "typo", {}, "alice")

    assert store.get_alias("churn").version == 1
    assert store.get_alias("churn", "challenger") is None
    assert store.get_alias("nope") is None
    assert store.promotion_history("churn") == history
    assert store.promotion_history("nope") == []
    assert count_rows(store, t.promotions) == 1
    assert count_rows(store, t.aliases) == 1


def _aliased(store: SqlMetadataStore) -> None:
    """churn v1..v3 (champion v2, challenger v3) and other v1 (champion)."""
    _three_versions(store)
    store.register_model(new_model(name="other", snapshot_id=S1))
    store.set_alias("churn", CHAMPION, 2, "p", {}, "a")
    store.set_alias("churn", "challenger", 3, "p", {}, "a")
    store.set_alias("other", CHAMPION, 1, "p", {}, "a")


def test_aliases_appear_on_model_versions(store: SqlMetadataStore) -> None:
    _aliased(store)

    assert store.get_model_version("churn", 1).aliases == ()
    assert store.get_model_version("churn", 2).aliases == (CHAMPION,)
    assert store.get_model_version("churn", 3).aliases == ("challenger",)
    assert store.get_model_version("other", 1).aliases == (CHAMPION,)
    assert {v.version: v.aliases for v in store.list_model_versions("churn")} == {
        3: ("challenger",),
        2: (CHAMPION,),
        1: (),
    }

    store.set_alias("churn", "challenger", 2, "p", {}, "a")
    assert store.get_model_version("churn", 2).aliases == ("challenger", CHAMPION)
    assert store.get_model_version("churn", 3).aliases == ()
    assert store.find_model_version("churn", S2, "cfg-1", "logreg").aliases == ("challenger", CHAMPION)
    assert store.get_alias("churn", "challenger").aliases == ("challenger", CHAMPION)


def test_promotion_history_order_filter_and_rollback(store: SqlMetadataStore) -> None:
    _three_versions(store)
    store.register_model(new_model(name="other", snapshot_id=S1))
    store.set_alias("churn", CHAMPION, 1, "first", {}, "alice")
    store.set_alias("churn", "challenger", 3, "shadow", {}, "alice")
    store.set_alias("other", CHAMPION, 1, "first", {}, "alice")
    store.set_alias("churn", CHAMPION, 2, "better", {}, "scheduler")
    rollback = store.set_alias("churn", CHAMPION, 1, "rollback: v2 misbehaves", {"incident": "INC-7"}, "bob")

    assert rollback is not None and (rollback.from_version, rollback.to_version) == (2, 1)
    assert rollback.reason == "rollback: v2 misbehaves" and rollback.actor == "bob"
    assert store.get_alias("churn").version == 1

    everything = store.promotion_history("churn")
    assert [(r.alias, r.from_version, r.to_version) for r in everything] == [
        (CHAMPION, None, 1),
        ("challenger", None, 3),
        (CHAMPION, 1, 2),
        (CHAMPION, 2, 1),
    ]
    assert [r.id for r in everything] == sorted(r.id for r in everything)
    assert [(r.from_version, r.to_version) for r in store.promotion_history("churn", CHAMPION)] == [
        (None, 1),
        (1, 2),
        (2, 1),
    ]
    assert [(r.from_version, r.to_version) for r in store.promotion_history("churn", "challenger")] == [(None, 3)]
    assert [(r.name, r.to_version) for r in store.promotion_history("other")] == [("other", 1)]
    assert store.promotion_history("churn", "shadow") == []


# -- timestamps ------------------------------------------------------------------------------


def _assert_utc_iso(value: str, lower: datetime, upper: datetime) -> None:
    assert isinstance(value, str) and "T" in value, value
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, f"{value!r} has no UTC offset"
    assert parsed.utcoffset() == timedelta(0), value
    assert value.endswith("+00:00"), value
    assert lower - timedelta(seconds=1) <= parsed <= upper + timedelta(seconds=1), (value, lower, upper)


def _all_timestamps(s: SqlMetadataStore) -> list[str]:
    s.register_model(new_model(snapshot_id=S1))
    stamps = [
        s.record_snapshot(snap(S1)).created_at,
        s.get_snapshot(S1).created_at,
        s.list_snapshots()[0].created_at,
        s.record_validation(S1, None, True, {}, None).created_at,
        s.latest_validation(S1).created_at,
        s.get_model_version("churn", 1).created_at,
        s.list_model_versions()[0].created_at,
        s.set_alias("churn", CHAMPION, 1, "r", {}, "a").created_at,
        s.promotion_history("churn")[0].created_at,
        s.get_alias("churn").created_at,
    ]
    return stamps


def test_timestamps_are_iso_8601_in_utc(store: SqlMetadataStore) -> None:
    lower = datetime.now(UTC)
    stamps = _all_timestamps(store)
    upper = datetime.now(UTC)
    for value in stamps:
        _assert_utc_iso(value, lower, upper)


@pytest.mark.postgres
def test_timestamps_are_utc_even_when_the_session_time_zone_is_not(postgres_url: str) -> None:
    url = sa.engine.make_url(postgres_url)
    options = url.query["options"] + " -cTimeZone=America/New_York"
    ny_url = url.update_query_dict({"options": options}).render_as_string(hide_password=False)

    ny_store = SqlMetadataStore(ny_url)
    utc_store = SqlMetadataStore(postgres_url)
    try:
        with ny_store.engine.connect() as conn:
            assert conn.execute(sa.text("SHOW TimeZone")).scalar_one() == "America/New_York"
        lower = datetime.now(UTC)
        stamps = _all_timestamps(ny_store)
        upper = datetime.now(UTC)
        for value in stamps:
            _assert_utc_iso(value, lower, upper)
        assert utc_store.get_snapshot(S1).created_at == ny_store.get_snapshot(S1).created_at
    finally:
        ny_store.dispose()
        utc_store.dispose()


def test_snapshot_prefix_is_literal_not_a_pattern(database_url: str) -> None:
    """``%`` and ``_`` in a prefix are characters, not LIKE wildcards; case does not matter."""
    from pipeline.core.errors import NotFound
    from pipeline.registry.base import SnapshotRecord
    from pipeline.registry.sql import SqlMetadataStore

    store = SqlMetadataStore(database_url)
    store.record_snapshot(
        SnapshotRecord(
            id="ab12cd34", dataset="d", parent=None, rows=1, parts=1, manifest_uri="file:///m", created_at=""
        )
    )
    assert store.get_snapshot("AB12").id == "ab12cd34"
    for pattern in ("%", "a_12", "ab%"):
        with pytest.raises(NotFound):
            store.get_snapshot(pattern)
    store.dispose()


# -- schema v2: semantic versions, environment, tags, search, rollback ---------------------------

SCHEMA_A = [["customer_id", "string"], ["tenure", "double"], ["churned", "string"]]
SCHEMA_B = [*SCHEMA_A, ["region", "string"]]


def test_semver_is_derived_from_the_previous_version(store: SqlMetadataStore) -> None:
    steps = [
        ({"snapshot_id": S1, "feature_schema": SCHEMA_A}, "1.0.0"),
        ({"snapshot_id": S1, "feature_schema": SCHEMA_A, "config_hash": "cfg-2"}, "1.0.1"),  # same inputs, retrained
        ({"snapshot_id": S2, "feature_schema": SCHEMA_A, "config_hash": "cfg-2"}, "1.1.0"),  # new data
        ({"snapshot_id": S2, "feature_schema": SCHEMA_A, "params": {"C": 0.1}}, "1.2.0"),  # new hyperparameters
        ({"snapshot_id": S2, "feature_schema": SCHEMA_A, "spec_name": "gbm"}, "1.3.0"),  # new spec
        ({"snapshot_id": S3, "feature_schema": SCHEMA_B}, "2.0.0"),  # schema changed
        ({"snapshot_id": S3, "feature_schema": SCHEMA_B, "config_hash": "cfg-3"}, "2.0.1"),
    ]
    for version, (fields, expected) in enumerate(steps, start=1):
        mv, created = store.register_model(new_model(**fields))
        assert created and (mv.version, mv.semver) == (version, expected), (fields, mv.semver)
    # Another model name starts again at 1.0.0; re-registering returns the stored semver unchanged.
    assert store.register_model(new_model(name="other", snapshot_id=S3, feature_schema=SCHEMA_B))[0].semver == "1.0.0"
    again, created = store.register_model(new_model(snapshot_id=S2, feature_schema=SCHEMA_B, params={"C": 0.1}))
    assert (created, again.version, again.semver) == (False, 4, "1.2.0")
    assert [v.semver for v in store.list_model_versions("churn")] == [s for _, s in reversed(steps)]


def test_environment_and_feature_schema_round_trip(store: SqlMetadataStore) -> None:
    env = {"python": "3.11.7", "packages": {"scikit-learn": "1.5.0", "great-expectations": None}}
    mv, _ = store.register_model(new_model(environment=env, feature_schema=[tuple(c) for c in SCHEMA_A]))
    fetched = store.get_model_version("churn", mv.version)
    assert fetched.environment == env and fetched.feature_schema == SCHEMA_A
    bare, _ = store.register_model(new_model(snapshot_id=S2))
    assert (bare.environment, bare.feature_schema, bare.tags) == ({}, None, {})


def test_tags_set_replace_delete(store: SqlMetadataStore) -> None:
    _three_versions(store)
    store.set_tag("churn", 2, "team", "risk")
    store.set_tag("churn", 2, "ticket", "INC-7")
    store.set_tag("churn", 2, "team", "growth")  # replaces
    store.set_tag("churn", 3, "team", "risk")
    assert store.get_model_version("churn", 2).tags == {"team": "growth", "ticket": "INC-7"}
    assert store.get_model_version("churn", 1).tags == {}
    assert {v.version: v.tags for v in store.list_model_versions("churn")} == {
        3: {"team": "risk"},
        2: {"team": "growth", "ticket": "INC-7"},
        1: {},
    }

    assert store.delete_tag("churn", 2, "ticket") is True
    assert store.delete_tag("churn", 2, "ticket") is False
    assert store.get_model_version("churn", 2).tags == {"team": "growth"}
    with pytest.raises(NotFound, match="no version 9"):
        store.set_tag("churn", 9, "team", "x")
    with pytest.raises(RegistryError, match="tag key"):
        store.set_tag("churn", 1, "  ", "x")
    assert count_rows(store, t.model_tags) == 2


def test_list_filters_by_alias_and_tags(store: SqlMetadataStore) -> None:
    _aliased(store)
    store.set_tag("churn", 1, "team", "risk")
    store.set_tag("churn", 3, "team", "risk")
    store.set_tag("churn", 3, "stage", "shadow")
    store.set_tag("other", 1, "team", "risk")

    def keys(vs):
        return [(v.name, v.version) for v in vs]

    assert keys(store.list_model_versions(alias=CHAMPION)) == [("churn", 2), ("other", 1)]
    assert keys(store.list_model_versions("churn", alias=CHAMPION)) == [("churn", 2)]
    assert keys(store.list_model_versions("churn", alias="nobody")) == []
    assert keys(store.list_model_versions(tags={"team": "risk"})) == [("churn", 3), ("churn", 1), ("other", 1)]
    assert keys(store.list_model_versions("churn", tags={"team": "risk", "stage": "shadow"})) == [("churn", 3)]
    assert keys(store.list_model_versions(tags={"team": "growth"})) == []
    assert keys(store.list_model_versions(alias="challenger", tags={"team": "risk"})) == [("churn", 3)]


def _replay(history) -> dict[str, int]:
    """Where each alias points according to the ledger alone."""
    state: dict[str, int] = {}
    for row in history:
        assert state.get(row.alias) == row.from_version, f"ledger row {row.id} does not start where the last ended"
        state[row.alias] = row.to_version
    return state


def test_ledger_is_complete_after_promotions_and_rollbacks(store: SqlMetadataStore) -> None:
    for snapshot_id in (S1, S2, S3, "cccc444400000000"):
        store.register_model(new_model(snapshot_id=snapshot_id))
    script = [
        ("promote", 1, 1),
        ("promote", 2, 2),
        ("promote", 3, 3),
        ("rollback", None, 2),
        ("rollback", None, 1),  # walks back, does not flip 3 <-> 2
        ("promote", 4, 4),
        ("rollback", None, 1),  # undoes the promotion of 4
        ("promote", 3, 3),
        ("rollback", None, 1),
    ]
    for step, (action, version, champion) in enumerate(script, start=1):
        if action == "promote":
            row = store.set_alias("churn", CHAMPION, version, f"step {step}", {"step": step}, "alice")
        else:
            row = store.rollback_alias("churn", CHAMPION, f"step {step}", "bob")
        assert row is not None and row.kind == ("rollback" if action == "rollback" else "promotion")
        assert store.get_alias("churn").version == champion, step
        history = store.promotion_history("churn")
        assert len(history) == step and history[-1] == row
        assert _replay(history) == {CHAMPION: champion}

    history = store.promotion_history("churn")
    assert [(r.kind, r.from_version, r.to_version, r.actor) for r in history] == [
        ("promotion", None, 1, "alice"),
        ("promotion", 1, 2, "alice"),
        ("promotion", 2, 3, "alice"),
        ("rollback", 3, 2, "bob"),
        ("rollback", 2, 1, "bob"),
        ("promotion", 1, 4, "alice"),
        ("rollback", 4, 1, "bob"),
        ("promotion", 1, 3, "alice"),
        ("rollback", 3, 1, "bob"),
    ]
    # Each rollback names the ledger row it undid.
    assert [r.evidence["undoes_ledger_id"] for r in history if r.kind == "rollback"] == [3, 2, 6, 8]
    assert history[3].evidence["undone_move"] == [2, 3] and history[3].evidence["undone_reason"] == "step 3"
    assert [r.id for r in history] == sorted(r.id for r in history)


def test_rollback_target_and_refusals(store: SqlMetadataStore) -> None:
    _three_versions(store)
    with pytest.raises(RegistryError, match="never had a 'champion' alias"):
        store.rollback_alias("churn", CHAMPION, "r", "a")
    with pytest.raises(NotFound, match="no model named 'nope'"):
        store.rollback_alias("nope", CHAMPION, "r", "a")
    store.set_alias("churn", CHAMPION, 1, "first", {}, "a")
    with pytest.raises(RegistryError, match="no earlier champion"):
        store.rollback_alias("churn", CHAMPION, "r", "a")

    store.set_alias("churn", CHAMPION, 3, "jump", {}, "a")
    undone, target = store.rollback_target("churn", CHAMPION)
    assert (undone.to_version, target) == (3, 1)
    assert store.get_alias("churn").version == 3  # asking moved nothing
    with pytest.raises(RegistryError, match="changed meanwhile"):
        store.rollback_alias("churn", CHAMPION, "r", "a", expect_version=2)
    assert store.get_alias("churn").version == 3 and len(store.promotion_history("churn")) == 2

    row = store.rollback_alias("churn", CHAMPION, "r", "a", expect_version=1, evidence={"ticket": "INC-9"})
    assert (row.from_version, row.to_version, row.evidence["ticket"]) == (3, 1, "INC-9")


def test_rollback_refuses_when_the_alias_was_changed_outside_the_ledger(store: SqlMetadataStore) -> None:
    _three_versions(store)
    store.set_alias("churn", CHAMPION, 1, "first", {}, "a")
    store.set_alias("churn", CHAMPION, 2, "second", {}, "a")
    with store.engine.begin() as conn:
        conn.execute(sa.update(t.aliases).values(version=3))
    with pytest.raises(RegistryError, match="points to v3, but its ledger ends at v2"):
        store.rollback_alias("churn", CHAMPION, "r", "a")
    assert len(store.promotion_history("churn")) == 2


def test_clear_alias_writes_a_retirement_row_once(store: SqlMetadataStore) -> None:
    _three_versions(store)
    store.set_alias("churn", CHAMPION, 1, "first", {}, "a")
    store.set_alias("churn", CHALLENGER, 2, "awaiting live confirmation", {}, "policy")
    assert store.clear_alias("churn", CHALLENGER, "judged", {"n": 10}, "b", expect_version=3) is None  # not v3
    assert store.get_alias("churn", CHALLENGER).version == 2

    row = store.clear_alias("churn", CHALLENGER, "worse on live data", {"n": 600}, "ct_monitor", expect_version=2)
    assert row is not None
    assert (row.alias, row.kind, row.from_version, row.to_version, row.actor) == (
        CHALLENGER,
        "retirement",
        2,
        2,
        "ct_monitor",
    )
    assert row.evidence == {"n": 600}
    assert store.get_alias("churn", CHALLENGER) is None
    assert CHALLENGER not in store.get_model_version("churn", 2).aliases
    assert store.get_alias("churn").version == 1  # the champion is untouched
    assert store.promotion_history("churn", CHALLENGER)[-1] == row

    # a rerun clears nothing twice
    assert store.clear_alias("churn", CHALLENGER, "again", {}, "ct_monitor") is None
    assert len(store.promotion_history("churn", CHALLENGER)) == 2
    with pytest.raises(RegistryError, match="was cleared"):
        store.rollback_target("churn", CHALLENGER)
    with pytest.raises(NotFound, match="no model named 'nope'"):
        store.clear_alias("nope", CHALLENGER, "r", {}, "a")

    # set again after a retirement: the new history starts from nothing
    again = store.set_alias("churn", CHALLENGER, 3, "next candidate", {}, "policy")
    assert again is not None and again.from_version is None
