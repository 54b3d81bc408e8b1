"""Model artifacts: stored once by SHA-256, verified before every load.

joblib files are pickles and can run code when loaded, so a file whose checksum differs from the
registered one is refused rather than loaded. :meth:`ArtifactStore.verify` checks a file without
loading it (``ct models verify``).
"""

from __future__ import annotations

import io
import logging
from dataclasses import asdict, dataclass
from typing import Any

import joblib

from pipeline.core.errors import ArtifactIntegrityError
from pipeline.core.hashing import sha256_hex, sha256_stream
from pipeline.core.storage import ObjectStore

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


@dataclass(frozen=True)
class ArtifactCheck:
    """The outcome of checking one artifact against its registered checksum."""

    key: str
    uri: str
    expected_sha256: str
    actual_sha256: str | None  # None when the file is missing
    size: int | None

    @property
    def status(self) -> str:
        if self.actual_sha256 is None:
            return "missing"
        return "ok" if self.actual_sha256 == self.expected_sha256 else "modified"

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def message(self) -> str:
        """One sentence for people: what is wrong and what to do, or that it is intact."""
        if self.status == "missing":
            return (
                f"model artifact {self.uri} is missing; it cannot be loaded. Restore it from backup "
                "or retrain (ct run) — the registry still records its checksum"
            )
        if self.status == "modified":
            return (
                f"model artifact {self.uri} has SHA-256 {(self.actual_sha256 or '')[:16]}…, but "
                f"{self.expected_sha256[:16]}… was registered; the file was modified and will not be loaded "
                "(joblib files can run code)"
            )
        return f"model artifact {self.uri} matches its registered SHA-256 {self.expected_sha256[:16]}…"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status, "ok": self.ok}


class ArtifactStore:
    """Content-addressed model files under ``artifacts/`` of the object store."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def save(self, model: Any, name: str) -> tuple[str, str]:
        """Serialise ``model``; returns (key, sha256). Identical bytes are stored once."""
        buf = io.BytesIO()
        joblib.dump(model, buf, compress=3)
        data = buf.getvalue()
        sha = sha256_hex(data)
        key = f"artifacts/{name}/{sha[:2]}/{sha}.joblib"
        self.store.put(key, data)
        return key, sha

    def verify(self, key: str, sha256: str) -> ArtifactCheck:
        """Hash the stored file in chunks and compare; never deserialises it."""
        if not self.store.exists(key):
            return ArtifactCheck(key, self.store.uri(key), sha256, None, None)
        with self.store.open(key) as fh:
            actual, size = sha256_stream(fh, _CHUNK)
        return ArtifactCheck(key, self.store.uri(key), sha256, actual, size)

    def load(self, key: str, sha256: str) -> Any:
        """Load a model after checking its bytes against the registered checksum.

        The bytes that were hashed are the bytes that are loaded, so the file cannot change
        between the check and the load.
        """
        if not self.store.exists(key):
            raise ArtifactIntegrityError(ArtifactCheck(key, self.store.uri(key), sha256, None, None).message)
        data = self.store.get(key)
        check = ArtifactCheck(key, self.store.uri(key), sha256, sha256_hex(data), len(data))
        if not check.ok:
            raise ArtifactIntegrityError(check.message)
        return joblib.load(io.BytesIO(data))
