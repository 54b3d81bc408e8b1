"""Unit tests for pipeline.snapshots: content-addressed parts and manifests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.config import PipelineConfig
from pipeline.demo import BatchSpec, generate_batch
from pipeline.errors import SnapshotError
from pipeline.snapshots import (
    Snapshot,
    SourceFile,
    create_snapshot,
    load_parts,
    load_snapshot,
    manifest_key,
    new_parts_since,
    read_manifest,
    write_part,
)
from pipeline.storage import ObjectStore


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
    assert write_part(store, frame, config.dataset, _src("a")).id == write_part(store, shuffled, config.dataset, _src("b")).id
    changed = frame.copy()
    changed.loc[0, "age"] = changed.loc[0, "age"] + 1
    assert write_part(store, changed, config.dataset, _src("a")).id != write_part(store, frame, config.dataset, _src("a")).id


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
