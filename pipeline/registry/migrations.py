"""Step-by-step migrations of the metadata schema (``ct db upgrade``).

Each step moves a database from version N to N+1 inside one transaction that first locks the
version row, re-reads it and skips the step when another process has done it already, so an
upgrade is idempotent and safe to start twice. PostgreSQL and SQLite both run DDL inside
transactions, so a failed step leaves the database at N.

A step spells out the tables and columns it adds instead of reading them from ``schema.py``:
``schema.py`` describes the newest version and will move on, a step must keep doing what it did.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from pipeline.core.errors import SchemaVersionError
from pipeline.registry import schema as t
from pipeline.registry.versioning import VersionInputs, derive_semver

log = logging.getLogger(__name__)


def _add_column(conn: Connection, table: str, column: sa.Column) -> None:
    """``ALTER TABLE ... ADD COLUMN`` rendered by the connection's dialect (SQLAlchemy Core has no construct)."""
    sa.Table(table, sa.MetaData(), column)  # some dialects look at the column's table while rendering
    ddl = sa.schema.CreateColumn(column).compile(dialect=conn.dialect)
    preparer = conn.dialect.identifier_preparer
    conn.exec_driver_sql(f"ALTER TABLE {preparer.quote(table)} ADD COLUMN {ddl}")


def _fill_semver(conn: Connection) -> int:
    """Derive semantic versions for existing rows by replaying each model's versions in order.

    Version-1 rows have no recorded feature schema, so the replay can only tell minor (data or
    hyperparameters) from patch; their schema is unknown and never counts as a change.
    """
    mv = sa.table(
        "ct_model_versions",
        sa.column("id"),
        sa.column("name"),
        sa.column("version"),
        sa.column("snapshot_id"),
        sa.column("spec_name"),
        sa.column("params"),
        sa.column("semver"),
    )
    rows = conn.execute(
        sa.select(mv.c.id, mv.c.name, mv.c.snapshot_id, mv.c.spec_name, mv.c.params).order_by(mv.c.name, mv.c.version)
    ).all()
    previous: dict[str, tuple[str, VersionInputs]] = {}
    for row in rows:
        params = row.params if isinstance(row.params, dict) else json.loads(row.params or "{}")
        inputs = VersionInputs(row.snapshot_id, row.spec_name, params, None)
        before = previous.get(row.name)
        bump = derive_semver(before[0] if before else None, before[1] if before else None, inputs)
        conn.execute(sa.update(mv).where(mv.c.id == row.id).values(semver=bump.semver))
        previous[row.name] = (bump.semver, inputs)
    return len(rows)


def _v1_to_v2(conn: Connection) -> None:
    """semver, feature_schema, environment on versions; kind on the ledger; tags; three indexes."""
    _add_column(conn, "ct_model_versions", sa.Column("semver", sa.String(32), nullable=True))
    _add_column(conn, "ct_model_versions", sa.Column("feature_schema", sa.JSON, nullable=True))
    _add_column(conn, "ct_model_versions", sa.Column("environment", sa.JSON, nullable=True))
    _add_column(conn, "ct_promotions", sa.Column("kind", sa.String(20), nullable=False, server_default="promotion"))
    frozen = sa.MetaData()
    tags = sa.Table(
        "ct_model_tags",
        frozen,
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    tags.create(conn)
    aliases = sa.Table("ct_aliases", frozen, sa.Column("name"), sa.Column("version"))
    promotions = sa.Table("ct_promotions", frozen, sa.Column("name"), sa.Column("alias"), sa.Column("id"))
    sa.Index("ix_ct_model_tags_key_value", tags.c.key, tags.c.value).create(conn)
    sa.Index("ix_ct_aliases_name_version", aliases.c.name, aliases.c.version).create(conn)
    sa.Index("ix_ct_promotions_name_alias_id", promotions.c.name, promotions.c.alias, promotions.c.id).create(conn)
    filled = _fill_semver(conn)
    log.info("schema v1 -> v2: derived semantic versions for %d existing model version(s)", filled)


def _v2_to_v3(conn: Connection) -> None:
    """The ``ct_alerts`` table (unique on its dedupe key) and its two indexes; no existing row changes."""
    frozen = sa.MetaData()
    alerts = sa.Table(
        "ct_alerts",
        frozen,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dedupe_key", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("severity", sa.String(20), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("source", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivery_status", sa.String(20), nullable=False),
        sa.Column("delivery_detail", sa.Text, nullable=True),
        sa.Column("delivery_attempts", sa.Integer, nullable=False, server_default="0"),
        sa.UniqueConstraint("dedupe_key", name="uq_ct_alerts_dedupe_key"),
    )
    alerts.create(conn)
    sa.Index("ix_ct_alerts_created_at", alerts.c.created_at).create(conn)
    sa.Index("ix_ct_alerts_kind_created_at", alerts.c.kind, alerts.c.created_at).create(conn)
    log.info("schema v2 -> v3: created the ct_alerts table")


def _v3_to_v4(conn: Connection) -> None:
    """The ``ct_work_requests`` table (unique on its dedupe key) and its index; no existing row changes."""
    frozen = sa.MetaData()
    requests = sa.Table(
        "ct_work_requests",
        frozen,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("snapshot_id", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("evidence", sa.JSON, nullable=False),
        sa.Column("dedupe_key", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("claimed_by", sa.String(250), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(250), nullable=True),
        sa.Column("resolved_version", sa.Integer, nullable=True),
        sa.Column("resolution", sa.Text, nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("dedupe_key", name="uq_ct_work_requests_dedupe_key"),
    )
    requests.create(conn)
    sa.Index("ix_ct_work_requests_model_status", requests.c.model, requests.c.status).create(conn)
    log.info("schema v3 -> v4: created the ct_work_requests table")


STEPS: dict[int, Callable[[Connection], None]] = {1: _v1_to_v2, 2: _v2_to_v3, 3: _v3_to_v4}
"""``STEPS[n]`` migrates a database from version n to n + 1."""


@dataclass(frozen=True)
class UpgradeResult:
    """What ``upgrade_schema`` did: the version found, the version now and the steps it ran."""

    found: int | None
    version: int
    applied: tuple[int, ...]  # the from-versions of the steps this call ran
    created: bool


def read_schema_version(conn: Connection) -> int | None:
    """The stored schema version, or None when the database has no ct schema."""
    if not sa.inspect(conn).has_table(t.schema_version.name):
        return None
    return conn.execute(sa.select(t.schema_version.c.version)).scalar()


def _lock_version(conn: Connection) -> int:
    # SQLite: the engine's BEGIN IMMEDIATE already holds the write lock; FOR UPDATE is dropped there.
    return int(conn.execute(sa.select(t.schema_version.c.version).with_for_update()).scalar_one())


def apply_steps(engine: Engine, target: int = t.SCHEMA_VERSION) -> tuple[int, ...]:
    """Run every step from the stored version up to ``target``, one transaction per step."""
    applied: list[int] = []
    while True:
        with engine.begin() as conn:
            current = _lock_version(conn)
            if current >= target:
                return tuple(applied)
            step = STEPS.get(current)
            if step is None:
                raise SchemaVersionError(
                    f"no migration from metadata schema version {current} to {current + 1}; "
                    "this code cannot upgrade that database"
                )
            step(conn)
            conn.execute(sa.update(t.schema_version).values(version=current + 1))
            log.info("migrated metadata schema v%d -> v%d", current, current + 1)
            applied.append(current)
