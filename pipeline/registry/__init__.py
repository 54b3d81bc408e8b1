"""Model registry and metadata store: one interface, one SQL implementation, an artifact store."""

from pipeline.registry.base import (
    AlertRecord,
    MetadataStore,
    ModelVersion,
    PromotionRecord,
    SnapshotRecord,
    ValidationRecord,
    WorkRequest,
)
from pipeline.registry.sql import SqlMetadataStore

__all__ = [
    "AlertRecord",
    "MetadataStore",
    "ModelVersion",
    "PromotionRecord",
    "SnapshotRecord",
    "SqlMetadataStore",
    "ValidationRecord",
    "WorkRequest",
]
