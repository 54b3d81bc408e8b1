"""What in a landing folder is complete, and whether the folder has settled.

A file is complete when a ``_SUCCESS`` marker sits in its folder, or when it has not changed for
``stable_seconds``. Hidden files, ``_``-prefixed folders (Spark's ``_temporary/``) and temporary
suffixes are never complete. Symbolic links are never followed: they are listed apart, for ingest to
quarantine unread (code ``symlink``). The folder has *settled* when something is complete and nothing
else is still being written: waiting for that turns a burst of files into one ingest run.

Only the standard library (and :mod:`pipeline.core.hashing`, which imports nothing else) is imported
here: Airflow's triggerer polls this module.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.hashing import sha256_file

log = logging.getLogger(__name__)

MARKER_NAMES = frozenset({"_SUCCESS"})
TEMPORARY_SUFFIXES = frozenset({".tmp", ".part", ".crdownload"})


@dataclass(frozen=True)
class LandingFile:
    """A complete file in the landing area, identified by its content checksum."""

    path: Path
    size: int
    sha256: str

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class LandingScan:
    """Complete files (oldest first) and files still being written, at one moment."""

    ready: tuple[Path, ...]
    in_progress: tuple[Path, ...]
    links: tuple[Path, ...] = ()
    """Symbolic links: never followed (their target may be anywhere); ingest quarantines them unread."""

    @property
    def settled(self) -> bool:
        """Something to take (or refuse) and nothing half-written beside it."""
        return bool(self.ready or self.links) and not self.in_progress


def _candidates(landing: Path) -> tuple[list[Path], list[Path]]:
    """Regular files, and symbolic links (to files or folders), below ``landing``; links are never followed."""
    found, links = [], []
    for path in sorted(landing.rglob("*")):
        if any(part.startswith((".", "_")) for part in path.relative_to(landing).parts):
            continue  # hidden files and in-progress folders such as Spark's _temporary/
        if path.is_symlink():
            links.append(path)
        elif path.is_file() and path.name not in MARKER_NAMES:
            found.append(path)
    return found, links


def scan_landing(landing: Path, stable_seconds: float, now: float | None = None) -> LandingScan:
    """Split the landing area into complete files and files still arriving (no checksums: cheap)."""
    if not landing.exists():
        return LandingScan((), ())
    now = time.time() if now is None else now
    ready: list[tuple[float, Path]] = []
    in_progress: list[Path] = []
    files, links = _candidates(landing)
    for path in files:
        try:
            mtime = path.lstat().st_mtime
        except FileNotFoundError:  # moved away while we looked
            continue
        if path.suffix in TEMPORARY_SUFFIXES:
            in_progress.append(path)
        elif (path.parent / "_SUCCESS").exists() or now - mtime >= stable_seconds:
            ready.append((mtime, path))
        else:
            in_progress.append(path)
    return LandingScan(
        tuple(p for _, p in sorted(ready, key=lambda item: (item[0], str(item[1])))), tuple(in_progress), tuple(links)
    )


def find_ready_files(landing: Path, stable_seconds: float, now: float | None = None) -> list[LandingFile]:
    """Files in ``landing`` that are complete and may be read, oldest first, with their checksums."""
    scan = scan_landing(landing, stable_seconds, now)
    for path in scan.in_progress:
        log.info("not yet complete, left for the next run: %s", path)
    return [LandingFile(path=p, size=p.stat().st_size, sha256=sha256_file(p)) for p in scan.ready]
