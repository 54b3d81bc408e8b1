"""``ct db upgrade``: a version-1 (or version-2) database, with data in it, migrated to the current schema.

The version-1 tables are frozen below exactly as ``schema.py`` declared them at version 1, so
these tests keep checking the real upgrade path after ``schema.py`` moves on; a version-2 database
is a version-1 one taken through the first step. Every test runs on a SQLite file and on the real
PostgreSQL server.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from pipeline.cli import main as ct_main
from pipeline.core.errors import SchemaVersionError
from pipeline.registry import migrations
from pipeline.registry import schema as t
from pipeline.registry.alert import Alert
from pipeline.registry.base import CHAMPION, NewModelVersion, NewWorkRequest
from pipeline.registry.sql import SqlMetadataStore, make_engine, upgrade_schema

# -- the version-1 schema, frozen ------------------------------------------------------------------
V1 = sa.MetaData()
sa.Table(
    "ct_schema_version",
    V1,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)
sa.Table(
    "ct_snapshots",
    V1,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("dataset", sa.String(200), nullable=False, index=True),
    sa.Column("parent_id", sa.String(64), nullable=True),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("parts", sa.Integer, nullable=False),
    sa.Column("manifest_uri", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False, unique=True),
)
sa.Table(
    "ct_validations",
    V1,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("snapshot_id", sa.String(64), nullable=False, index=True),
    sa.Column("reference_snapshot_id", sa.String(64), nullable=True),
    sa.Column("passed", sa.Boolean, nullable=False),
    sa.Column("summary", sa.JSON, nullable=False),
    sa.Column("report_uri", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Table(
    "ct_registered_models",
    V1,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("last_version", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Table(
    "ct_model_versions",
    V1,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), sa.ForeignKey("ct_registered_models.name"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("snapshot_id", sa.String(64), nullable=False, index=True),
    sa.Column("config_hash", sa.String(64), nullable=False),
    sa.Column("spec_name", sa.String(200), nullable=False),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("metrics", sa.JSON, nullable=False),
    sa.Column("evaluation", sa.JSON, nullable=False),
    sa.Column("artifact_uri", sa.Text, nullable=False),
    sa.Column("artifact_sha256", sa.String(64), nullable=False),
    sa.Column("validation_id", sa.Integer, nullable=True),
    sa.Column("trigger", sa.JSON, nullable=False),
    sa.Column("code_version", sa.String(200), nullable=False),
    sa.Column("lineage", sa.JSON, nullable=False),
    sa.Column("decision", sa.JSON, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("name", "version", name="uq_ct_model_version"),
    sa.UniqueConstraint("name", "snapshot_id", "config_hash", "spec_name", name="uq_ct_model_inputs"),
)
sa.Table(
    "ct_aliases",
    V1,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("alias", sa.String(100), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Table(
    "ct_promotions",
    V1,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, index=True),
    sa.Column("alias", sa.String(100), nullable=False),
    sa.Column("from_version", sa.Integer, nullable=True),
    sa.Column("to_version", sa.Integer, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("evidence", sa.JSON, nullable=False),
    sa.Column("actor", sa.String(400), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
S1, S2 = "aaaa111100000000", "bbbb222200000000"
# (version, snapshot, config hash, params) -> semver after the replay: first, patch, minor (data), minor (params)
V1_VERSIONS = [
    (1, S1, "cfg-1", {"C": 1.0}),
    (2, S1, "cfg-2", {"C": 1.0}),
    (3, S2, "cfg-2", {"C": 1.0}),
    (4, S2, "cfg-3", {"C": 0.2}),
]
EXPECTED_SEMVER = {1: "1.0.0", 2: "1.0.1", 3: "1.1.0", 4: "1.2.0"}
ALERT = Alert(
    kind="promoted",
    severity="info",
    title="churn: champion moved v3 -> v4",
    message="by ops: better",
    dedupe_key="promoted:churn:champion:ledger9",
)


def _v1_database(url: str) -> None:
    """Create the version-1 tables and fill them as version-1 code would have."""
    engine = sa.create_engine(url)
    tb = V1.tables
    with engine.begin() as conn:
        V1.create_all(conn)
        conn.execute(sa.insert(tb["ct_schema_version"]).values(id=1, version=1))
        for seq, sid in enumerate((S1, S2), start=1):
            conn.execute(
                sa.insert(tb["ct_snapshots"]).values(
                    id=sid,
                    dataset="churn",
                    parent_id=None if seq == 1 else S1,
                    rows=100 * seq,
                    parts=seq,
                    manifest_uri=f"file:///m/{sid}.json",
                    created_at=T0,
                    seq=seq,
                )
            )
        conn.execute(
            sa.insert(tb["ct_validations"]).values(
                snapshot_id=S2,
                reference_snapshot_id=S1,
                passed=True,
                summary={"drifted_features": ["age"]},
                report_uri="file:///r.html",
                created_at=T0,
            )
        )
        conn.execute(sa.insert(tb["ct_registered_models"]).values(name="churn", last_version=4, created_at=T0))
        for version, sid, cfg, params in V1_VERSIONS:
            conn.execute(
                sa.insert(tb["ct_model_versions"]).values(
                    name="churn",
                    version=version,
                    snapshot_id=sid,
                    config_hash=cfg,
                    spec_name="default",
                    params=params,
                    metrics={"roc_auc": {"value": round(0.8 + version / 100, 2), "lower": 0.7, "upper": 0.9}},
                    evaluation={"holdout_rows": 50},
                    artifact_uri=f"artifacts/churn/{version}.joblib",
                    artifact_sha256=f"{version:x}" * 64,
                    validation_id=1 if sid == S2 else None,
                    trigger={"kind": "new_data", "run_id": f"run-{version}"},
                    code_version="git:abc",
                    lineage={"config_path": "/c.yaml"},
                    decision={"promote": True, "reason": "ok"},
                    created_at=T0,
                )
            )
        conn.execute(sa.insert(tb["ct_aliases"]).values(name="churn", alias=CHAMPION, version=3, updated_at=T0))
        for i, (frm, to) in enumerate([(None, 1), (1, 3)], start=1):
            conn.execute(
                sa.insert(tb["ct_promotions"]).values(
                    name="churn",
                    alias=CHAMPION,
                    from_version=frm,
                    to_version=to,
                    reason=f"move {i}",
                    evidence={"i": i},
                    actor="scheduler",
                    created_at=T0,
                )
            )
    engine.dispose()


def _structure(url: str) -> dict[str, Any]:
    """Tables, columns (name, nullability), primary keys, unique constraints and indexes, by name."""
    engine = sa.create_engine(url)
    out: dict[str, Any] = {}
    with engine.connect() as conn:
        insp = sa.inspect(conn)
        for table in sorted(insp.get_table_names()):
            out[table] = {
                "columns": sorted((c["name"], bool(c["nullable"])) for c in insp.get_columns(table)),
                "pk": sorted(insp.get_pk_constraint(table)["constrained_columns"]),
                "unique": sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(table)),
                "indexes": sorted(
                    (i["name"], tuple(i["column_names"])) for i in insp.get_indexes(table) if not i.get("unique")
                ),
            }
    engine.dispose()
    return out


def _stored_version(url: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        version = conn.execute(sa.select(t.schema_version.c.version)).scalar_one()
    engine.dispose()
    return version


# -- tests -----------------------------------------------------------------------------------------
def test_v1_database_is_refused_until_upgraded_then_keeps_its_data(database_url: str) -> None:
    _v1_database(database_url)
    for create in (True, False):
        with pytest.raises(SchemaVersionError, match=r"version 1, which is older.*run `ct db upgrade`"):
            SqlMetadataStore(database_url, create=create)
    assert _stored_version(database_url) == 1  # refusing changed nothing

    result = upgrade_schema(database_url)
    assert (result.found, result.version, result.applied, result.created) == (1, 4, (1, 2, 3), False)

    store = SqlMetadataStore(database_url, create=False)
    try:
        versions = store.list_model_versions("churn")
        assert [(v.version, v.snapshot_id, v.config_hash, v.params) for v in reversed(versions)] == [
            (v, s, c, p) for v, s, c, p in V1_VERSIONS
        ]
        assert {v.version: v.semver for v in versions} == EXPECTED_SEMVER
        v3 = store.get_model_version("churn", 3)
        assert v3.metrics == {"roc_auc": {"value": 0.83, "lower": 0.7, "upper": 0.9}}
        assert (v3.trigger, v3.lineage, v3.decision) == (
            {"kind": "new_data", "run_id": "run-3"},
            {"config_path": "/c.yaml"},
            {"promote": True, "reason": "ok"},
        )
        assert (v3.artifact_sha256, v3.validation_id, v3.aliases, v3.code_version) == (
            "3" * 64,
            1,
            (CHAMPION,),
            "git:abc",
        )
        assert (v3.environment, v3.feature_schema, v3.tags) == ({}, None, {})
        assert v3.created_at == "2024-03-01T09:00:00+00:00"
        assert [(s.id, s.parent, s.rows) for s in store.list_snapshots()] == [(S2, S1, 200), (S1, None, 100)]
        assert store.get_validation(1).summary == {"drifted_features": ["age"]}
        ledger = store.promotion_history("churn")
        assert [(r.id, r.from_version, r.to_version, r.kind, r.evidence) for r in ledger] == [
            (1, None, 1, "promotion", {"i": 1}),
            (2, 1, 3, "promotion", {"i": 2}),
        ]

        # The migrated store takes new work: versions continue, semver continues, v2 features work.
        mv, created = store.register_model(
            NewModelVersion(
                name="churn",
                snapshot_id="cccc333300000000",
                config_hash="cfg-3",
                spec_name="default",
                params={"C": 0.2},
                metrics={},
                evaluation={},
                artifact_uri="a",
                artifact_sha256="e" * 64,
                validation_id=None,
                trigger={},
                code_version="git:def",
                feature_schema=[["x", "double"]],
            )
        )
        assert (created, mv.version, mv.semver) == (True, 5, "1.3.0")
        store.set_tag("churn", 1, "team", "risk")
        assert store.list_model_versions(tags={"team": "risk"})[0].version == 1
        back = store.rollback_alias("churn", CHAMPION, "v3 misbehaves", "ops")
        assert (back.from_version, back.to_version, back.kind, back.evidence["undoes_ledger_id"]) == (
            3,
            1,
            "rollback",
            2,
        )
        assert store.get_alias("churn").version == 1
        # Ids keep counting after the migrated rows (PostgreSQL sequences were not disturbed).
        assert back.id == 3
        # v3: the alerts table starts empty and takes alerts.
        assert store.list_alerts() == []
        stored, created = store.record_alert(ALERT)
        assert created and [a.id for a in store.list_alerts()] == [stored.id]
    finally:
        store.dispose()


def test_v2_database_gains_the_alerts_table_and_nothing_else_changes(database_url: str) -> None:
    _v1_database(database_url)
    engine = make_engine(database_url)
    try:
        assert migrations.apply_steps(engine, target=2) == (1,)  # a version-2 database, as v2 code left it
    finally:
        engine.dispose()
    before = _structure(database_url)
    assert _stored_version(database_url) == 2 and "ct_alerts" not in before
    with pytest.raises(SchemaVersionError, match=r"version 2, which is older.*run `ct db upgrade`"):
        SqlMetadataStore(database_url)

    result = upgrade_schema(database_url)

    assert (result.found, result.version, result.applied) == (2, 4, (2, 3))
    after = _structure(database_url)
    assert {name: table for name, table in after.items() if name not in ("ct_alerts", "ct_work_requests")} == before
    assert after["ct_alerts"]["unique"] == [("dedupe_key",)]
    assert after["ct_alerts"]["indexes"] == [
        ("ix_ct_alerts_created_at", ("created_at",)),
        ("ix_ct_alerts_kind_created_at", ("kind", "created_at")),
    ]
    store = SqlMetadataStore(database_url, create=False)
    try:
        assert {v.version: v.semver for v in store.list_model_versions("churn")} == EXPECTED_SEMVER
        first, created = store.record_alert(ALERT)
        again, created_again = store.record_alert(ALERT)
        assert (created, created_again, again.id) == (True, False, first.id)
    finally:
        store.dispose()


def test_upgraded_structure_equals_a_fresh_database(database_url: str, tmp_path) -> None:
    if database_url.startswith("sqlite"):
        fresh_url = f"sqlite:///{tmp_path / 'fresh.db'}"
    else:
        fresh_url = database_url  # the same schema, compared before and after: build fresh first
    SqlMetadataStore(fresh_url).dispose()
    fresh = _structure(fresh_url)
    if not database_url.startswith("sqlite"):
        engine = sa.create_engine(database_url)
        with engine.begin() as conn:
            t.metadata.drop_all(conn)
        engine.dispose()

    _v1_database(database_url)
    upgrade_schema(database_url)
    assert _structure(database_url) == fresh
    assert set(fresh) == {tb.name for tb in t.metadata.sorted_tables}


def test_upgrade_is_idempotent_and_creates_a_missing_schema(database_url: str) -> None:
    first = upgrade_schema(database_url)  # empty database: created at the current version
    assert (first.found, first.created, first.applied) == (None, True, ())
    again = upgrade_schema(database_url)
    assert (again.found, again.created, again.applied) == (t.SCHEMA_VERSION, False, ())


def test_newer_database_is_refused_by_upgrade(database_url: str) -> None:
    SqlMetadataStore(database_url).dispose()
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(sa.update(t.schema_version).values(version=t.SCHEMA_VERSION + 1))
    engine.dispose()
    with pytest.raises(SchemaVersionError, match=r"newer.*upgrade this code"):
        upgrade_schema(database_url)


def test_a_failing_step_leaves_the_database_at_the_old_version(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One transaction per step: DDL and data of a step that fails are rolled back together."""
    _v1_database(database_url)
    before = _structure(database_url)

    def half_done(conn: sa.Connection) -> None:
        migrations._v1_to_v2(conn)
        raise RuntimeError("disk full halfway through")

    monkeypatch.setitem(migrations.STEPS, 1, half_done)
    with pytest.raises(RuntimeError, match="disk full"):
        upgrade_schema(database_url)
    assert _stored_version(database_url) == 1
    assert _structure(database_url) == before

    monkeypatch.undo()
    upgrade_schema(database_url)
    assert _stored_version(database_url) == t.SCHEMA_VERSION


