"""The models the service answers with, followed in the registry and swapped without a restart.

A :class:`ServedModels` is an immutable snapshot: the champion (version, loaded model, decision
threshold), and the challenger with its mode and share when one is served. A request takes the
current snapshot once and uses only it, so it never sees a half-loaded model or a champion from one
moment and a challenger from another. :class:`ModelFollower` re-reads the ``champion`` and
``challenger`` aliases every ``serving.poll_seconds`` in a background thread; a version that
changed is loaded through ``ArtifactStore.load`` (checksum verified before unpickling), warmed up
on the example row, and only then published by replacing the snapshot reference (one assignment,
atomic for readers). A load that fails keeps the model served so far, is logged and retried at the
next poll.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline.core.config import PipelineConfig
from pipeline.core.errors import CTError
from pipeline.modeling.prediction_columns import recorded_threshold
from pipeline.modeling.training import scores_from_model
from pipeline.registry.artifacts import ArtifactStore
from pipeline.registry.base import CHALLENGER, CHAMPION, MetadataStore, ModelVersion
from pipeline.serving.fast_scoring import CompiledScorer, compile_scorer
from pipeline.serving.request_schema import RequestSchema, schema_problems, validate_rows

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """One registered version, loaded, verified and warmed up (equal only to itself: a reload is new)."""

    version: ModelVersion
    model: Any
    threshold: float
    loaded_at: float
    fast: CompiledScorer | None = None
    """The NumPy shortcut for this model's pipeline, when it has the usual shape (see ``fast_scoring``)."""

    @property
    def number(self) -> int:
        return self.version.version


@dataclass(frozen=True)
class ServedModels:
    """What the service answers with at one moment (see the module docstring)."""

    champion: LoadedModel | None
    challenger: LoadedModel | None = None
    mode: str = "shadow"
    share: float = 0.0
    problem: str | None = None
    """Why the champion is not (or not the registry's current one) served, for ``/ready``."""

    @property
    def ready(self) -> bool:
        return self.champion is not None


def _same(loaded: LoadedModel | None, version: ModelVersion | None) -> bool:
    if loaded is None or version is None:
        return loaded is None and version is None
    return loaded.number == version.version and loaded.version.artifact_sha256 == version.artifact_sha256


class ModelFollower:
    """Holds the current :class:`ServedModels` and keeps it in step with the registry's aliases."""

    def __init__(
        self,
        meta: MetadataStore,
        artifacts: ArtifactStore,
        config: PipelineConfig,
        schema: RequestSchema,
        example: dict[str, Any],
        on_swap: Callable[[ServedModels], None] | None = None,
    ) -> None:
        self.meta, self.artifacts, self.config, self.schema = meta, artifacts, config, schema
        self.example = example
        self.warmup = validate_rows([example], schema).frame
        self.on_swap = on_swap
        self.name = config.model.name
        self._current = ServedModels(champion=None, problem=f"no champion of {self.name} loaded yet")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one refresh at a time (the poll thread, or a test calling refresh)

    @property
    def current(self) -> ServedModels:
        """The snapshot a request uses; read it once per request."""
        return self._current

    def _load(self, version: ModelVersion) -> LoadedModel:
        problems = schema_problems(self.schema, version.feature_schema)
        if problems:
            raise CTError(
                f"{self.name} v{version.version} cannot be served under this config: {'; '.join(problems)}. "
                "Serve it with the config it was trained under, or promote a version trained on this one"
            )
        model = self.artifacts.load(version.artifact_uri, version.artifact_sha256)
        scores_from_model(model, self.warmup, self.config.dataset)  # first call pays the lazy set-up
        threshold = recorded_threshold(version.evaluation, self.config.evaluation.decision_threshold)
        fast = compile_scorer(model, self.config.dataset, self.example)
        return LoadedModel(version=version, model=model, threshold=threshold, loaded_at=time.time(), fast=fast)

    def _resolve(self, loaded: LoadedModel | None, version: ModelVersion | None, role: str) -> LoadedModel | None:
        if version is None or _same(loaded, version):
            return loaded if version is not None else None
        started = time.perf_counter()
        new = self._load(version)
        log.info(
            "serving %s v%d as %s (artifact %s… verified, loaded in %.0f ms, %s)",
            self.name,
            version.version,
            role,
            version.artifact_sha256[:12],
            (time.perf_counter() - started) * 1000,
            "NumPy fast path" if new.fast else "scored through scikit-learn",
        )
        return new

    def refresh(self) -> ServedModels:
        """Read the aliases once and swap in what changed; returns the (possibly new) snapshot."""
        with self._lock:
            old = self._current
            challenger_cfg = self.config.serving.challenger
            try:
                champion_v = self.meta.get_alias(self.name, CHAMPION)
                challenger_v = self.meta.get_alias(self.name, CHALLENGER)
            except Exception as err:  # noqa: BLE001 - a database hiccup must not stop serving
                log.warning("could not read the aliases of %s (%s); serving what is loaded", self.name, err)
                return old
            problem = None if champion_v is not None else f"{self.name} has no champion in the registry yet"
            champion = old.champion
            try:
                champion = self._resolve(old.champion, champion_v, CHAMPION)
            except Exception as err:  # noqa: BLE001 - a bad artifact or config: keep serving the old one
                problem = f"{self.name} v{champion_v.version if champion_v else '?'} could not be loaded: {err}"
                log.error("%s; still serving %s, retrying in %.0fs", problem, _label(old.champion), self._poll)
            if challenger_v is not None and champion is not None and challenger_v.version == champion.number:
                challenger_v = None  # promoted: the same version is not its own challenger
            challenger = old.challenger
            try:
                challenger = self._resolve(old.challenger, challenger_v, CHALLENGER)
            except Exception as err:  # noqa: BLE001 - the champion serves alone until the challenger loads
                log.error(
                    "challenger %s v%s could not be loaded (%s); the champion serves alone, retrying in %.0fs",
                    self.name,
                    challenger_v.version if challenger_v else "?",
                    err,
                    self._poll,
                )
                challenger = None  # the alias moved away from whatever challenger was loaded before
            new = ServedModels(
                champion=champion,
                challenger=challenger,
                mode=challenger_cfg.mode,
                share=challenger_cfg.share if challenger is not None else 0.0,
                problem=problem,
            )
            if new != old:
                self._current = new
                if self.on_swap is not None:
                    self.on_swap(new)
            return self._current

    @property
    def _poll(self) -> float:
        return self.config.serving.poll_seconds

    def start(self) -> None:
        """Load what the aliases name now, then follow them in a daemon thread."""
        self.refresh()
        self._thread = threading.Thread(target=self._run, name="ct-serve-follower", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._poll):
            try:
                self.refresh()
            except Exception:  # never let the follower die: the next poll tries again
                log.exception("refreshing the served models of %s failed", self.name)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._poll + 5)


def _label(loaded: LoadedModel | None) -> str:
    return f"v{loaded.number}" if loaded else "nothing"
