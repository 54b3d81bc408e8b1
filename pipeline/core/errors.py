"""The one exception hierarchy of the pipeline.

Every error a user can cause or meet derives from :class:`CTError` and carries a message that
names the file, row or key involved, what was expected, and what to do about it.
"""

from __future__ import annotations


class CTError(Exception):
    """Base class of every error raised on purpose by the pipeline."""


class ConfigError(CTError):
    """The pipeline configuration is missing, unreadable or holds a bad value."""


class IngestError(CTError):
    """A landing file could not be taken in (it is quarantined with this reason)."""

    def __init__(self, message: str, *, code: str = "invalid", details: dict | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.details = details or {}


class ScoringError(CTError):
    """Batch scoring or a late-label join cannot go on (e.g. stored predictions contradict the registry)."""


class SnapshotError(CTError):
    """A snapshot or one of its parts is missing, unknown or damaged."""


class PartDamaged(SnapshotError):
    """A snapshot part's file no longer holds what its content-addressed name promises."""

    def __init__(self, message: str, *, part_id: str, key: str, problem: str, snapshot_id: str | None = None) -> None:
        super().__init__(message)
        self.part_id = part_id
        self.key = key
        self.problem = problem
        self.snapshot_id = snapshot_id


class ValidationFailed(CTError):
    """A validation check with severity ``fail`` did not pass; training must not go on."""


class TrainingError(CTError):
    """The model could not be built or fitted from the declared spec."""


class RegistryError(CTError):
    """The metadata store refused an operation (unknown model, version or alias)."""


class NotFound(RegistryError):
    """A requested snapshot, model version or record does not exist."""


class SnapshotConflict(RegistryError):
    """Another ingest appended to the snapshot chain first; rebase on ``latest`` and try again."""

    def __init__(self, message: str, *, latest: str | None = None) -> None:
        super().__init__(message)
        self.latest = latest


class SchemaVersionError(RegistryError):
    """The metadata database schema is older or newer than this code expects."""


class ArtifactIntegrityError(CTError):
    """A stored artifact is missing or its checksum differs from the registered one."""


class NothingToDo(CTError):
    """There is no work for this run (e.g. no snapshot yet); the task is skipped, not failed."""
