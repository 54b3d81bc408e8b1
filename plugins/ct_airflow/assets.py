"""Assets that link producer and consumer DAGs."""

from __future__ import annotations

from airflow.sdk import Asset

SNAPSHOTS = Asset(name="ct_snapshots", uri="ct://snapshots")
"""Updated by ct_ingest whenever a new snapshot exists; the event's extra carries its id."""
