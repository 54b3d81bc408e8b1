"""Object storage under one root URL (``file://`` by default, ``s3://`` or any fsspec URL in production).

Objects are written once and whole, so a reader never sees a half-written object and nothing is
overwritten in place. On a local folder: a temporary file, fsynced, then hard-linked into place
(``put``: fails if the name exists, so of two writers exactly one wins) or renamed over it
(``replace``). On S3, which has no rename: one PUT (all or nothing) with ``If-None-Match: *`` for
``put``, so the store itself refuses the second writer, and a plain PUT for ``replace``. A crashed
writer leaves at most a temporary file on disk and nothing at all on S3.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import fsspec
from fsspec.core import url_to_fs

from pipeline.core.s3 import S3Options, check_s3_url, is_s3_url

log = logging.getLogger(__name__)

S3_CHECK_FIRST_BYTES = 8 * 2**20
"""On S3, ``put`` of a body larger than this asks whether the key exists before uploading it."""


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


def exclusive_write_bytes(path: Path, data: bytes) -> bool:
    """Write ``data`` to a local ``path`` unless it exists; True when this call created it.

    The bytes go to a fsynced temporary file first, then get a second name with ``os.link``, which
    fails when ``path`` exists: two concurrent writers cannot both win, and the loser leaves nothing.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError:  # a filesystem without hard links: check, then rename (the old behaviour)
            if path.exists():
                return False
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)
    return True


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

    def __init__(self, root_url: str, storage_options: Mapping[str, Any] | None = None) -> None:
        """Open ``root_url``; for ``s3://`` without ``storage_options`` they come from the environment.

        See :mod:`pipeline.core.s3` for the variables; the URL itself must carry no credential.
        """
        self.root_url = root_url.rstrip("/")
        self._s3 = is_s3_url(self.root_url)
        if self._s3:
            check_s3_url(self.root_url)
            if storage_options is None:
                storage_options = S3Options.from_env().storage_options()
        fs, root = url_to_fs(self.root_url, **dict(storage_options or {}))
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
        Of two writers racing for one key exactly one gets True, and the object is that one's bytes.
        """
        path = self._path(key)
        if self._local:
            written = not os.path.exists(path) and exclusive_write_bytes(Path(path), data)
        elif self._s3:
            # A rerun re-puts content it stored before: a HEAD is cheaper than uploading a big body
            # only to be refused. Small objects go straight to the conditional PUT (one request).
            big = len(data) > S3_CHECK_FIRST_BYTES
            written = not (big and self.fs.exists(path)) and self._s3_create(path, data)
        else:  # other fsspec backends: no exclusive create known, so check first (a race can overwrite)
            written = not self.fs.exists(path)
            if written:
                self._write(path, data)
        if written:
            log.debug("stored %s (%d bytes)", self.uri(key), len(data))
        return written

    def _s3_create(self, path: str, data: bytes) -> bool:
        """One conditional PUT (``If-None-Match: *``): False when the key exists already.

        S3 answers 412 to the loser of a race (s3fs raises FileExistsError) and may answer 409
        ConditionalRequestConflict while the winner's upload is still in flight: that is retried,
        and then sees the 412. Objects over 100 MiB go up as a multipart upload whose completion
        carries the same condition.
        """
        for attempt in range(5):
            try:
                self.fs.pipe_file(path, data, mode="create")
                return True
            except FileExistsError:
                return False
            except OSError as err:
                if _precondition_failed(err):
                    return False
                if "ConditionalRequestConflict" not in str(err) or attempt == 4:
                    raise
                time.sleep(0.1 * (attempt + 1))
        return False  # pragma: no cover - the loop returns or raises

    @property
    def remote(self) -> bool:
        """Whether objects live off this machine (S3 and other network stores; not file:// or memory://)."""
        protocols = self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        return not self._local and "memory" not in protocols

    def put_file(self, key: str, local: Path) -> bool:
        """Store the local file at ``key`` unless the key exists; True when something was written.

        On S3 the file is streamed (landed files run to gigabytes) with the same ``If-None-Match: *``
        condition as :meth:`put`, so of two racing writers one wins and the object is whole or
        absent; as with :meth:`put`, a big file's key is asked for first. Elsewhere the key is
        checked first.
        """
        path = self._path(key)
        if self._local:
            return not os.path.exists(path) and exclusive_write_bytes(Path(path), local.read_bytes())
        if self._s3:
            if local.stat().st_size > S3_CHECK_FIRST_BYTES and self.fs.exists(path):
                return False
            try:
                self.fs.put_file(str(local), path, mode="create")
            except FileExistsError:
                return False
            except OSError as err:
                if _precondition_failed(err):
                    return False
                raise
            return True
        if self.fs.exists(path):
            return False
        self.fs.put_file(str(local), path)
        return True

    def replace(self, key: str, data: bytes) -> None:
        """Atomically write ``data`` at ``key`` even when it exists.

        Only for derived files (reports rebuilt from the registry), never for primary records.
        """
        self._write(self._path(key), data)

    def _write(self, path: str, data: bytes) -> None:
        """Write so readers never see a partial object: temp name then rename (local and other
        backends), or one PUT on S3, which stores an object only when its upload completes."""
        if self._local:
            atomic_write_bytes(Path(path), data)
            return
        if self._s3:  # one PUT replaces the object whole: readers see the old bytes or the new
            self.fs.pipe_file(path, data)
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


def _precondition_failed(err: OSError) -> bool:
    """Whether S3 refused a conditional write because the key exists (412, as s3fs reports it)."""
    return "PreconditionFailed" in str(err) or "At least one of the pre-conditions" in str(err)
