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
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from pipeline.core.errors import NotFound, RegistryError, SchemaVersionError, SnapshotConflict
from pipeline.registry import schema as t
from pipeline.registry.base import (
    CHAMPION,
    AlertRecord,
    MetadataStore,
    ModelVersion,
    NewModelVersion,
    NewWorkRequest,
    PromotionRecord,
    SnapshotRecord,
    ValidationRecord,
    WorkRequest,
)
from pipeline.registry.migrations import UpgradeResult, apply_steps, read_schema_version
from pipeline.registry.versioning import (
    PROMOTION,
    RETIREMENT,
    ROLLBACK,
    RollbackTarget,
    VersionInputs,
    derive_semver,
    rollback_target,
)

if TYPE_CHECKING:
    from pipeline.registry.alert import Alert

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


def _new_id(result: sa.CursorResult[Any]) -> int:
    """The primary key an INSERT of one row allocated (every insert here is a single-row insert)."""
    key = result.inserted_primary_key
    if key is None:
        raise RegistryError("the database returned no primary key for an insert")
    return int(key[0])


def _iso(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:  # SQLite hands back naive datetimes; we only ever store UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="seconds")


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


def safe_url(url: str) -> str:
    """``url`` with any password hidden, for messages and logs."""
    return sa.engine.make_url(url).render_as_string(hide_password=True)


def _read_version(engine: Engine) -> int | None:
    try:
        with engine.connect() as conn:
            return read_schema_version(conn)
    except OperationalError as err:
        raise RegistryError(f"cannot open the metadata database {safe_url(str(engine.url))}: {err.orig}") from None


def _mismatch(url: str, found: int) -> SchemaVersionError:
    newer = "newer" if found > t.SCHEMA_VERSION else "older"
    hint = (
        "upgrade this code (pip install -U) to match it"
        if found > t.SCHEMA_VERSION
        else "run `ct db upgrade` to migrate it"
    )
    return SchemaVersionError(
        f"{safe_url(url)} has metadata schema version {found}, which is {newer} than the version "
        f"{t.SCHEMA_VERSION} this code expects; {hint}"
    )


def _create_schema(engine: Engine) -> None:
    """Create every table at the current version; safe when another process does the same."""
    for attempt in range(5):
        try:
            t.metadata.create_all(engine)
            break
        except DBAPIError:
            # Another process is creating the same tables right now; wait, then re-check.
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))
    with engine.begin() as conn:
        try:
            with conn.begin_nested():
                conn.execute(sa.insert(t.schema_version).values(id=1, version=t.SCHEMA_VERSION))
        except IntegrityError:
            pass  # another process created it first
    log.info("created metadata schema v%d in %s", t.SCHEMA_VERSION, safe_url(str(engine.url)))


def stored_schema_version(url: str) -> int | None:
    """The schema version stored in the database at ``url`` (None: no ct schema); changes nothing."""
    engine = make_engine(url)
    try:
        return _read_version(engine)
    finally:
        engine.dispose()


def upgrade_schema(url: str) -> UpgradeResult:
    """Create the schema, or migrate it step by step to this code's version (``ct db upgrade``).

    Safe to run again and from several processes at once; a newer schema is refused.
    """
    engine = make_engine(url)
    try:
        found = _read_version(engine)
        if found is None:
            _create_schema(engine)
            return UpgradeResult(found=None, version=t.SCHEMA_VERSION, applied=(), created=True)
        if found > t.SCHEMA_VERSION:
            raise _mismatch(url, found)
        return UpgradeResult(found=found, version=t.SCHEMA_VERSION, applied=apply_steps(engine), created=False)
    finally:
        engine.dispose()


