"""The metadata store on SQLAlchemy Core: SQLite by default, PostgreSQL in production.

Dialect differences stay in this file. Version numbers are allocated by incrementing a per-model
counter row inside the registering transaction, and alias moves lock that same row first, so
concurrent writers queue instead of colliding. On PostgreSQL that is a row lock; on SQLite every
transaction starts with ``BEGIN IMMEDIATE`` (pysqlite would otherwise begin lazily, after our
reads), which takes the database write lock up front.
"""

from __future__ import annotations

import json
import logging
import math
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from pipeline.errors import NotFound, RegistryError, SchemaVersionError
from pipeline.registry import schema as t
from pipeline.registry.base import (
    CHAMPION,
    MetadataStore,
    ModelVersion,
    NewModelVersion,
    PromotionRecord,
    SnapshotRecord,
    ValidationRecord,
)

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:  # SQLite hands back naive datetimes; we only ever store UTC
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat(timespec="seconds")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def json_dumps(value: Any) -> str:
    """JSON for the database: NaN and infinities become null (PostgreSQL's json rejects them)."""
    return json.dumps(_finite(value), default=str)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets its directory, WAL, a lock wait and eager write locks."""
    if not url.startswith("sqlite"):
        return sa.create_engine(url, pool_pre_ping=True, json_serializer=json_dumps)
    db_path = sa.engine.make_url(url).database
    if db_path and db_path != ":memory:":
        Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": 60}, json_serializer=json_dumps)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let the "begin" hook below issue BEGIN itself
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class SqlMetadataStore(MetadataStore):
    """:class:`MetadataStore` for any SQLAlchemy URL (tested on SQLite and PostgreSQL)."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._check_schema(create)

    # -- schema ----------------------------------------------------------------------------
    def _check_schema(self, create: bool) -> None:
        try:
            with self.engine.connect() as conn:
                has_table = sa.inspect(conn).has_table(t.schema_version.name)
                found = conn.execute(sa.select(t.schema_version.c.version)).scalar() if has_table else None
        except OperationalError as err:
            raise RegistryError(f"cannot open the metadata database {self.safe_url}: {err.orig}") from None
        if found is None:
            if not create:
                raise SchemaVersionError(f"{self.safe_url} has no ct schema; run `ct db upgrade` to create it")
            self._create_schema()
        elif found != t.SCHEMA_VERSION:
            newer = "newer" if found > t.SCHEMA_VERSION else "older"
            hint = ("upgrade this code (pip install -U) to match it" if found > t.SCHEMA_VERSION
                    else "run `ct db upgrade` to migrate it")
            raise SchemaVersionError(
                f"{self.safe_url} has metadata schema version {found}, which is {newer} than the version "
                f"{t.SCHEMA_VERSION} this code expects; {hint}"
            )

    def _create_schema(self) -> None:
        for attempt in range(5):
            try:
                t.metadata.create_all(self.engine)
                break
            except DBAPIError:
                # Another process is creating the same tables right now; wait, then re-check.
                if attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))
        with self.engine.begin() as conn:
            try:
                with conn.begin_nested():
                    conn.execute(sa.insert(t.schema_version).values(id=1, version=t.SCHEMA_VERSION))
            except IntegrityError:
                pass  # another process created it first
        log.info("created metadata schema v%d in %s", t.SCHEMA_VERSION, self.safe_url)

    @property
    def safe_url(self) -> str:
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    # -- snapshots -------------------------------------------------------------------------
    @staticmethod
    def _snapshot(row: Row) -> SnapshotRecord:
        return SnapshotRecord(id=row.id, dataset=row.dataset, parent=row.parent_id, rows=int(row.rows),
                              parts=int(row.parts), manifest_uri=row.manifest_uri, created_at=_iso(row.created_at))

    def record_snapshot(self, record: SnapshotRecord) -> SnapshotRecord:
        by_id = sa.select(t.snapshots).where(t.snapshots.c.id == record.id)
        for _attempt in range(10):
            try:
                with self.engine.begin() as conn:
                    existing = conn.execute(by_id).first()
                    if existing is not None:
                        return self._snapshot(existing)
                    seq = conn.execute(sa.select(sa.func.coalesce(sa.func.max(t.snapshots.c.seq), 0))).scalar_one() + 1
                    conn.execute(sa.insert(t.snapshots).values(
                        id=record.id, dataset=record.dataset, parent_id=record.parent, rows=record.rows,
                        parts=record.parts, manifest_uri=record.manifest_uri, created_at=_now(), seq=seq))
                    return self._snapshot(conn.execute(by_id).one())
            except IntegrityError:
                # A concurrent writer took this seq (or recorded the same id); read again and retry.
                continue
        raise RegistryError(f"could not record snapshot {record.id} after 10 attempts; the database is under heavy contention")

    def get_snapshot(self, snapshot_id: str) -> SnapshotRecord:
        with self.engine.connect() as conn:
            prefix = snapshot_id.strip().lower()  # ids are lowercase hex on every dialect
            rows = conn.execute(sa.select(t.snapshots).where(t.snapshots.c.id.startswith(prefix, autoescape=True))
                                .limit(2)).all()
        if not rows:
            raise NotFound(f"no snapshot with id {snapshot_id!r}; list them with `ct snapshots list`")
        if len(rows) > 1:
            raise NotFound(f"snapshot id prefix {snapshot_id!r} is ambiguous; give more characters")
        return self._snapshot(rows[0])

    def list_snapshots(self, dataset: str | None = None) -> list[SnapshotRecord]:
        query = sa.select(t.snapshots).order_by(t.snapshots.c.seq.desc())
        if dataset:
            query = query.where(t.snapshots.c.dataset == dataset)
        with self.engine.connect() as conn:
            return [self._snapshot(r) for r in conn.execute(query)]

    def latest_snapshot(self, dataset: str) -> SnapshotRecord | None:
        found = self.list_snapshots(dataset)
        return found[0] if found else None

    # -- validation ------------------------------------------------------------------------
    @staticmethod
    def _validation(row: Row) -> ValidationRecord:
        return ValidationRecord(id=int(row.id), snapshot_id=row.snapshot_id, reference_snapshot_id=row.reference_snapshot_id,
                                passed=bool(row.passed), summary=row.summary, report_uri=row.report_uri,
                                created_at=_iso(row.created_at))

    def record_validation(self, snapshot_id: str, reference_snapshot_id: str | None, passed: bool,
                          summary: dict[str, Any], report_uri: str | None) -> ValidationRecord:
        with self.engine.begin() as conn:
            new_id = conn.execute(sa.insert(t.validations).values(
                snapshot_id=snapshot_id, reference_snapshot_id=reference_snapshot_id, passed=passed,
                summary=summary, report_uri=report_uri, created_at=_now())).inserted_primary_key[0]
            return self._validation(conn.execute(sa.select(t.validations).where(t.validations.c.id == new_id)).one())

    def get_validation(self, validation_id: int) -> ValidationRecord:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t.validations).where(t.validations.c.id == validation_id)).first()
        if row is None:
            raise NotFound(f"no validation result with id {validation_id}")
        return self._validation(row)

    def latest_validation(self, snapshot_id: str) -> ValidationRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t.validations).where(t.validations.c.snapshot_id == snapshot_id)
                               .order_by(t.validations.c.id.desc()).limit(1)).first()
        return self._validation(row) if row is not None else None

    # -- models ----------------------------------------------------------------------------
    def _aliases_of(self, conn: Connection, name: str, version: int) -> tuple[str, ...]:
        rows = conn.execute(sa.select(t.aliases.c.alias).where(
            (t.aliases.c.name == name) & (t.aliases.c.version == version)).order_by(t.aliases.c.alias))
        return tuple(r.alias for r in rows)

    def _model(self, conn: Connection, row: Row) -> ModelVersion:
        return ModelVersion(
            name=row.name, version=int(row.version), snapshot_id=row.snapshot_id, config_hash=row.config_hash,
            spec_name=row.spec_name, params=row.params, metrics=row.metrics, evaluation=row.evaluation,
            artifact_uri=row.artifact_uri, artifact_sha256=row.artifact_sha256, validation_id=row.validation_id,
            trigger=row.trigger, code_version=row.code_version, lineage=row.lineage, decision=row.decision,
            aliases=self._aliases_of(conn, row.name, int(row.version)), created_at=_iso(row.created_at))

    def _find(self, conn: Connection, name: str, snapshot_id: str, config_hash: str, spec_name: str) -> Row | None:
        mv = t.model_versions.c
        return conn.execute(sa.select(t.model_versions).where(
            (mv.name == name) & (mv.snapshot_id == snapshot_id) & (mv.config_hash == config_hash)
            & (mv.spec_name == spec_name))).first()

    def register_model(self, new: NewModelVersion) -> tuple[ModelVersion, bool]:
        for _attempt in range(5):
            try:
                with self.engine.begin() as conn:
                    existing = self._find(conn, new.name, new.snapshot_id, new.config_hash, new.spec_name)
                    if existing is not None:
                        return self._model(conn, existing), False
                    try:
                        with conn.begin_nested():
                            conn.execute(sa.insert(t.registered_models).values(name=new.name, last_version=0, created_at=_now()))
                    except IntegrityError:
                        pass  # the model name exists already
                    rm = t.registered_models.c
                    conn.execute(sa.update(t.registered_models).where(rm.name == new.name)
                                 .values(last_version=rm.last_version + 1))
                    version = conn.execute(sa.select(rm.last_version).where(rm.name == new.name)).scalar_one()
                    conn.execute(sa.insert(t.model_versions).values(
                        name=new.name, version=version, snapshot_id=new.snapshot_id, config_hash=new.config_hash,
                        spec_name=new.spec_name, params=new.params, metrics=new.metrics, evaluation=new.evaluation,
                        artifact_uri=new.artifact_uri, artifact_sha256=new.artifact_sha256,
                        validation_id=new.validation_id, trigger=new.trigger, code_version=new.code_version,
                        lineage=new.lineage, decision=None, created_at=_now()))
                    row = conn.execute(sa.select(t.model_versions).where(
                        (t.model_versions.c.name == new.name) & (t.model_versions.c.version == version))).one()
                    log.info("registered %s v%d (snapshot %s)", new.name, version, new.snapshot_id)
                    return self._model(conn, row), True
            except IntegrityError:
                # A concurrent registration of the same inputs won; the next attempt returns it.
                continue
        raise RegistryError(f"could not register {new.name} after 5 attempts; the database is under heavy contention")

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        mv = t.model_versions.c
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t.model_versions).where((mv.name == name) & (mv.version == version))).first()
            if row is None:
                raise NotFound(f"model {name!r} has no version {version}; list them with `ct models list`")
            return self._model(conn, row)

    def list_model_versions(self, name: str | None = None) -> list[ModelVersion]:
        mv = t.model_versions.c
        query = sa.select(t.model_versions).order_by(mv.name, mv.version.desc())
        if name:
            query = query.where(mv.name == name)
        with self.engine.connect() as conn:
            return [self._model(conn, r) for r in conn.execute(query).all()]

    def find_model_version(self, name: str, snapshot_id: str, config_hash: str, spec_name: str) -> ModelVersion | None:
        with self.engine.connect() as conn:
            row = self._find(conn, name, snapshot_id, config_hash, spec_name)
            return self._model(conn, row) if row is not None else None

    def record_decision(self, name: str, version: int, decision: dict[str, Any]) -> None:
        mv = t.model_versions.c
        with self.engine.begin() as conn:
            done = conn.execute(sa.update(t.model_versions).where((mv.name == name) & (mv.version == version))
                                .values(decision=decision)).rowcount
        if not done:
            raise NotFound(f"model {name!r} has no version {version}")

    # -- aliases and ledger ----------------------------------------------------------------
    def get_alias(self, name: str, alias: str = CHAMPION) -> ModelVersion | None:
        a = t.aliases.c
        with self.engine.connect() as conn:
            version = conn.execute(sa.select(a.version).where((a.name == name) & (a.alias == alias))).scalar()
        return self.get_model_version(name, int(version)) if version is not None else None

    def set_alias(self, name: str, alias: str, version: int, reason: str, evidence: dict[str, Any],
                  actor: str) -> PromotionRecord | None:
        a, mv = t.aliases.c, t.model_versions.c
        rm = t.registered_models.c
        with self.engine.begin() as conn:
            # Lock the model's counter row: every alias move of this model queues behind it, also the
            # very first one, when there is no alias row yet to lock.
            locked = conn.execute(sa.select(rm.name).where(rm.name == name).with_for_update()).first()
            if locked is None or conn.execute(sa.select(mv.id).where((mv.name == name) & (mv.version == version))).first() is None:
                raise NotFound(f"model {name!r} has no version {version}; nothing was moved")
            current = conn.execute(sa.select(a.version).where((a.name == name) & (a.alias == alias))).scalar()
            if current == version:
                return None
            now = _now()
            if current is None:
                conn.execute(sa.insert(t.aliases).values(name=name, alias=alias, version=version, updated_at=now))
            else:
                conn.execute(sa.update(t.aliases).where((a.name == name) & (a.alias == alias))
                             .values(version=version, updated_at=now))
            new_id = conn.execute(sa.insert(t.promotions).values(
                name=name, alias=alias, from_version=current, to_version=version, reason=reason,
                evidence=evidence, actor=actor, created_at=now)).inserted_primary_key[0]
            row = conn.execute(sa.select(t.promotions).where(t.promotions.c.id == new_id)).one()
        log.info("%s: alias %r moved %s -> v%d (%s)", name, alias, f"v{current}" if current else "nothing", version, reason)
        return self._promotion(row)

    @staticmethod
    def _promotion(row: Row) -> PromotionRecord:
        return PromotionRecord(id=int(row.id), name=row.name, alias=row.alias, from_version=row.from_version,
                               to_version=int(row.to_version), reason=row.reason, evidence=row.evidence,
                               actor=row.actor, created_at=_iso(row.created_at))

    def promotion_history(self, name: str, alias: str | None = None) -> list[PromotionRecord]:
        p = t.promotions.c
        query = sa.select(t.promotions).where(p.name == name).order_by(p.id)
        if alias:
            query = query.where(p.alias == alias)
        with self.engine.connect() as conn:
            return [self._promotion(r) for r in conn.execute(query)]

    def dispose(self) -> None:
        self.engine.dispose()
