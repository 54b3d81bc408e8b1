"""Object storage under one root URL (``file://`` by default, any fsspec URL in production).

Objects are written once: to a temporary name, flushed, then moved into place, so a reader never
sees a half-written file and nothing is overwritten in place.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from pathlib import Path
from typing import IO

import fsspec
from fsspec.core import url_to_fs

log = logging.getLogger(__name__)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a local ``path`` atomically (temp file, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """Make a rename durable: the directory entry must reach the disk too (POSIX only)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class ObjectStore:
    """Immutable key/value objects below a root URL; keys are ``/``-separated relative paths."""

    def __init__(self, root_url: str) -> None:
        self.root_url = root_url.rstrip("/")
        fs, root = url_to_fs(self.root_url)
        self.fs: fsspec.AbstractFileSystem = fs
        self.root = root.rstrip("/")
        self._local = "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))

    def _path(self, key: str) -> str:
        return f"{self.root}/{key.lstrip('/')}"

    def uri(self, key: str) -> str:
        """The full URL of ``key``, as shown to users and recorded in lineage."""
        return f"{self.root_url}/{key.lstrip('/')}"

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self._path(key)))

    def put(self, key: str, data: bytes) -> bool:
        """Store ``data`` at ``key`` unless it is already there; True when something was written.

        Keys are content-addressed by their callers, so an existing key already holds these bytes.
        """
        path = self._path(key)
        if self.fs.exists(path):
            return False
        self._write(path, data)
        log.debug("stored %s (%d bytes)", self.uri(key), len(data))
        return True

    def replace(self, key: str, data: bytes) -> None:
        """Atomically write ``data`` at ``key`` even when it exists.

        Only for derived files (reports rebuilt from the registry), never for primary records.
        """
        self._write(self._path(key), data)

    def _write(self, path: str, data: bytes) -> None:
        """Write to a temporary name, then move into place, so readers never see a partial object."""
        if self._local:
            atomic_write_bytes(Path(path), data)
            return
        tmp = f"{path}.{uuid.uuid4().hex}.tmp"
        self.fs.pipe_file(tmp, data)
        self.fs.mv(tmp, path)

    def get(self, key: str) -> bytes:
        return bytes(self.fs.cat_file(self._path(key)))

    def open(self, key: str, mode: str = "rb") -> IO[bytes]:
        return self.fs.open(self._path(key), mode)

    def path(self, key: str) -> str:
        """The path of ``key`` inside :attr:`fs` (for readers such as ``pyarrow.dataset``)."""
        return self._path(key)

    def size(self, key: str) -> int:
        """Size of the object in bytes."""
        return int(self.fs.size(self._path(key)))

    def age_seconds(self, key: str, now: float | None = None) -> float | None:
        """Seconds since the object was written, or None when the backend does not say."""
        info = self.fs.info(self._path(key))
        stamp = info.get("mtime", info.get("created", info.get("LastModified")))
        if stamp is None:
            return None
        if hasattr(stamp, "timestamp"):
            stamp = stamp.timestamp()
        now = time.time() if now is None else now
        return max(0.0, now - float(stamp))

    def delete(self, key: str) -> bool:
        """Remove one object; True when it existed. Only retention (``ct snapshots gc``) calls this."""
        path = self._path(key)
        if not self.fs.exists(path):
            return False
        self.fs.rm_file(path)
        log.info("deleted %s", self.uri(key))
        return True

    def list(self, prefix: str) -> list[str]:
        """Keys below ``prefix`` (recursive), relative to the root."""
        base = self._path(prefix)
        if not self.fs.exists(base):
            return []
        n = len(self.root) + 1
        return sorted(p[n:] for p in self.fs.find(base))