def test_two_upgrades_at_once_apply_the_step_once(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second upgrade starts while the first is inside step 1: it waits, re-reads, and skips that step.

    The later step goes to whichever process takes the lock first; each step still runs once.
    """
    _v1_database(database_url)
    calls: list[int] = []
    real = migrations._v1_to_v2
    second: list[Any] = []

    def run_second() -> None:
        try:
            second.append(upgrade_schema(database_url).applied)
        except BaseException as err:
            second.append(err)

    competitor = threading.Thread(target=run_second, daemon=True)

    def counted(conn: sa.Connection) -> None:
        calls.append(1)
        if len(calls) == 1:
            competitor.start()
            competitor.join(1.0)  # it must now be waiting for our lock, not migrating alongside us
        real(conn)

    monkeypatch.setitem(migrations.STEPS, 1, counted)
    result = upgrade_schema(database_url)
    competitor.join(60)
    assert len(second) == 1 and isinstance(second[0], tuple), second
    assert 1 in result.applied and 1 not in second[0]
    assert sorted(result.applied + second[0]) == [1, 2, 3], (result.applied, second)
    assert calls == [1]
    assert _stored_version(database_url) == t.SCHEMA_VERSION


def test_v3_database_gains_the_work_requests_table_and_nothing_else_changes(database_url: str) -> None:
    _v1_database(database_url)
    engine = make_engine(database_url)
    try:
        assert migrations.apply_steps(engine, target=3) == (1, 2)  # a version-3 database, as v3 code left it
    finally:
        engine.dispose()
    before = _structure(database_url)
    assert _stored_version(database_url) == 3 and "ct_work_requests" not in before

    result = upgrade_schema(database_url)

    assert (result.found, result.version, result.applied) == (3, 4, (3,))
    after = _structure(database_url)
    assert {name: table for name, table in after.items() if name != "ct_work_requests"} == before
    assert after["ct_work_requests"]["unique"] == [("dedupe_key",)]
    assert after["ct_work_requests"]["indexes"] == [("ix_ct_work_requests_model_status", ("model", "status"))]
    store = SqlMetadataStore(database_url, create=False)
    try:
        assert {v.version: v.semver for v in store.list_model_versions("churn")} == EXPECTED_SEMVER
        made, created = store.record_work_request(
            NewWorkRequest(model="churn", kind="new_data", snapshot_id="s9", reason="new snapshot s9", dedupe_key="k")
        )
        assert created and [r.id for r in store.list_work_requests("churn", pending=True)] == [made.id]
    finally:
        store.dispose()


def test_ct_db_upgrade_and_status(
    database_url: str, tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("CT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CT_DATABASE_URL", database_url)
    monkeypatch.delenv("CT_CONFIG", raising=False)
    monkeypatch.delenv("CT_DATA_URL", raising=False)
    _v1_database(database_url)

    assert ct_main(["db", "status", "--json"]) == 1
    assert json.loads(capsys.readouterr().out) == {"schema_version": 1, "code_schema_version": 4, "state": "older"}
    assert ct_main(["models", "list"]) == 2
    assert "run `ct db upgrade`" in capsys.readouterr().err

    assert ct_main(["db", "upgrade"]) == 0
    assert "v1 -> v2, v2 -> v3, v3 -> v4" in capsys.readouterr().out
    assert ct_main(["db", "upgrade"]) == 0
    assert "up to date" in capsys.readouterr().out
    assert ct_main(["db", "status"]) == 0
    assert "(current)" in capsys.readouterr().out
    assert ct_main(["models", "list", "--json"]) == 0
    assert [(m["version"], m["semver"]) for m in json.loads(capsys.readouterr().out)] == [
        (v, EXPECTED_SEMVER[v]) for v in (4, 3, 2, 1)
    ]
