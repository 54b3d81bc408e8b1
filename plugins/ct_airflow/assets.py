"""Assets that link producer and consumer DAGs: ct_ingest -> ct_monitor -> ct_train."""

from __future__ import annotations

from airflow.sdk import Asset

SNAPSHOTS = Asset(name="ct_snapshots", uri="ct://snapshots")
"""Updated by ct_ingest whenever a new snapshot exists; the event's extra carries its id."""

CHECKED_SNAPSHOTS = Asset(name="ct_checked_snapshots", uri="ct://snapshots/checked")
"""Updated by ct_monitor once the champion has scored a snapshot's new data (test-then-train).

The event's extra carries the snapshot id and the trigger for ct_train: ``new_data``, or
``performance_drop`` / ``drift`` with the reason and evidence when the live windows asked for it.
"""
