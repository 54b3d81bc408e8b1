"""Model artifacts: stored once by SHA-256, verified before every load.

joblib files are pickles and can run code when loaded, so a file whose checksum differs from the
registered one is refused rather than loaded.
"""

from __future__ import annotations

import hashlib
import io
import logging
from typing import Any

import joblib

from pipeline.errors import ArtifactIntegrityError
from pipeline.storage import ObjectStore

log = logging.getLogger(__name__)


class ArtifactStore:
    """Content-addressed model files under ``artifacts/`` of the object store."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def save(self, model: Any, name: str) -> tuple[str, str]:
        """Serialise ``model``; returns (key, sha256). Identical bytes are stored once."""
        buf = io.BytesIO()
        joblib.dump(model, buf, compress=3)
        data = buf.getvalue()
        sha = hashlib.sha256(data).hexdigest()
        key = f"artifacts/{name}/{sha[:2]}/{sha}.joblib"
        self.store.put(key, data)
        return key, sha

    def load(self, key: str, sha256: str) -> Any:
        """Load a model after checking its bytes against the registered checksum."""
        if not self.store.exists(key):
            raise ArtifactIntegrityError(
                f"model artifact {self.store.uri(key)} is missing; it cannot be loaded. Restore it from backup "
                "or retrain (ct run) — the registry still records its checksum"
            )
        data = self.store.get(key)
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise ArtifactIntegrityError(
                f"model artifact {self.store.uri(key)} has SHA-256 {actual[:16]}…, but {sha256[:16]}… was "
                "registered; the file was modified and will not be loaded (joblib files can run code)"
            )
        return joblib.load(io.BytesIO(data))
