"""The metadata store interface and the entities it returns.

Entities are plain frozen dataclasses, separate from table rows, so callers never see the
database. Every operation documented here is implemented once, in ``sql.py``, for SQLite and
PostgreSQL alike.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.registry.alert import Alert

CHAMPION = "champion"
CHALLENGER = "challenger"
"""The alias of a version served beside the champion (canary or shadow) until live evidence decides."""


@dataclass(frozen=True)
class SnapshotRecord:
    id: str
    dataset: str
    parent: str | None
    rows: int
    parts: int
    manifest_uri: str
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ValidationRecord:
    id: int
    snapshot_id: str
    reference_snapshot_id: str | None
    passed: bool
    summary: dict[str, Any]
    report_uri: str | None
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class NewModelVersion:
    """What a caller supplies to register a model; the store assigns the version number."""

    name: str
    snapshot_id: str
    config_hash: str
    spec_name: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    evaluation: dict[str, Any]
    artifact_uri: str
    artifact_sha256: str
    validation_id: int | None
    trigger: dict[str, Any]
    code_version: str
    lineage: dict[str, Any] = field(default_factory=dict)
    feature_schema: list[list[str]] | None = None
    """The snapshot's column schema ([name, type] pairs): a change makes a new major semver."""
    environment: dict[str, Any] = field(default_factory=dict)
    """Python and package versions of the training process (``pipeline.core.environment``)."""


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: int
    snapshot_id: str
    config_hash: str
    spec_name: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    evaluation: dict[str, Any]
    artifact_uri: str
    artifact_sha256: str
    validation_id: int | None
    trigger: dict[str, Any]
    code_version: str
    lineage: dict[str, Any]
    decision: dict[str, Any] | None
    aliases: tuple[str, ...]
    created_at: str
    semver: str = ""
    """Derived at registration: major = feature schema, minor = data or hyperparameters, patch = retrain."""
    feature_schema: list[list[str]] | None = None
    environment: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["aliases"] = list(self.aliases)
        return d


