"""The snapshot store on fsspec's in-memory filesystem: nothing may assume a local path."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pandas as pd
import pytest

from pipeline.app.demo_data import BatchSpec, generate_batch
from pipeline.core.config import PipelineConfig
from pipeline.core.errors import SnapshotError
from pipeline.core.storage import ObjectStore
from pipeline.data.snapshots import (
    SourceFile,
    create_snapshot,
    diff_snapshots,
    list_manifest_ids,
    load_snapshot,
    manifest_key,
    read_manifest,
    snapshot_dataset,
    write_part,
)


@pytest.fixture
def store() -> Iterator[ObjectStore]:
    s = ObjectStore(f"memory://ct-test-{uuid.uuid4().hex[:8]}")
    assert not s._local
    yield s
    s.fs.rm(s.root, recursive=True)


def _src(name: str) -> SourceFile:
    return SourceFile(name, name.encode().hex().ljust(64, "0")[:64], 1)


def test_parts_manifests_and_reads_on_memory(store: ObjectStore, config: PipelineConfig) -> None:
    ds = config.dataset
    b1 = generate_batch(BatchSpec(rows=60, seed=1, first_id=0))
    b2 = generate_batch(BatchSpec(rows=40, seed=2, first_id=1000))
    first = create_snapshot(store, ds, None, [write_part(store, b1, ds, _src("a"))])
    second = create_snapshot(store, ds, first, [write_part(store, b2, ds, _src("b"))])
    assert store.uri(manifest_key(second.id)).startswith("memory://ct-test-")
    assert read_manifest(store, second.id) == second
    assert sorted(list_manifest_ids(store)) == sorted([first.id, second.id])
    assert len(store.list("snapshots/parts")) == 2
    assert not [k for k in store.list("snapshots") if ".tmp" in k]  # temporary names never stay behind
    loaded = load_snapshot(store, second)
    assert loaded["customer_id"].tolist() == [*b1["customer_id"], *b2["customer_id"]]
    pd.testing.assert_frame_equal(load_snapshot(store, first), loaded.iloc[:60])  # time travel
    view = snapshot_dataset(store, second)
    assert view.count_rows() == 100
    assert view.files == [store.path(p.key) for p in second.parts]
    assert diff_snapshots(store, first, second, ds)["rows_added"] == 40


def test_same_content_same_id_and_no_rewrite_on_memory(store: ObjectStore, config: PipelineConfig) -> None:
    ds = config.dataset
    frame = generate_batch(BatchSpec(rows=30, seed=5, first_id=0))
    snap = create_snapshot(store, ds, None, [write_part(store, frame, ds, _src("a"))])
    before = {k: store.fs.info(store.path(k))["created"] for k in store.list("snapshots")}
    again = create_snapshot(store, ds, None, [write_part(store, frame.copy(), ds, _src("a"))])
    assert again.id == snap.id
    assert {k: store.fs.info(store.path(k))["created"] for k in store.list("snapshots")} == before


def test_missing_part_on_memory_is_reported(store: ObjectStore, config: PipelineConfig) -> None:
    ds = config.dataset
    snap = create_snapshot(
        store, ds, None, [write_part(store, generate_batch(BatchSpec(rows=10, seed=1)), ds, _src("a"))]
    )
    assert store.delete(snap.parts[0].key) is True
    assert store.delete(snap.parts[0].key) is False
    with pytest.raises(SnapshotError, match="missing"):
        load_snapshot(store, snap)
    with pytest.raises(SnapshotError, match="missing"):
        snapshot_dataset(store, snap)
