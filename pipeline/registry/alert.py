"""The alert value object: one event worth telling a person about, as the store records it.

It lives with the registry because the metadata store persists and deduplicates alerts; building
alerts from pipeline events and delivering them is ``pipeline.monitoring.alerts``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from pipeline.core.hashing import sha256_hex

Kind = Literal[
    "task_failed",
    "validation_failed",
    "validation_warning",
    "performance_drop",
    "drift",
    "promoted",
    "rolled_back",
    "ingest_rejected",
    "thin_evidence",
    "challenger_retired",
]
KINDS: tuple[str, ...] = get_args(Kind)
Severity = Literal["info", "warning", "critical"]
SEVERITIES: tuple[str, ...] = ("info", "warning", "critical")

NOT_CONFIGURED, PENDING, DELIVERED, FAILED = "not_configured", "pending", "delivered", "failed"
"""Delivery status of an alert row: no webhook, about to post, posted, or the post failed."""

MAX_KEY = 255  # the column's width


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def make_dedupe_key(kind: str, *parts: object) -> str:
    """``kind:part:part…``; longer than the column allows, the tail becomes a hash of the whole."""
    key = ":".join([kind, *(str(p) for p in parts)])
    if len(key) <= MAX_KEY:
        return key
    return f"{key[:200]}…{sha256_hex(key)[:32]}"


@dataclass(frozen=True)
class Alert:
    """One event worth telling a person about; ``dedupe_key`` says which events are the same one."""

    kind: Kind
    severity: Severity
    title: str
    message: str
    dedupe_key: str
    details: dict[str, Any] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)
    """Where it was raised: dag_id/task_id/run_id/try_number inside Airflow, else the host."""
    created_at: str = field(default_factory=_now_iso)

    def __post_init__(self) -> None:
        # Programming errors (the kinds and severities are ours), so plain ValueErrors.
        if self.kind not in KINDS:
            raise ValueError(f"alert kind {self.kind!r} is not one of {list(KINDS)}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"alert severity {self.severity!r} is not one of {list(SEVERITIES)}")
        if not self.dedupe_key or len(self.dedupe_key) > MAX_KEY:
            raise ValueError(
                f"dedupe_key must be 1 to {MAX_KEY} characters (use make_dedupe_key), got {len(self.dedupe_key)}"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
