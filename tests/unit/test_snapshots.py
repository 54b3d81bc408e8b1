"""Unit tests for pipeline.data.snapshots: content-addressed parts and manifests."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as pads
import pytest

from pipeline.app.demo_data import BatchSpec, generate_batch
from pipeline.core.config import PipelineConfig
from pipeline.core.errors import SnapshotError
from pipeline.core.storage import ObjectStore
from pipeline.data.snapshots import (
    Snapshot,
    SourceFile,
    create_snapshot,
    load_parts,
    load_snapshot,
    manifest_key,
    new_parts_since,
    read_manifest,
    snapshot_dataset,
    tombstone_key,
    write_part,
)


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    root = tmp_path / "store"
    root.mkdir()
    return ObjectStore(root.as_uri())


def _files(store: ObjectStore) -> list[str]:
    return store.list("snapshots")


def _batch(rows: int, seed: int, first_id: int) -> pd.DataFrame:
    return generate_batch(BatchSpec(rows=rows, seed=seed, first_id=first_id))


def _src(name: str) -> SourceFile:
    return SourceFile(name=name, sha256=name.encode().hex().ljust(64, "0")[:64], size=123)


# -- parts --------------------------------------------------------------------------------------------
def test_same_data_same_part_nothing_new(store: ObjectStore, config: PipelineConfig) -> None:
    frame = _batch(50, 1, 0)
    a = write_part(store, frame, config.dataset, _src("a.csv"))
    before = _files(store)
    b = write_part(store, frame.copy(), config.dataset, _src("a.csv"))
    assert a.id == b.id and a.key == b.key
    assert a.rows == 50
    assert _files(store) == before == [a.key]


def test_part_id_depends_on_content_not_column_order(store: ObjectStore, config: PipelineConfig) -> None:
    frame = _batch(50, 1, 0)
    shuffled = frame[list(reversed(frame.columns))]
    assert (
        write_part(store, frame, config.dataset, _src("a")).id
        == write_part(store, shuffled, config.dataset, _src("b")).id
    )
    changed = frame.copy()
    changed.loc[0, "age"] = changed.loc[0, "age"] + 1
    assert (
        write_part(store, changed, config.dataset, _src("a")).id
        != write_part(store, frame, config.dataset, _src("a")).id
    )


# -- snapshots ----------------------------------------------------------------------------------------
def test_first_snapshot_and_idempotent_rerun(store: ObjectStore, config: PipelineConfig) -> None:
    ds = config.dataset
    part = write_part(store, _batch(50, 1, 0), ds, _src("a.csv"))
    snap = create_snapshot(store, ds, None, [part])
    assert snap.parent is None
    assert snap.rows == 50
    assert snap.parts == (part,)
    assert snap.dataset == "churn"
    assert len(snap.id) == 16
    assert store.exists(manifest_key(snap.id))
    before = _files(store)

    again = create_snapshot(store, ds, None, [write_part(store, _batch(50, 1, 0), ds, _src("a.csv"))])
    assert again.id == snap.id
    assert again.created_at == snap.created_at  # the stored manifest is returned, not rewritten
    assert _files(store) == before


def test_append_batch_writes_one_part_and_child_manifest(store: ObjectStore, config: PipelineConfig) -> None:
    ds = config.dataset
    first = create_snapshot(store, ds, None, [write_part(store, _batch(50, 1, 0), ds, _src("a.csv"))])
    before = set(_files(store))
    part2 = write_part(store, _batch(30, 2, 1000), ds, _src("b.csv"))
    second = create_snapshot(store, ds, first, [part2])
    new_files = set(_files(store)) - before
    assert new_files == {part2.key, manifest_key(second.id)}
    assert second.parent == first.id
    assert second.id != first.id
    assert second.rows == 80
    assert [p.id for p in second.parts] == [first.parts[0].id, part2.id]
    stored = json.loads(store.get(manifest_key(second.id)))
    assert stored["parent"] == first.id
    assert stored["rows"] == 80


def test_no_new_parts_returns_parent(store: ObjectStore, config: PipelineConfig) -> None:
    ds = config.dataset
    part = write_part(store, _batch(50, 1, 0), ds, _src("a.csv"))
    first = create_snapshot(store, ds, None, [part])
    before = _files(store)
    assert create_snapshot(store, ds, first, []) is first
    assert create_snapshot(store, ds, first, [part]) is first  # already known part
    assert _files(store) == before


def test_first_snapshot_without_parts_is_an_error(store: ObjectStore, config: PipelineConfig) -> None:
    with pytest.raises(SnapshotError, match="no parts"):
        create_snapshot(store, config.dataset, None, [])


def test_duplicate_new_parts_are_listed_once(store: ObjectStore, config: PipelineConfig) -> None:
    ds = config.dataset
    frame = _batch(50, 1, 0)
    a = write_part(store, frame, ds, _src("a.csv"))
    b = write_part(store, frame, ds, _src("copy_of_a.csv"))
    snap = create_snapshot(store, ds, None, [a, b])
    assert snap.rows == 50
    assert len(load_snapshot(store, snap)) == 50


# -- loading ------------------------------------------------------------------------------------------
def test_load_snapshot_round_trips_values_and_dtypes(store: ObjectStore, config: PipelineConfig) -> None:
    ds = config.dataset
    b1, b2 = _batch(40, 1, 0), _batch(25, 2, 1000)
    first = create_snapshot(store, ds, None, [write_part(store, b1, ds, _src("a"))])
    second = create_snapshot(store, ds, first, [write_part(store, b2, ds, _src("b"))])
    loaded = load_snapshot(store, second)
    expected = pd.concat([b1, b2], ignore_index=True)[ds.columns]
    assert list(loaded.columns) == ds.columns
    assert len(loaded) == 65
    for col in ds.numeric_names:
        assert loaded[col].dtype == np.float64, col
        np.testing.assert_array_equal(loaded[col].to_numpy(), expected[col].astype("float64").to_numpy())
    for col in [*ds.id_columns, *ds.categorical_names, ds.label]:
        assert pd.api.types.is_string_dtype(loaded[col]), col
        assert loaded[col].tolist() == expected[col].tolist(), col
    assert loaded["data_usage_gb"].isna().sum() == expected["data_usage_gb"].isna().sum()
    # time travel: the first snapshot still reads as it was
    assert load_snapshot(store, first)["customer_id"].tolist() == b1["customer_id"].tolist()


def test_read_manifest_round_trip(store: ObjectStore, config: PipelineConfig) -> None:
    ds = config.dataset
    snap = create_snapshot(store, ds, None, [write_part(store, _batch(20, 1, 0), ds, _src("a.csv"))])
    read = read_manifest(store, snap.id)
    assert read == snap
    assert Snapshot.from_dict(snap.to_dict()) == snap
    assert read.source_checksums == {_src("a.csv").sha256}
    assert dict(read.schema)["age"] == "double" and dict(read.schema)["region"] == "string"


def test_read_manifest_unknown_id(store: ObjectStore) -> None:
    with pytest.raises(SnapshotError) as info:
        read_manifest(store, "deadbeefdeadbeef")
    msg = str(info.value)
    assert "'deadbeefdeadbeef'" in msg
    assert "not found" in msg
    assert "ct snapshots list" in msg


def test_missing_part_is_reported(store: ObjectStore, config: PipelineConfig, tmp_path: Path) -> None:
    ds = config.dataset
    snap = create_snapshot(store, ds, None, [write_part(store, _batch(20, 1, 0), ds, _src("a.csv"))])
    (tmp_path / "store" / snap.parts[0].key).unlink()
    with pytest.raises(SnapshotError, match="missing"):
        load_snapshot(store, snap)
    with pytest.raises(SnapshotError, match="no parts"):
        load_parts(store, [])


def test_new_parts_since(store: ObjectStore, config: PipelineConfig) -> None:
    ds = config.dataset
    p1 = write_part(store, _batch(20, 1, 0), ds, _src("a"))
    p2 = write_part(store, _batch(20, 2, 1000), ds, _src("b"))
    p3 = write_part(store, _batch(20, 3, 2000), ds, _src("c"))
    s1 = create_snapshot(store, ds, None, [p1])
    s2 = create_snapshot(store, ds, s1, [p2])
    s3 = create_snapshot(store, ds, s2, [p3])
    assert new_parts_since(s3, None) == [p1, p2, p3]
    assert new_parts_since(s3, s1) == [p2, p3]
    assert new_parts_since(s3, s2) == [p3]
    assert new_parts_since(s3, s3) == []


# -- ingest times: recorded, but not part of any id -----------------------------------------------------
def test_ingest_time_is_recorded_but_not_hashed(store: ObjectStore, config: PipelineConfig) -> None:
    ds = config.dataset
    frame = _batch(30, 1, 0)
    early = write_part(store, frame, ds, _src("a.csv"), ingested_at="2024-01-01T00:00:00+00:00")
    late = write_part(store, frame, ds, _src("a.csv"), ingested_at="2025-06-01T00:00:00+00:00")
    assert early.id == late.id and early.content() == late.content()
    other_root = ObjectStore(store.root_url + "-other")
    snap = create_snapshot(store, ds, None, [early])
    again = create_snapshot(other_root, ds, None, [late])
    assert snap.id == again.id  # the same data at another time: the same snapshot id
    stored = json.loads(store.get(manifest_key(snap.id)))
    assert stored["parts"][0]["ingested_at"] == "2024-01-01T00:00:00+00:00"
    assert read_manifest(store, snap.id).parts[0].ingested_at == "2024-01-01T00:00:00+00:00"


def test_parts_of_old_manifests_inherit_the_parent_time(store: ObjectStore, config: PipelineConfig) -> None:
    ds = config.dataset
    first = create_snapshot(store, ds, None, [write_part(store, _batch(20, 1, 0), ds, _src("a"))])
    legacy = Snapshot(
        **{
            **first.__dict__,
            "parts": tuple(replace(p, ingested_at=None) for p in first.parts),
            "created_at": "2023-03-03T00:00:00+00:00",
        }
    )
    assert "ingested_at" not in legacy.to_dict()["parts"][0]
    child = create_snapshot(store, ds, legacy, [write_part(store, _batch(20, 2, 100), ds, _src("b"))])
    assert child.parts[0].ingested_at == "2023-03-03T00:00:00+00:00"
    assert child.id == create_snapshot(store, ds, first, [child.parts[1]]).id


def test_source_watermark_is_kept_only_for_table_reads(store: ObjectStore, config: PipelineConfig) -> None:
    assert "watermark" not in _src("a.csv").to_dict()
    table_src = SourceFile("crm:customers", "ab" * 32, 0, watermark="int:42")
    part = write_part(store, _batch(10, 1, 0), config.dataset, table_src)
    snap = create_snapshot(store, config.dataset, None, [part])
    assert read_manifest(store, snap.id).parts[0].source.watermark == "int:42"


# -- the Arrow view ---------------------------------------------------------------------------------------
def test_arrow_dataset_reads_parts_in_place(store: ObjectStore, config: PipelineConfig) -> None:
    ds = config.dataset
    b1, b2 = _batch(40, 1, 0), _batch(25, 2, 1000)
    first = create_snapshot(store, ds, None, [write_part(store, b1, ds, _src("a"))])
    second = create_snapshot(store, ds, first, [write_part(store, b2, ds, _src("b"))])
    files_before = _files(store)
    view = snapshot_dataset(store, second)
    assert sorted(view.files) == sorted(store.path(p.key) for p in second.parts)  # the parts themselves
    assert view.count_rows() == 65
    assert view.schema.field("age").type == "double"
    young = view.to_table(columns=["customer_id"], filter=pads.field("age") < 30).to_pandas()
    expected = pd.concat([b1, b2])
    assert sorted(young["customer_id"]) == sorted(expected.loc[expected["age"] < 30, "customer_id"])
    pd.testing.assert_frame_equal(view.to_table().to_pandas(), load_snapshot(store, second))
    assert snapshot_dataset(store, second, second.parts[1:]).count_rows() == 25
    assert _files(store) == files_before  # nothing copied


def test_removed_snapshot_says_so(store: ObjectStore, config: PipelineConfig) -> None:
    snap = create_snapshot(
        store, config.dataset, None, [write_part(store, _batch(10, 1, 0), config.dataset, _src("a"))]
    )
    store.put(
        tombstone_key(snap.id),
        json.dumps({"by": "ct snapshots gc", "removed_at": "2025-01-01T00:00:00+00:00", "why": "not kept"}).encode(),
    )
    store.delete(manifest_key(snap.id))
    with pytest.raises(SnapshotError, match="removed by ct snapshots gc at 2025-01-01"):
        read_manifest(store, snap.id)
