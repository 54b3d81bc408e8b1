"""What domain code may see of a workspace: settings, config and the stores, as interfaces.

Domain functions that need more than one store (batch scoring, label join, retention, lineage,
snapshot validation) take a ``StoreContext``. The application's ``Workspace`` satisfies it, and a
test can pass any object with these attributes. Domain code therefore depends on the
``MetadataStore`` interface, never on the SQL class or on the wiring in ``pipeline.app``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pipeline.core.config import PipelineConfig
    from pipeline.core.settings import Settings
    from pipeline.core.storage import ObjectStore
    from pipeline.core.thread_budget import ThreadBudget
    from pipeline.registry.artifacts import ArtifactStore
    from pipeline.registry.base import MetadataStore


class StoreContext(Protocol):
    """Settings, config, object store, metadata store, artifacts and this task's thread budget."""

    @property
    def settings(self) -> Settings: ...

    @property
    def config(self) -> PipelineConfig: ...

    @property
    def store(self) -> ObjectStore: ...

    @property
    def meta(self) -> MetadataStore: ...

    @property
    def artifacts(self) -> ArtifactStore: ...

    @property
    def thread_budget(self) -> ThreadBudget: ...
