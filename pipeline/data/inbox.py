"""Inbox folders: complete files arrive, each is taken once, then leaves for the archive or quarantine.

Three folders work this way: the landing area (ingest), ``scoring/`` (batch scoring) and
``labels/`` (the late-label join). An :class:`Inbox` holds the rules they share: which files are
ready (complete: a ``_SUCCESS`` marker or a stable size; symbolic links are quarantined unread),
whether identical content was archived before (by sha256), how a bad file is quarantined beside a
machine-readable reason, how a consumed file is archived by checksum, and the tidying of spent
``_SUCCESS`` markers. :func:`process_inbox` is the per-file loop of the inboxes whose every file
commits on its own (scoring, labels); ingest commits all its files at once in a snapshot and
drives the same :class:`Inbox` from its own loop. Whatever a file holds, it may only ever
quarantine itself: the other files go on.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pipeline.core.errors import IngestError
from pipeline.core.progress import progress
from pipeline.core.settings import Settings
from pipeline.data.ingestion import (
    LandingFile,
    QuarantinedFile,
    archive_file,
    quarantine_file,
    quarantine_links,
    tidy_landing,
)
from pipeline.data.landed_store import LandedStore, archived_anywhere
from pipeline.data.ready_files import find_ready_files, scan_landing

P = TypeVar("P")
R = TypeVar("R")
D = TypeVar("D")

DUPLICATE_FILE = "duplicate_file"
"""The quarantine code of a file whose identical content was already taken in."""


@dataclass(frozen=True)
class Refusal:
    """A file sent to quarantine: its name, the machine-readable code, the message and where it now lies.

    ``path`` is None when the file was gone before it could be moved (a concurrent run took it).
    """

    file: str
    code: str
    message: str
    path: Path | None = None

    @classmethod
    def of(cls, quarantined: QuarantinedFile) -> Refusal:
        return cls(quarantined.original_name, quarantined.code, quarantined.message, quarantined.path)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "code": self.code,
            "message": self.message,
            "path": str(self.path) if self.path else None,
        }


@dataclass(frozen=True)
class Inbox:
    """One inbox folder, the archive its consumed files move to, and the quarantine for the bad ones.

    ``landed`` is the data root when archive and quarantine settle there (``s3://``, see
    :mod:`pipeline.data.landed_store`); None when they stay under ``CT_HOME``.
    """

    folder: Path
    archive: Path
    quarantine: Path
    stable_seconds: float
    landed: LandedStore | None = None

    def pending(self) -> list[str]:
        """Names of the complete files waiting now (no checksums: cheap enough to poll)."""
        return [p.name for p in scan_landing(self.folder, self.stable_seconds).ready]

    def ready_files(self) -> list[LandingFile]:
        """The complete files, oldest first, with their checksums."""
        return find_ready_files(self.folder, self.stable_seconds)

    def arrivals(self) -> tuple[list[LandingFile], list[Refusal]]:
        """The complete files (oldest first), then the symbolic links, quarantined unread (never followed)."""
        ready = self.ready_files()
        return ready, [Refusal.of(q) for q in self.quarantine_links()]

    def quarantine_links(self) -> list[QuarantinedFile]:
        """Quarantine every symbolic link in the folder (code ``symlink``), its target unread."""
        return quarantine_links(self.folder, self.quarantine)

    def refuse(
        self, source: LandingFile, code: str, message: str, details: dict[str, Any] | None = None
    ) -> QuarantinedFile | None:
        """Move ``source`` to quarantine beside a reason; None when another run moved it first."""
        return quarantine_file(source, self.quarantine, code, message, details)

    def refuse_error(self, source: LandingFile, err: IngestError) -> QuarantinedFile | None:
        """Quarantine ``source`` for the reason ``err`` gives (its code, message and details)."""
        return self.refuse(source, err.code, str(err), err.details)

    def is_archived(self, source: LandingFile) -> bool:
        """Whether identical content was archived before (under any name), here or on the data root."""
        return archived_anywhere(source.sha256, self.archive, self.landed)

    def archive_file(self, source: LandingFile) -> Path:
        """Move a consumed file into the archive, by checksum: ``<archive>/<sha[:2]>/<sha>/<name>``."""
        return archive_file(source, self.archive)

    def tidy(self) -> None:
        """Remove ``_SUCCESS`` markers whose files have all been taken (see :func:`tidy_landing`)."""
        tidy_landing(self.folder)

    def settle(self) -> None:
        """Move archived and quarantined files to the data root when they live there (see ``landed``)."""
        if self.landed is not None:
            self.landed.settle()


def monitoring_inbox(
    settings: Settings, name: Literal["scoring", "labels"], stable_seconds: float, landed: LandedStore | None = None
) -> Inbox:
    """``scoring/`` or ``labels/``; consumed files are archived by checksum under ``archive/<name>/``."""
    folder = settings.scoring if name == "scoring" else settings.labels
    return Inbox(folder, settings.archive / name, settings.quarantine, stable_seconds, landed)


class InboxHandler(ABC, Generic[P, R, D]):
    """What one inbox does with its files, for :func:`process_inbox`.

    ``P`` is a file as read, ``R`` what consuming it gave, ``D`` the record an earlier run committed
    for identical content. ``what`` names the files in progress lines (``quarantined <what> …``).
    """

    what: ClassVar[str]

    @abstractmethod
    def committed(self, source: LandingFile) -> D | None:
        """The record a run already committed for this content (seen before), or None."""

    @abstractmethod
    def duplicate_message(self, source: LandingFile, record: D) -> str:
        """Why a re-dropped copy of committed, archived content is quarantined."""

    @abstractmethod
    def read(self, source: LandingFile) -> P:
        """Read a new file; an :class:`IngestError` quarantines this file alone, the others go on."""

    @abstractmethod
    def consume(self, source: LandingFile, read: P) -> R:
        """Use what was read and commit it; errors here stop the run (the file stays in the inbox)."""

    def taken(self, source: LandingFile, result: R) -> None:
        """Called once a consumed file is archived (e.g. to report progress)."""

    def finished(self, source: LandingFile, record: D) -> None:
        """Called once a file an earlier run committed but did not archive is archived now."""


@dataclass(frozen=True)
class InboxRun(Generic[R, D]):
    """What :func:`process_inbox` did, in file order: consumed, finished for an earlier run, quarantined."""

    taken: list[tuple[LandingFile, R]] = field(default_factory=list)
    finished: list[tuple[LandingFile, D]] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)


def process_inbox(
    inbox: Inbox, files: Iterable[LandingFile], handler: InboxHandler[P, R, D], stage: str = "monitor"
) -> InboxRun[R, D]:
    """Take each file once: consume it and archive it, or quarantine it with a reason; then tidy the folder.

    Content an earlier run committed is not consumed again: if it was archived too, this copy is
    a re-drop and is quarantined (``duplicate_file``); if not, that run stopped before archiving
    and the file is archived now. Each quarantine is reported as a progress line of ``stage``.
    """
    run: InboxRun[R, D] = InboxRun()
    for source in files:
        record = handler.committed(source)
        if record is not None:
            if inbox.is_archived(source):
                msg = handler.duplicate_message(source, record)
                q = inbox.refuse(source, DUPLICATE_FILE, msg)
                run.refused.append(Refusal(source.name, DUPLICATE_FILE, msg, q.path if q else None))
                progress(stage, msg)
            else:
                inbox.archive_file(source)  # the earlier run committed, its archiving was interrupted
                run.finished.append((source, record))
                handler.finished(source, record)
            continue
        try:
            read = handler.read(source)
        except IngestError as err:
            q = inbox.refuse_error(source, err)
            run.refused.append(Refusal(source.name, err.code, str(err), q.path if q else None))
            progress(stage, f"quarantined {handler.what} {source.name}: {err}")
            continue
        result = handler.consume(source, read)
        inbox.archive_file(source)
        run.taken.append((source, result))
        handler.taken(source, result)
    inbox.tidy()
    inbox.settle()
    return run
