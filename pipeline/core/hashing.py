"""Canonical JSON and SHA-256: the one place that turns values, bytes and files into hashes.

Snapshot ids, config hashes, alert dedupe keys, report and fold keys and file checksums are all
stored by users or printed to them, so their bytes must never drift. Two serialisations are in
use and both are kept: compact (``","`` and ``":"``, snapshot ids and config hashes) and Python's
default spacing (``", "`` and ``": "``, schema, statistics, evaluation and report keys). Keys are
always sorted and non-ASCII characters escaped, so equal values give equal bytes everywhere.

Only the standard library is imported here: Airflow's triggerer reaches this module through
:mod:`pipeline.data.ready_files`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

BLOCK = 1 << 20
"""How many bytes a stream or file is read at a time while hashing (memory stays at one block)."""

_COMPACT = (",", ":")


def canonical_json(value: Any, *, compact: bool = True, default: Callable[[Any], Any] | None = None) -> str:
    """``value`` as JSON with sorted keys: compact separators, or Python's default spacing when not ``compact``.

    ``default`` converts values JSON does not know (e.g. ``str`` for dates), as in :func:`json.dumps`.
    """
    return json.dumps(value, sort_keys=True, separators=_COMPACT if compact else None, default=default)


def sha256_hex(*chunks: bytes | str) -> str:
    """The SHA-256 hex digest of the chunks one after another (text is encoded as UTF-8)."""
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk.encode() if isinstance(chunk, str) else chunk)
    return digest.hexdigest()


def json_sha256(value: Any, *, compact: bool = True, default: Callable[[Any], Any] | None = None) -> str:
    """The SHA-256 hex digest of :func:`canonical_json` of ``value`` (callers shorten it as their ids need)."""
    return sha256_hex(canonical_json(value, compact=compact, default=default))


def sha256_stream(fh: IO[bytes], block: int = BLOCK) -> tuple[str, int]:
    """The SHA-256 hex digest and the size of everything left in ``fh``, read ``block`` bytes at a time."""
    digest, size = hashlib.sha256(), 0
    while chunk := fh.read(block):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def sha256_file(path: Path) -> str:
    """The SHA-256 hex digest of a file's content, read block by block.

    The file is opened with ``O_NOFOLLOW``: a file swapped for a symbolic link after it was listed
    is refused (``OSError``), never followed.
    """
    with os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)), "rb") as fh:
        return sha256_stream(fh)[0]
