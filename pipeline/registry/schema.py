"""Tables of the metadata store (SQLAlchemy Core), shared by SQLite and PostgreSQL.

Version 2 added, to version 1: ``semver``, ``feature_schema`` and ``environment`` on model
versions, ``kind`` on ledger rows, the ``ct_model_tags`` table and three indexes. Version 3 added
the ``ct_alerts`` table (one row per alert, unique on its dedupe key) and its two indexes. Version 4
added ``ct_work_requests``: every reason to train (new data checked by ct_monitor, a performance
drop, drift) is a row there before any Airflow event announces it, and stays pending until a
ct_train run records that it trained or covered it. The
steps that migrate older databases live in ``migrations.py``; a fresh database gets these tables
directly, and the migration test checks that both roads end at the same structure.
"""

from __future__ import annotations

import sqlalchemy as sa

SCHEMA_VERSION = 4
"""Bump with every table change and add the step to ``migrations.STEPS``."""

metadata = sa.MetaData()

schema_version = sa.Table(
    "ct_schema_version",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)

snapshots = sa.Table(
    "ct_snapshots",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("dataset", sa.String(200), nullable=False, index=True),
    sa.Column("parent_id", sa.String(64), nullable=True),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("parts", sa.Integer, nullable=False),
    sa.Column("manifest_uri", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False, unique=True),
)

validations = sa.Table(
    "ct_validations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("snapshot_id", sa.String(64), nullable=False, index=True),
    sa.Column("reference_snapshot_id", sa.String(64), nullable=True),
    sa.Column("passed", sa.Boolean, nullable=False),
    sa.Column("summary", sa.JSON, nullable=False),
    sa.Column("report_uri", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

registered_models = sa.Table(
    "ct_registered_models",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("last_version", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

model_versions = sa.Table(
    "ct_model_versions",
    metadata,
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
    # v2. Nullable because ALTER TABLE ... ADD COLUMN cannot fill them on SQLite; the migration
    # fills semver, and rows migrated from v1 keep a null feature schema and environment (unknown).
    sa.Column("semver", sa.String(32), nullable=True),
    sa.Column("feature_schema", sa.JSON, nullable=True),
    sa.Column("environment", sa.JSON, nullable=True),
    sa.UniqueConstraint("name", "version", name="uq_ct_model_version"),
    sa.UniqueConstraint("name", "snapshot_id", "config_hash", "spec_name", name="uq_ct_model_inputs"),
)

aliases = sa.Table(
    "ct_aliases",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("alias", sa.String(100), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_ct_aliases_name_version", "name", "version"),  # v2: aliases of a version
)

promotions = sa.Table(
    "ct_promotions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, index=True),
    sa.Column("alias", sa.String(100), nullable=False),
    sa.Column("from_version", sa.Integer, nullable=True),
    sa.Column("to_version", sa.Integer, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("evidence", sa.JSON, nullable=False),
    sa.Column("actor", sa.String(400), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    # v2: "promotion" for a move forward, "rollback" for an undo of the latest move; "retirement" (no
    # schema change) for a cleared alias, from_version = to_version = the version it left.
    sa.Column("kind", sa.String(20), nullable=False, server_default="promotion"),
    sa.Index("ix_ct_promotions_name_alias_id", "name", "alias", "id"),  # v2: one alias's ledger, in order
)

model_tags = sa.Table(
    "ct_model_tags",
    metadata,  # v2
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_ct_model_tags_key_value", "key", "value"),
)

alerts = sa.Table(
    "ct_alerts",
    metadata,  # v3
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    # What makes two alerts "the same event": a task retry or rerun finds the row and writes nothing.
    sa.Column("dedupe_key", sa.String(255), nullable=False),
    sa.Column("kind", sa.String(50), nullable=False),
    sa.Column("severity", sa.String(20), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("details", sa.JSON, nullable=False),
    sa.Column("source", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    # "not_configured" (no webhook), "pending", "delivered" or "failed" (with the reason in delivery_detail).
    sa.Column("delivery_status", sa.String(20), nullable=False),
    sa.Column("delivery_detail", sa.Text, nullable=True),
    sa.Column("delivery_attempts", sa.Integer, nullable=False, server_default="0"),
    sa.UniqueConstraint("dedupe_key", name="uq_ct_alerts_dedupe_key"),
    sa.Index("ix_ct_alerts_created_at", "created_at"),
    sa.Index("ix_ct_alerts_kind_created_at", "kind", "created_at"),
)

work_requests = sa.Table(
    "ct_work_requests",
    metadata,  # v4
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model", sa.String(200), nullable=False),
    # "new_data", "performance_drop" or "drift": why a training run is wanted.
    sa.Column("kind", sa.String(30), nullable=False),
    sa.Column("snapshot_id", sa.String(64), nullable=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("evidence", sa.JSON, nullable=False),
    # What makes two requests "the same": a rerun of the task that raised it writes nothing new.
    sa.Column("dedupe_key", sa.String(255), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    # "pending" until a run resolves it, then "done" (``resolution`` says how).
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("claimed_by", sa.String(250), nullable=True),
    sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("resolved_by", sa.String(250), nullable=True),
    sa.Column("resolved_version", sa.Integer, nullable=True),
    sa.Column("resolution", sa.Text, nullable=True),
    sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
    sa.UniqueConstraint("dedupe_key", name="uq_ct_work_requests_dedupe_key"),
    sa.Index("ix_ct_work_requests_model_status", "model", "status"),
)
