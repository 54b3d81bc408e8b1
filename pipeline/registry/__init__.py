"""Model registry and metadata store: one interface (``base.MetadataStore`` and the entities it
returns), one SQL implementation (``sql``, with its ``schema`` and ``migrations``), the artifact
store, the alert value object and the ``StoreContext`` protocol domain code takes instead of the
workspace. The package re-exports the interface only: importing it never loads SQLAlchemy or the
SQL store, which only the application layer and the CLI wire (``from pipeline.registry.sql import
SqlMetadataStore``)."""

from pipeline.registry.base import (
    AlertRecord,
    MetadataStore,
    ModelVersion,
    PromotionRecord,
    SnapshotRecord,
    ValidationRecord,
    WorkRequest,
)

__all__ = [
    "AlertRecord",
    "MetadataStore",
    "ModelVersion",
    "PromotionRecord",
    "SnapshotRecord",
    "ValidationRecord",
    "WorkRequest",
]
