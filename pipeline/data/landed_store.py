"""Landed files settle on the data root: ``archive/`` and ``quarantine/`` on the object store.

Files arrive on a disk and leave the landing area (and ``scoring/``, ``labels/``) by atomic
renames into the local ``archive/`` and ``quarantine/`` folders under ``CT_HOME``; spools of
rejected rows are locked files there too. When the data root is an object store off this machine
(``CT_DATA_URL=s3://…``), those two folders are only a staging area: :meth:`LandedStore.settle`
copies each finished entry to the same key under the data root (``archive/<sha[:2]>/<sha>/<name>``,
``quarantine/<stamp>_<sha8>/<name>`` beside its ``.reason.json``, ``quarantine/rejected_<sha16>/…``),
never overwriting, and removes the local copy only once the object is there. A kill at any point
leaves an entry in one place or in both, never in neither, and the next settle finishes the move.
Readers (the archive check that tells a re-dropped file, lineage, the set-aside row counts, the
reasons of refused files) look in both places, so every worker host sees what any other took in.
Spools still being written (``quarantine/.pending``) and temporary files of atomic writes stay
local: they belong to a live run.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO

import pandas as pd

from pipeline.core.hashing import sha256_file, sha256_stream
from pipeline.core.settings import Settings
from pipeline.core.storage import ObjectStore
from pipeline.data.ingestion import PENDING_DIR, ROW_REASON_COLUMN, archive_path, glob_escape, is_archived, rows_folder
from pipeline.data.snapshots import SourceFile

log = logging.getLogger(__name__)

SETTLED_FOLDERS = ("archive", "quarantine")
"""The folders under ``CT_HOME`` whose finished entries settle on the data root, under the same name."""

FRESH_DIR_SECONDS = 60.0
"""An emptied folder younger than this is kept: a concurrent run may have just made it for a file."""


@dataclass(frozen=True)
class LandedStore:
    """The data root as the home of archived and quarantined landed files (see the module docstring)."""

    home: Path
    store: ObjectStore

    def key(self, path: Path) -> str:
        """The object key of a local path under ``CT_HOME`` (``archive/ab/abcd…/x.csv``)."""
        return path.relative_to(self.home).as_posix()

    def uri(self, path: Path) -> str:
        return self.store.uri(self.key(path))

    # -- reading ---------------------------------------------------------------------------------------
    def is_archived(self, sha256: str, archive: Path) -> bool:
        """Whether content with this checksum settled in ``archive`` on the data root (under any name)."""
        return bool(self.store.list(self.key(archive / sha256[:2] / sha256)))  # the folder of archive_path

    def archived_uri(self, archived: Path) -> str | None:
        """The URL of an archived file on the data root, or None when it is not there."""
        key = self.key(archived)
        return self.store.uri(key) if self.store.exists(key) else None

    def files(self, folder: Path, suffix: str) -> list[str]:
        """Keys below ``folder`` on the data root ending in ``suffix``."""
        return [k for k in self.store.list(self.key(folder)) if k.endswith(suffix)]

    # -- settling --------------------------------------------------------------------------------------
    def settle(self) -> int:
        """Move every finished local entry of ``archive/`` and ``quarantine/`` to the data root; how many moved.

        Safe to run from several processes at once: each upload is create-only, and a local file
        another run already moved is skipped.
        """
        moved = 0
        for name in SETTLED_FOLDERS:
            folder = self.home / name
            for path in _finished_entries(folder):
                try:
                    self._settle_one(path, quarantined=name == "quarantine")
                    moved += 1
                except FileNotFoundError:
                    continue  # another run settled it meanwhile
            _remove_empty_dirs(folder)
        if moved:
            log.info("settled %d landed file(s) on %s", moved, self.store.root_url)
        return moved

    def _settle_one(self, path: Path, quarantined: bool) -> None:
        """Upload one entry (create-only), then remove the local copy."""
        if path.is_symlink():  # a quarantined link: its target is never read, so record where it pointed
            self.store.put(self.key(path) + ".symlink", f"{os.readlink(path)}\n".encode())
            path.unlink(missing_ok=True)
            return
        key = self.key(path)
        written = self.store.put_file(key, path)  # an archived key is content-addressed: same bytes
        if not written and quarantined and not self._same(key, path):
            key = _beside(key, path.name)  # another entry took the name: keep both, never overwrite
            self.store.put_file(key, path)
        path.unlink(missing_ok=True)
        log.debug("%s -> %s", path, self.store.uri(key))

    def _same(self, key: str, path: Path) -> bool:
        if self.store.size(key) != path.stat().st_size:
            return False
        with self.store.open(key) as remote:
            return sha256_stream(remote)[0] == sha256_file(path)


def landed_store(settings: Settings, store: ObjectStore) -> LandedStore | None:
    """Where landed files settle: the data root when it is off this machine, else None (they stay in ``CT_HOME``)."""
    return LandedStore(settings.home, store) if store.remote else None


def archived_anywhere(sha256: str, archive: Path, landed: LandedStore | None) -> bool:
    """Whether content with this checksum was archived, here or (with ``landed``) on the data root."""
    return is_archived(sha256, archive) or (landed is not None and landed.is_archived(sha256, archive))


def archived_location(settings: Settings, store: ObjectStore, source: SourceFile) -> str | None:
    """Where an ingested landing file lies now: its local archive path, its URL on the data root, or None."""
    path = archive_path(source, settings.archive)
    if path.exists():
        return str(path)
    landed = landed_store(settings, store)
    return landed.archived_uri(path) if landed is not None else None


def _finished_entries(folder: Path) -> Iterator[Path]:
    """Files (and links) below ``folder``, leaving out live spools and temporary files of atomic writes."""
    if not folder.is_dir():
        return
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != PENDING_DIR)
        base = Path(root)
        for name in sorted(files):
            if name.startswith(".") and name.endswith(".tmp"):
                continue
            yield base / name
        for d in list(dirs):  # os.walk does not descend into links; a quarantined link to a folder is an entry
            if (base / d).is_symlink():
                dirs.remove(d)
                yield base / d


def _remove_empty_dirs(folder: Path) -> None:
    """Remove emptied folders, but not fresh ones: a live run may be about to move a file into it."""
    if not folder.is_dir():
        return
    now = time.time()
    for root, _, _ in sorted(os.walk(folder), key=lambda w: len(w[0]), reverse=True):
        if Path(root) == folder or Path(root).name == PENDING_DIR:
            continue
        try:
            if now - os.stat(root).st_mtime < FRESH_DIR_SECONDS:
                continue
            os.rmdir(root)
        except OSError:
            pass  # not empty: a live run is writing there


def _beside(key: str, name: str) -> str:
    head, _, _ = key.rpartition("/")
    return f"{head}/{uuid.uuid4().hex[:8]}_{name}"


def count_set_aside(
    quarantine: Path, sha256s: Iterable[str], reason: str, landed: LandedStore | None = None
) -> int | None:
    """Rows set aside with ``reason`` from the landing files with these checksums.

    Read from the committed rows files in ``quarantine/rejected_<sha16>/`` (the ingest record of
    every set-aside row), reason column only, here and, with ``landed``, settled on the data root.
    None when a file's record is not there to count (rows still pending after a stopped run, or
    the quarantine was cleaned up), so a caller can say "unknown" rather than report 0.
    """
    total = 0
    for sha in sorted(set(sha256s)):
        folder = quarantine / rows_folder(sha)
        rows_files: dict[str, Callable[[], IO[bytes]]] = {}
        if landed is not None:
            for key in landed.files(folder, ".rejected_rows.csv"):
                rows_files[key.rsplit("/", 1)[-1]] = partial(landed.store.open, key)
        if folder.is_dir():  # a file both here and settled (a settle stopped mid-move) counts once
            rows_files.update({p.name: partial(_open_binary, p) for p in folder.glob("*.rejected_rows.csv")})
        if not rows_files:
            if any(quarantine.joinpath(PENDING_DIR).glob(f"{glob_escape(sha)}*.rejected_rows.csv")):
                return None
            continue  # no row of that file was set aside
        for name, opener in sorted(rows_files.items()):
            try:
                with opener() as fh:
                    reasons = pd.read_csv(fh, usecols=[ROW_REASON_COLUMN], dtype=str, keep_default_na=False)
            except (OSError, ValueError) as err:
                log.warning("cannot count set-aside rows in %s/%s: %s", folder, name, err)
                return None
            total += int((reasons[ROW_REASON_COLUMN] == reason).sum())
    return total


def _open_binary(path: Path) -> IO[bytes]:
    return open(path, "rb")  # the caller closes it
