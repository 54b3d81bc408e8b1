"""``ct snapshots gc`` with the data root on S3 (moto's server): the same rules as on a local folder.

Ages come from S3's LastModified, listings from ListObjectsV2, removals are DeleteObject; a young
orphan (a part of an ingest still running) is left alone.
"""

from __future__ import annotations

import dataclasses

from pipeline.core.config import PipelineConfig
from pipeline.core.settings import Settings
from pipeline.data.retention import collect_garbage
from pipeline.data.snapshots import list_manifest_ids, read_manifest
from tests.unit.test_snapshot_lineage_and_gc import _history, _orphan_part, _register, _workspace


def test_gc_on_s3_removes_only_what_nothing_references(
    settings: Settings, config: PipelineConfig, s3_data_url: str
) -> None:
    ws = _workspace(dataclasses.replace(settings, data_url=s3_data_url), config)
    (s1, s2, s3), side = _history(ws, config)
    orphan = _orphan_part(ws, config)
    _register(ws, s1, "m")
    keep = {p.key for s in (s1, s3) for p in read_manifest(ws.store, s).parts}

    young = collect_garbage(ws, keep_last=1, min_age_seconds=3600)
    assert young.removed_parts == [] and young.skipped_young >= 1 and ws.store.exists(orphan)

    report = collect_garbage(ws, keep_last=1, min_age_seconds=0)
    assert orphan in report.removed_parts and sorted(report.removed_manifests) == sorted([s2, side])
    assert sorted(list_manifest_ids(ws.store)) == sorted([s1, s3])
    assert set(ws.store.list("snapshots/parts")) == keep
    assert not (settings.home / "snapshots").exists()  # nothing went to the local data directory
    again = collect_garbage(ws, keep_last=1, min_age_seconds=0)
    assert again.removed_parts == [] and again.removed_manifests == []