@dataclass(frozen=True)
class PromotionRecord:
    id: int
    name: str
    alias: str
    from_version: int | None
    to_version: int
    reason: str
    evidence: dict[str, Any]
    actor: str
    created_at: str
    kind: str = "promotion"
    """``promotion`` (a move forward, by policy or by hand), ``rollback`` (undoes the latest move) or
    ``retirement`` (the alias was cleared: it points nowhere now; ``from_version`` and ``to_version``
    both name the version it left, as ``to_version`` is never empty)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AlertRecord:
    """A stored alert (``pipeline.registry.alert.Alert``) with its id and webhook delivery state."""

    id: int
    kind: str
    severity: str
    title: str
    message: str
    details: dict[str, Any]
    source: dict[str, Any]
    created_at: str
    dedupe_key: str
    delivery_status: str
    """``not_configured`` (no webhook), ``pending``, ``delivered`` or ``failed``."""
    delivery_detail: str | None = None
    """The webhook's answer (``HTTP 200``) or why it failed (``HTTP 500 …``, ``no answer within 5s``)."""
    delivery_attempts: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class NewWorkRequest:
    """A reason to train, as raised (by ct_monitor's hand-over): the store assigns its id."""

    model: str
    kind: str
    """``new_data``, ``performance_drop`` or ``drift``."""
    snapshot_id: str | None
    reason: str
    dedupe_key: str
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkRequest:
    """A stored reason to train and, once a ct_train run dealt with it, how it was resolved."""

    id: int
    model: str
    kind: str
    snapshot_id: str | None
    reason: str
    evidence: dict[str, Any]
    dedupe_key: str
    created_at: str
    status: str
    """``pending`` until a run resolves it, then ``done``."""
    claimed_by: str | None = None
    """The run that last claimed it (a pending request claimed by a run that then failed is claimed again)."""
    claimed_at: str = ""
    resolved_by: str | None = None
    resolved_version: int | None = None
    resolution: str | None = None
    """``trained`` (its snapshot was trained by that run) or ``covered`` (a newer snapshot was), with why."""
    resolved_at: str = ""

    @property
    def pending(self) -> bool:
        return self.status == "pending"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class MetadataStore(ABC):
    """Snapshots index, validation results, model versions, aliases and the promotion ledger."""

    # -- snapshots -------------------------------------------------------------------------
    @abstractmethod
    def record_snapshot(self, record: SnapshotRecord) -> SnapshotRecord:
        """Index a snapshot manifest; recording the same id again returns the existing row."""

    @abstractmethod
    def append_snapshot(self, record: SnapshotRecord) -> SnapshotRecord:
        """Make ``record`` the dataset's latest snapshot only if the latest is still ``record.parent``.

        Compare-and-set in one transaction, so two ingests never fork the chain: a loser gets
        :class:`~pipeline.core.errors.SnapshotConflict` (naming the new latest) and must rebase.
        Appending a record that already is the latest returns it (a rerun).
        """

    @abstractmethod
    def get_snapshot(self, snapshot_id: str) -> SnapshotRecord:
        """One snapshot by id (a unique prefix is accepted); unknown ids raise ``NotFound``."""

    @abstractmethod
    def list_snapshots(self, dataset: str | None = None) -> list[SnapshotRecord]:
        """All snapshots, newest first."""

    @abstractmethod
    def latest_snapshot(self, dataset: str) -> SnapshotRecord | None:
        """The newest snapshot of ``dataset``, or None before the first ingest."""

    # -- validation ------------------------------------------------------------------------
    @abstractmethod
    def record_validation(
        self,
        snapshot_id: str,
        reference_snapshot_id: str | None,
        passed: bool,
        summary: dict[str, Any],
        report_uri: str | None,
    ) -> ValidationRecord:
        """Store one validation result for a snapshot."""

    @abstractmethod
    def get_validation(self, validation_id: int) -> ValidationRecord:
        """One validation result; unknown ids raise ``NotFound``."""

    @abstractmethod
    def latest_validation(self, snapshot_id: str) -> ValidationRecord | None:
        """The most recent validation of a snapshot."""

    @abstractmethod
    def list_validations(
        self, limit: int = 100, snapshot_id: str | None = None, snapshot_ids: Sequence[str] | None = None
    ) -> list[ValidationRecord]:
        """Validation results, newest first: at most ``limit``, of one snapshot (or of some) when given."""

    # -- models ----------------------------------------------------------------------------
    @abstractmethod
    def register_model(self, new: NewModelVersion) -> tuple[ModelVersion, bool]:
        """Register a version (number allocated in a transaction); returns (version, created).

        Registering the same (name, snapshot, config hash, spec) again returns the existing
        version with ``created`` False, so a rerun never duplicates a model version.
        """

    @abstractmethod
    def get_model_version(self, name: str, version: int) -> ModelVersion:
        """One version; unknown name or version raise ``NotFound``."""

    @abstractmethod
    def list_model_versions(
        self, name: str | None = None, *, alias: str | None = None, tags: dict[str, str] | None = None
    ) -> list[ModelVersion]:
        """Versions ordered by model name, newest version first (all models when ``name`` is None).

        ``alias`` keeps only the version(s) that alias points to; ``tags`` keeps versions carrying
        every given key with that value.
        """

    @abstractmethod
    def find_model_version(self, name: str, snapshot_id: str, config_hash: str, spec_name: str) -> ModelVersion | None:
        """The version trained from exactly these inputs, if any."""

    @abstractmethod
    def record_decision(self, name: str, version: int, decision: dict[str, Any]) -> None:
        """Attach the promotion decision and its evidence to a version."""

    # -- aliases and ledger ----------------------------------------------------------------
    @abstractmethod
    def get_alias(self, name: str, alias: str = CHAMPION) -> ModelVersion | None:
        """The version an alias points to, or None."""

    @abstractmethod
    def set_alias(
        self, name: str, alias: str, version: int, reason: str, evidence: dict[str, Any], actor: str
    ) -> PromotionRecord | None:
        """Move an alias and write its ledger row (kind ``promotion``) in one transaction.

        Returns None (and writes nothing) when the alias already points to ``version``.
        """

    @abstractmethod
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
        """Remove ``alias`` and write its ledger row (kind ``retirement``) in one transaction.

        Returns None (and writes nothing) when the alias points nowhere already, so a rerun clears
        nothing twice. With ``expect_version`` the alias is cleared only while it still points to
        that version (None, writing nothing, otherwise): a caller that judged one version never
        clears a newer one set meanwhile. Unknown models raise ``NotFound``.
        """

    @abstractmethod
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
        """Move ``alias`` back to where it was before its latest move, in one transaction.

        Writes a ledger row of kind ``rollback``; see ``versioning.rollback_target`` for what
        "before its latest move" means after earlier rollbacks. With ``expect_version`` the move
        is refused unless that is the target (a guard for callers that checked the target first).
        ``evidence`` is added to the row's evidence (which always names the ledger row undone).
        Raises :class:`RegistryError` when there is nothing to roll back to.
        """

    @abstractmethod
    def rollback_target(self, name: str, alias: str) -> tuple[PromotionRecord, int]:
        """(the ledger row a rollback would undo, the version it would move to), without moving."""

    @abstractmethod
    def promotion_history(self, name: str, alias: str | None = None) -> list[PromotionRecord]:
        """Ledger rows, oldest first."""

    # -- tags ------------------------------------------------------------------------------
    @abstractmethod
    def set_tag(self, name: str, version: int, key: str, value: str) -> None:
        """Set (or replace) one ``key=value`` tag on a version; unknown versions raise ``NotFound``."""

    @abstractmethod
    def delete_tag(self, name: str, version: int, key: str) -> bool:
        """Remove a tag; True when it existed."""

    # -- alerts ----------------------------------------------------------------------------
    @abstractmethod
    def record_alert(self, alert: Alert, delivery_status: str = "not_configured") -> tuple[AlertRecord, bool]:
        """Store an alert once; returns (row, created).

        An alert whose ``dedupe_key`` is stored already returns that row untouched with ``created``
        False, so a task retry or rerun never writes the same alert twice (also when two
        processes record it at the same moment).
        """

    @abstractmethod
    def record_alert_delivery(self, alert_id: int, status: str, detail: str | None) -> AlertRecord:
        """Set an alert's webhook delivery status and detail, counting the attempt; unknown ids raise ``NotFound``."""

    # -- work requests ---------------------------------------------------------------------
    @abstractmethod
    def record_work_request(self, new: NewWorkRequest) -> tuple[WorkRequest, bool]:
        """Store a reason to train once; returns (row, created).

        A request whose ``dedupe_key`` is stored already returns that row untouched with ``created``
        False, so a rerun of the task that raised it never asks twice.
        """

    @abstractmethod
    def list_work_requests(
        self, model: str | None = None, *, pending: bool | None = None, limit: int | None = None
    ) -> list[WorkRequest]:
        """Requests newest first; ``pending`` True keeps the unresolved ones, False the resolved ones."""

    @abstractmethod
    def claim_work_requests(self, ids: list[int], run_id: str) -> list[WorkRequest]:
        """Mark these pending requests as claimed by ``run_id`` (overriding an earlier run's claim).

        Returns the requests that were still pending; resolved ones are left alone and not returned.
        """

    @abstractmethod
    def resolve_work_requests(self, ids: list[int], run_id: str, version: int | None, resolution: str) -> int:
        """Resolve the still-pending ones of these requests (status ``done``); returns how many it resolved.

        Resolving is first-writer-wins: a request resolved already keeps its resolution.
        """

    @abstractmethod
    def list_alerts(
        self, kind: str | None = None, since: datetime | None = None, limit: int | None = None
    ) -> list[AlertRecord]:
        """Alerts newest first: only ``kind``, only those created at or after ``since``, at most ``limit``."""