class SqlMetadataStore(MetadataStore):
    """:class:`MetadataStore` for any SQLAlchemy URL (tested on SQLite and PostgreSQL)."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._check_schema(create)

    # -- schema ----------------------------------------------------------------------------
    def _check_schema(self, create: bool) -> None:
        found = _read_version(self.engine)
        if found is None:
            if not create:
                raise SchemaVersionError(f"{self.safe_url} has no ct schema; run `ct db upgrade` to create it")
            _create_schema(self.engine)
        elif found != t.SCHEMA_VERSION:
            raise _mismatch(self.url, found)

    @property
    def safe_url(self) -> str:
        return safe_url(self.url)

    # -- snapshots -------------------------------------------------------------------------
    @staticmethod
    def _snapshot(row: Row) -> SnapshotRecord:
        return SnapshotRecord(
            id=row.id,
            dataset=row.dataset,
            parent=row.parent_id,
            rows=int(row.rows),
            parts=int(row.parts),
            manifest_uri=row.manifest_uri,
            created_at=_iso(row.created_at),
        )

    def record_snapshot(self, record: SnapshotRecord) -> SnapshotRecord:
        by_id = sa.select(t.snapshots).where(t.snapshots.c.id == record.id)
        for _attempt in range(10):
            try:
                with self.engine.begin() as conn:
                    self._lock_snapshots(conn)
                    existing = conn.execute(by_id).first()
                    if existing is not None:
                        return self._snapshot(existing)
                    return self._insert_snapshot(conn, record)
            except IntegrityError:
                # A concurrent writer took this seq (or recorded the same id); read again and retry.
                continue
        raise RegistryError(
            f"could not record snapshot {record.id} after 10 attempts; the database is under heavy contention"
        )

    def _lock_snapshots(self, conn: Connection) -> None:
        """Queue appenders behind each other; readers are not blocked.

        SQLite: every transaction here starts with ``BEGIN IMMEDIATE`` (the database write lock).
        PostgreSQL: a table lock that conflicts with itself but not with plain reads.
        """
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(
                f"LOCK TABLE {conn.dialect.identifier_preparer.format_table(t.snapshots)} IN SHARE ROW EXCLUSIVE MODE"
            )

    def _insert_snapshot(self, conn: Connection, record: SnapshotRecord) -> SnapshotRecord:
        """Add ``record`` as the newest snapshot (the next ``seq``); the caller holds the snapshot lock."""
        seq = conn.execute(sa.select(sa.func.coalesce(sa.func.max(t.snapshots.c.seq), 0))).scalar_one() + 1
        conn.execute(
            sa.insert(t.snapshots).values(
                id=record.id,
                dataset=record.dataset,
                parent_id=record.parent,
                rows=record.rows,
                parts=record.parts,
                manifest_uri=record.manifest_uri,
                created_at=_now(),
                seq=seq,
            )
        )
        return self._snapshot(conn.execute(sa.select(t.snapshots).where(t.snapshots.c.id == record.id)).one())

    def append_snapshot(self, record: SnapshotRecord) -> SnapshotRecord:
        s = t.snapshots.c
        with self.engine.begin() as conn:
            self._lock_snapshots(conn)
            latest = conn.execute(
                sa.select(t.snapshots).where(s.dataset == record.dataset).order_by(s.seq.desc()).limit(1)
            ).first()
            if latest is not None and latest.id == record.id:
                return self._snapshot(latest)
            latest_id = latest.id if latest is not None else None
            if latest_id != record.parent:
                raise SnapshotConflict(
                    f"snapshot {record.id} of {record.dataset!r} was built on {record.parent or 'nothing'}, but "
                    f"the latest is now {latest_id} (another ingest appended first); rebase on it and retry",
                    latest=latest_id,
                )
            if conn.execute(sa.select(s.id).where(s.id == record.id)).first() is not None:
                raise SnapshotConflict(
                    f"snapshot {record.id} is already recorded earlier in the chain of "
                    f"{record.dataset!r}; rebase on {latest_id}",
                    latest=latest_id,
                )
            return self._insert_snapshot(conn, record)

    def get_snapshot(self, snapshot_id: str) -> SnapshotRecord:
        with self.engine.connect() as conn:
            prefix = snapshot_id.strip().lower()  # ids are lowercase hex on every dialect
            rows = conn.execute(
                sa.select(t.snapshots).where(t.snapshots.c.id.startswith(prefix, autoescape=True)).limit(2)
            ).all()
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
        return ValidationRecord(
            id=int(row.id),
            snapshot_id=row.snapshot_id,
            reference_snapshot_id=row.reference_snapshot_id,
            passed=bool(row.passed),
            summary=row.summary,
            report_uri=row.report_uri,
            created_at=_iso(row.created_at),
        )

    def record_validation(
        self,
        snapshot_id: str,
        reference_snapshot_id: str | None,
        passed: bool,
        summary: dict[str, Any],
        report_uri: str | None,
    ) -> ValidationRecord:
        with self.engine.begin() as conn:
            new_id = _new_id(
                conn.execute(
                    sa.insert(t.validations).values(
                        snapshot_id=snapshot_id,
                        reference_snapshot_id=reference_snapshot_id,
                        passed=passed,
                        summary=summary,
                        report_uri=report_uri,
                        created_at=_now(),
                    )
                )
            )
            return self._validation(conn.execute(sa.select(t.validations).where(t.validations.c.id == new_id)).one())

    def get_validation(self, validation_id: int) -> ValidationRecord:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t.validations).where(t.validations.c.id == validation_id)).first()
        if row is None:
            raise NotFound(f"no validation result with id {validation_id}")
        return self._validation(row)

    def latest_validation(self, snapshot_id: str) -> ValidationRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(t.validations)
                .where(t.validations.c.snapshot_id == snapshot_id)
                .order_by(t.validations.c.id.desc())
                .limit(1)
            ).first()
        return self._validation(row) if row is not None else None

    def list_validations(
        self, limit: int = 100, snapshot_id: str | None = None, snapshot_ids: Sequence[str] | None = None
    ) -> list[ValidationRecord]:
        query = sa.select(t.validations).order_by(t.validations.c.id.desc()).limit(limit)
        if snapshot_id is not None:
            query = query.where(t.validations.c.snapshot_id == snapshot_id)
        if snapshot_ids is not None:
            query = query.where(t.validations.c.snapshot_id.in_(list(snapshot_ids)))
        with self.engine.connect() as conn:
            return [self._validation(row) for row in conn.execute(query)]

    # -- models ----------------------------------------------------------------------------
    def _models(self, conn: Connection, rows: Sequence[Row[Any]]) -> list[ModelVersion]:
        """Entities for ``rows``, with their aliases and tags read in one query each (not one per row)."""
        if not rows:
            return []
        names = sorted({r.name for r in rows})
        a, tg = t.aliases.c, t.model_tags.c
        aliases: dict[tuple[str, int], list[str]] = {}
        for r in conn.execute(sa.select(a.name, a.version, a.alias).where(a.name.in_(names)).order_by(a.alias)):
            aliases.setdefault((r.name, int(r.version)), []).append(r.alias)
        tags: dict[tuple[str, int], dict[str, str]] = {}
        for tag in conn.execute(
            sa.select(tg.name, tg.version, tg.key, tg.value).where(tg.name.in_(names)).order_by(tg.key)
        ):
            tags.setdefault((tag.name, int(tag.version)), {})[tag.key] = tag.value
        out = []
        for row in rows:
            key = (row.name, int(row.version))
            out.append(
                ModelVersion(
                    name=row.name,
                    version=int(row.version),
                    snapshot_id=row.snapshot_id,
                    config_hash=row.config_hash,
                    spec_name=row.spec_name,
                    params=row.params,
                    metrics=row.metrics,
                    evaluation=row.evaluation,
                    artifact_uri=row.artifact_uri,
                    artifact_sha256=row.artifact_sha256,
                    validation_id=row.validation_id,
                    trigger=row.trigger,
                    code_version=row.code_version,
                    lineage=row.lineage,
                    decision=row.decision,
                    aliases=tuple(aliases.get(key, ())),
                    created_at=_iso(row.created_at),
                    semver=row.semver or "",
                    feature_schema=row.feature_schema,
                    environment=row.environment or {},
                    tags=tags.get(key, {}),
                )
            )
        return out

    def _model(self, conn: Connection, row: Row[Any]) -> ModelVersion:
        return self._models(conn, [row])[0]

    def _find(self, conn: Connection, name: str, snapshot_id: str, config_hash: str, spec_name: str) -> Row | None:
        mv = t.model_versions.c
        return conn.execute(
            sa.select(t.model_versions).where(
                (mv.name == name)
                & (mv.snapshot_id == snapshot_id)
                & (mv.config_hash == config_hash)
                & (mv.spec_name == spec_name)
            )
        ).first()

    @staticmethod
    def _version_row(conn: Connection, name: str, version: int) -> Row | None:
        mv = t.model_versions.c
        return conn.execute(sa.select(t.model_versions).where((mv.name == name) & (mv.version == version))).first()

    def _semver_for(self, conn: Connection, new: NewModelVersion, version: int) -> str:
        """Derive the new version's semver from version - 1 (read under the model's counter lock)."""
        previous = self._version_row(conn, new.name, version - 1) if version > 1 else None
        before = (
            VersionInputs(previous.snapshot_id, previous.spec_name, previous.params, previous.feature_schema)
            if previous is not None
            else None
        )
        after = VersionInputs(new.snapshot_id, new.spec_name, new.params, new.feature_schema)
        return derive_semver(previous.semver if previous is not None else None, before, after).semver

    def register_model(self, new: NewModelVersion) -> tuple[ModelVersion, bool]:
        for _attempt in range(5):
            try:
                with self.engine.begin() as conn:
                    existing = self._find(conn, new.name, new.snapshot_id, new.config_hash, new.spec_name)
                    if existing is not None:
                        return self._model(conn, existing), False
                    try:
                        with conn.begin_nested():
                            conn.execute(
                                sa.insert(t.registered_models).values(name=new.name, last_version=0, created_at=_now())
                            )
                    except IntegrityError:
                        pass  # the model name exists already
                    rm = t.registered_models.c
                    # The UPDATE locks the counter row: concurrent registrations of this model queue here.
                    conn.execute(
                        sa.update(t.registered_models)
                        .where(rm.name == new.name)
                        .values(last_version=rm.last_version + 1)
                    )
                    version = conn.execute(sa.select(rm.last_version).where(rm.name == new.name)).scalar_one()
                    semver = self._semver_for(conn, new, version)
                    conn.execute(
                        sa.insert(t.model_versions).values(
                            name=new.name,
                            version=version,
                            snapshot_id=new.snapshot_id,
                            config_hash=new.config_hash,
                            spec_name=new.spec_name,
                            params=new.params,
                            metrics=new.metrics,
                            evaluation=new.evaluation,
                            artifact_uri=new.artifact_uri,
                            artifact_sha256=new.artifact_sha256,
                            validation_id=new.validation_id,
                            trigger=new.trigger,
                            code_version=new.code_version,
                            lineage=new.lineage,
                            decision=None,
                            created_at=_now(),
                            semver=semver,
                            feature_schema=[list(c) for c in new.feature_schema]
                            if new.feature_schema is not None
                            else None,
                            environment=new.environment,
                        )
                    )
                    row = self._version_row(conn, new.name, version)
                    if row is None:  # inserted just above, in this transaction
                        raise RegistryError(f"{new.name} v{version} vanished inside its own registration")
                    log.info("registered %s v%d (%s, snapshot %s)", new.name, version, semver, new.snapshot_id)
                    return self._model(conn, row), True
            except IntegrityError:
                # A concurrent registration of the same inputs won; the next attempt returns it.
                continue
        raise RegistryError(f"could not register {new.name} after 5 attempts; the database is under heavy contention")

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        with self.engine.connect() as conn:
            row = self._version_row(conn, name, version)
            if row is None:
                raise NotFound(f"model {name!r} has no version {version}; list them with `ct models list`")
            return self._model(conn, row)

    def list_model_versions(
        self, name: str | None = None, *, alias: str | None = None, tags: dict[str, str] | None = None
    ) -> list[ModelVersion]:
        mv, a, tg = t.model_versions.c, t.aliases.c, t.model_tags.c
        query = sa.select(t.model_versions).order_by(mv.name, mv.version.desc())
        if name:
            query = query.where(mv.name == name)
        if alias:
            query = query.where(sa.exists().where((a.name == mv.name) & (a.version == mv.version) & (a.alias == alias)))
        for key, value in (tags or {}).items():
            query = query.where(
                sa.exists().where(
                    (tg.name == mv.name) & (tg.version == mv.version) & (tg.key == key) & (tg.value == value)
                )
            )
        with self.engine.connect() as conn:
            return self._models(conn, conn.execute(query).all())

    def find_model_version(self, name: str, snapshot_id: str, config_hash: str, spec_name: str) -> ModelVersion | None:
        with self.engine.connect() as conn:
            row = self._find(conn, name, snapshot_id, config_hash, spec_name)
            return self._model(conn, row) if row is not None else None

    def record_decision(self, name: str, version: int, decision: dict[str, Any]) -> None:
        mv = t.model_versions.c
        with self.engine.begin() as conn:
            done = conn.execute(
                sa.update(t.model_versions).where((mv.name == name) & (mv.version == version)).values(decision=decision)
            ).rowcount
        if not done:
            raise NotFound(f"model {name!r} has no version {version}")

    # -- aliases and ledger ----------------------------------------------------------------
    def get_alias(self, name: str, alias: str = CHAMPION) -> ModelVersion | None:
        a = t.aliases.c
        with self.engine.connect() as conn:
            version = conn.execute(sa.select(a.version).where((a.name == name) & (a.alias == alias))).scalar()
        return self.get_model_version(name, int(version)) if version is not None else None

    @staticmethod
    def _lock_model(conn: Connection, name: str) -> bool:
        """Lock the model's counter row; every alias move of this model queues behind it.

        Also the very first move, when there is no alias row yet to lock. False for an unknown model.
        """
        rm = t.registered_models.c
        return conn.execute(sa.select(rm.name).where(rm.name == name).with_for_update()).first() is not None

    @staticmethod
    def _current(conn: Connection, name: str, alias: str) -> int | None:
        a = t.aliases.c
        return conn.execute(sa.select(a.version).where((a.name == name) & (a.alias == alias))).scalar()

    def _move_alias(
        self,
        conn: Connection,
        name: str,
        alias: str,
        current: int | None,
        version: int,
        reason: str,
        evidence: dict[str, Any],
        actor: str,
        kind: str,
    ) -> PromotionRecord:
        """Point ``alias`` at ``version`` and append the ledger row; the caller holds the model lock."""
        a = t.aliases.c
        now = _now()
        if current is None:
            conn.execute(sa.insert(t.aliases).values(name=name, alias=alias, version=version, updated_at=now))
        else:
            conn.execute(
                sa.update(t.aliases)
                .where((a.name == name) & (a.alias == alias))
                .values(version=version, updated_at=now)
            )
        row = self._ledger_row(conn, name, alias, current, version, reason, evidence, actor, kind, now)
        log.info(
            "%s: alias %r moved %s -> v%d by %s (%s: %s)",
            name,
            alias,
            f"v{current}" if current else "nothing",
            version,
            actor,
            kind,
            reason,
        )
        return self._promotion(row)

    def set_alias(
        self, name: str, alias: str, version: int, reason: str, evidence: dict[str, Any], actor: str
    ) -> PromotionRecord | None:
        with self.engine.begin() as conn:
            if not self._lock_model(conn, name) or self._version_row(conn, name, version) is None:
                raise NotFound(f"model {name!r} has no version {version}; nothing was moved")
            current = self._current(conn, name, alias)
            if current == version:
                return None
            return self._move_alias(conn, name, alias, current, version, reason, evidence, actor, PROMOTION)

    def clear_alias(
        self,
        name: str,
        alias: str,
        reason: str,
        evidence: dict[str, Any],
        actor: str,
        *,
        expect_version: int | None = None,
    ) -> PromotionRecord | None:
        a = t.aliases.c
        with self.engine.begin() as conn:
            if not self._lock_model(conn, name):
                raise NotFound(f"there is no model named {name!r}; list them with `ct models list`")
            current = self._current(conn, name, alias)
            if current is None or (expect_version is not None and current != expect_version):
                return None
            conn.execute(sa.delete(t.aliases).where((a.name == name) & (a.alias == alias)))
            row = self._ledger_row(conn, name, alias, current, current, reason, evidence, actor, RETIREMENT, _now())
        log.info("%s: alias %r cleared (v%d retired) by %s: %s", name, alias, current, actor, reason)
        return self._promotion(row)

    @staticmethod
    def _ledger_row(
        conn: Connection,
        name: str,
        alias: str,
        from_version: int | None,
        to_version: int,
        reason: str,
        evidence: dict[str, Any],
        actor: str,
        kind: str,
        at: datetime,
    ) -> Row[Any]:
        """Append one row to the promotion ledger and return it as stored."""
        new_id = _new_id(
            conn.execute(
                sa.insert(t.promotions).values(
                    name=name,
                    alias=alias,
                    from_version=from_version,
                    to_version=to_version,
                    reason=reason,
                    evidence=evidence,
                    actor=actor,
                    created_at=at,
                    kind=kind,
                )
            )
        )
        return conn.execute(sa.select(t.promotions).where(t.promotions.c.id == new_id)).one()

    def _ledger(self, conn: Connection, name: str, alias: str | None = None) -> list[PromotionRecord]:
        p = t.promotions.c
        query = sa.select(t.promotions).where(p.name == name).order_by(p.id)
        if alias:
            query = query.where(p.alias == alias)
        return [self._promotion(r) for r in conn.execute(query)]

    def _rollback_target(self, conn: Connection, name: str, alias: str) -> RollbackTarget:
        target = rollback_target(self._ledger(conn, name, alias), name, alias)
        current = self._current(conn, name, alias)
        if current != target.undone.to_version:
            raise RegistryError(
                f"{alias!r} of {name!r} points to v{current}, but its ledger ends at v{target.undone.to_version} "
                f"(row {target.undone.id}); the alias was changed outside the registry. Set it explicitly with "
                f"`ct models promote {name} VERSION --reason ...`"
            )
        return target

    def rollback_target(self, name: str, alias: str) -> tuple[PromotionRecord, int]:
        with self.engine.connect() as conn:
            target = self._rollback_target(conn, name, alias)
        return target.undone, target.version

    def rollback_alias(
        self,
        name: str,
        alias: str,
        reason: str,
        actor: str,
        *,
        expect_version: int | None = None,
        evidence: dict[str, Any] | None = None,
    ) -> PromotionRecord:
        with self.engine.begin() as conn:
            if not self._lock_model(conn, name):
                raise NotFound(f"there is no model named {name!r}; list them with `ct models list`")
            target = self._rollback_target(conn, name, alias)
            if expect_version is not None and target.version != expect_version:
                raise RegistryError(
                    f"the ledger of {name!r} changed meanwhile: a rollback of {alias!r} now goes to "
                    f"v{target.version}, not v{expect_version}; nothing was moved, run it again"
                )
            undone = target.undone
            full_evidence = {
                "undoes_ledger_id": undone.id,
                "undone_move": [undone.from_version, undone.to_version],
                "undone_reason": undone.reason,
                **(evidence or {}),
            }
            return self._move_alias(
                conn, name, alias, undone.to_version, target.version, reason, full_evidence, actor, ROLLBACK
            )

    @staticmethod
    def _promotion(row: Row) -> PromotionRecord:
        return PromotionRecord(
            id=int(row.id),
            name=row.name,
            alias=row.alias,
            from_version=row.from_version,
            to_version=int(row.to_version),
            reason=row.reason,
            evidence=row.evidence,
            actor=row.actor,
            created_at=_iso(row.created_at),
            kind=row.kind,
        )

    def promotion_history(self, name: str, alias: str | None = None) -> list[PromotionRecord]:
        with self.engine.connect() as conn:
            return self._ledger(conn, name, alias)

    # -- tags ------------------------------------------------------------------------------
    def set_tag(self, name: str, version: int, key: str, value: str) -> None:
        key = key.strip()
        if not key or len(key) > 200:
            raise RegistryError(f"a tag key must be 1 to 200 characters, got {key!r}")
        tg = t.model_tags.c
        where = (tg.name == name) & (tg.version == version) & (tg.key == key)
        with self.engine.begin() as conn:
            if self._version_row(conn, name, version) is None:
                raise NotFound(f"model {name!r} has no version {version}; list them with `ct models list`")
            if conn.execute(sa.update(t.model_tags).where(where).values(value=value, updated_at=_now())).rowcount:
                return
            try:
                with conn.begin_nested():
                    conn.execute(
                        sa.insert(t.model_tags).values(
                            name=name, version=version, key=key, value=value, updated_at=_now()
                        )
                    )
            except IntegrityError:  # a concurrent writer inserted it first: last write wins
                conn.execute(sa.update(t.model_tags).where(where).values(value=value, updated_at=_now()))

    def delete_tag(self, name: str, version: int, key: str) -> bool:
        tg = t.model_tags.c
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    sa.delete(t.model_tags).where((tg.name == name) & (tg.version == version) & (tg.key == key))
                ).rowcount
            )

    # -- alerts ----------------------------------------------------------------------------
    @staticmethod
    def _alert(row: Row) -> AlertRecord:
        return AlertRecord(
            id=int(row.id),
            kind=row.kind,
            severity=row.severity,
            title=row.title,
            message=row.message,
            details=row.details or {},
            source=row.source or {},
            created_at=_iso(row.created_at),
            dedupe_key=row.dedupe_key,
            delivery_status=row.delivery_status,
            delivery_detail=row.delivery_detail,
            delivery_attempts=int(row.delivery_attempts or 0),
        )

    def record_alert(self, alert: Alert, delivery_status: str = "not_configured") -> tuple[AlertRecord, bool]:
        by_key = sa.select(t.alerts).where(t.alerts.c.dedupe_key == alert.dedupe_key)
        try:
            created_at = datetime.fromisoformat(alert.created_at)
        except ValueError:
            created_at = _now()
        if created_at.tzinfo is None:
            created_at = created_at.replace(tzinfo=UTC)
        with self.engine.begin() as conn:
            existing = conn.execute(by_key).first()
            if existing is not None:
                return self._alert(existing), False
            try:
                with conn.begin_nested():
                    conn.execute(
                        sa.insert(t.alerts).values(
                            dedupe_key=alert.dedupe_key,
                            kind=alert.kind,
                            severity=alert.severity,
                            title=alert.title,
                            message=alert.message,
                            details=alert.details,
                            source=alert.source,
                            created_at=created_at.astimezone(UTC),
                            delivery_status=delivery_status,
                            delivery_detail=None,
                            delivery_attempts=0,
                        )
                    )
            except IntegrityError:
                # Another process recorded the same event a moment ago (PostgreSQL waited for its commit).
                return self._alert(conn.execute(by_key).one()), False
            return self._alert(conn.execute(by_key).one()), True

    def record_alert_delivery(self, alert_id: int, status: str, detail: str | None) -> AlertRecord:
        al = t.alerts.c
        with self.engine.begin() as conn:
            done = conn.execute(
                sa.update(t.alerts)
                .where(al.id == alert_id)
                .values(delivery_status=status, delivery_detail=detail, delivery_attempts=al.delivery_attempts + 1)
            ).rowcount
            if not done:
                raise NotFound(f"no alert with id {alert_id}; list them with `ct alerts`")
            return self._alert(conn.execute(sa.select(t.alerts).where(al.id == alert_id)).one())

    def list_alerts(
        self, kind: str | None = None, since: datetime | None = None, limit: int | None = None
    ) -> list[AlertRecord]:
        al = t.alerts.c
        query = sa.select(t.alerts).order_by(al.created_at.desc(), al.id.desc())
        if kind:
            query = query.where(al.kind == kind)
        if since is not None:
            if since.tzinfo is None:
                since = since.replace(tzinfo=UTC)
            query = query.where(al.created_at >= since.astimezone(UTC))
        if limit is not None:
            query = query.limit(max(int(limit), 0))
        with self.engine.connect() as conn:
            return [self._alert(r) for r in conn.execute(query)]

    # -- work requests ---------------------------------------------------------------------
    @staticmethod
    def _work_request(row: Row) -> WorkRequest:
        return WorkRequest(
            id=int(row.id),
            model=row.model,
            kind=row.kind,
            snapshot_id=row.snapshot_id,
            reason=row.reason,
            evidence=row.evidence or {},
            dedupe_key=row.dedupe_key,
            created_at=_iso(row.created_at),
            status=row.status,
            claimed_by=row.claimed_by,
            claimed_at=_iso(row.claimed_at),
            resolved_by=row.resolved_by,
            resolved_version=row.resolved_version,
            resolution=row.resolution,
            resolved_at=_iso(row.resolved_at),
        )

    def record_work_request(self, new: NewWorkRequest) -> tuple[WorkRequest, bool]:
        by_key = sa.select(t.work_requests).where(t.work_requests.c.dedupe_key == new.dedupe_key)
        with self.engine.begin() as conn:
            existing = conn.execute(by_key).first()
            if existing is not None:
                return self._work_request(existing), False
            try:
                with conn.begin_nested():
                    conn.execute(
                        sa.insert(t.work_requests).values(
                            model=new.model,
                            kind=new.kind,
                            snapshot_id=new.snapshot_id,
                            reason=new.reason,
                            evidence=new.evidence,
                            dedupe_key=new.dedupe_key,
                            created_at=_now(),
                            status="pending",
                        )
                    )
            except IntegrityError:  # another process raised the same request a moment ago
                return self._work_request(conn.execute(by_key).one()), False
            return self._work_request(conn.execute(by_key).one()), True

    def list_work_requests(
        self, model: str | None = None, *, pending: bool | None = None, limit: int | None = None
    ) -> list[WorkRequest]:
        wr = t.work_requests.c
        query = sa.select(t.work_requests).order_by(wr.id.desc())
        if model:
            query = query.where(wr.model == model)
        if pending is not None:
            query = query.where(wr.status == "pending") if pending else query.where(wr.status != "pending")
        if limit is not None:
            query = query.limit(max(int(limit), 0))
        with self.engine.connect() as conn:
            return [self._work_request(r) for r in conn.execute(query)]

    def claim_work_requests(self, ids: list[int], run_id: str) -> list[WorkRequest]:
        if not ids:
            return []
        wr = t.work_requests.c
        open_ones = (wr.id.in_(ids)) & (wr.status == "pending")
        with self.engine.begin() as conn:
            conn.execute(sa.update(t.work_requests).where(open_ones).values(claimed_by=run_id, claimed_at=_now()))
            rows = conn.execute(sa.select(t.work_requests).where(open_ones).order_by(wr.id)).all()
        return [self._work_request(r) for r in rows]

    def resolve_work_requests(self, ids: list[int], run_id: str, version: int | None, resolution: str) -> int:
        if not ids:
            return 0
        wr = t.work_requests.c
        with self.engine.begin() as conn:
            return int(
                conn.execute(
                    sa.update(t.work_requests)
                    .where(wr.id.in_(ids) & (wr.status == "pending"))
                    .values(
                        status="done",
                        resolved_by=run_id,
                        resolved_version=version,
                        resolution=resolution,
                        resolved_at=_now(),
                    )
                ).rowcount
            )

    def dispose(self) -> None:
        self.engine.dispose()
