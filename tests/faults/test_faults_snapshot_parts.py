"""A damaged snapshot part is found and named, never read as if it were the data it replaced.

A part file is named by the hash of its rows, so a part rewritten with every label flipped, cut
short or overwritten with garbage no longer is what its name promises. Reading it (training,
validation, ``ct snapshots diff``) stops with :class:`PartDamaged`, which names the snapshot, the
part, the key and what to do; ``ct snapshots verify`` lists every damaged part.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipeline.app.demo_data import BatchSpec, generate_batch
from pipeline.app.stages.data import training_data
from pipeline.app.workspace import Workspace
from pipeline.core.config import PipelineConfig
from pipeline.core.errors import PartDamaged, SnapshotError
from pipeline.core.settings import Settings
from pipeline.core.storage import ObjectStore
from pipeline.data.snapshots import (
    Snapshot,
    SourceFile,
    create_snapshot,
    diff_snapshots,
    load_snapshot,
    manifest_key,
    read_manifest,
    snapshot_dataset,
    write_part,
)


def _src(name: str) -> SourceFile:
    return SourceFile(name=name, sha256=name.encode().hex().ljust(64, "0")[:64], size=123)


@pytest.fixture
def ws(settings: Settings, config: PipelineConfig) -> Workspace:
    return Workspace(settings=settings, config=config)


def _two_part_snapshot(store: ObjectStore, config: PipelineConfig) -> Snapshot:
    first = create_snapshot(
        store,
        config.dataset,
        None,
        [write_part(store, generate_batch(BatchSpec(rows=300, seed=1, first_id=0)), config.dataset, _src("first.csv"))],
    )
    return create_snapshot(
        store,
        config.dataset,
        first,
        [
            write_part(
                store, generate_batch(BatchSpec(rows=300, seed=2, first_id=10_000)), config.dataset, _src("second.csv")
            )
        ],
    )


def _flip_labels(store: ObjectStore, key: str) -> None:
    """Rewrite a part in place with every label flipped: a valid Parquet file with the wrong rows."""
    table = pq.read_table(io.BytesIO(store.get(key)))
    label = table.column("churned")
    flipped = pc.if_else(pc.equal(label, "yes"), "no", "yes")
    table = table.set_column(table.schema.get_field_index("churned"), "churned", flipped)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    Path(store.path(key)).write_bytes(buf.getvalue())


def _without_file_checksums(store: ObjectStore, snapshot: Snapshot) -> Snapshot:
    """The manifest as written before file checksums were recorded (the rows must be re-hashed)."""
    data = json.loads(store.get(manifest_key(snapshot.id)))
    for part in data["parts"]:
        part.pop("file_sha256", None)
    store.replace(manifest_key(snapshot.id), json.dumps(data).encode())
    return read_manifest(store, snapshot.id)


@pytest.mark.parametrize("manifest", ["with file checksums", "older manifest without them"])
def test_a_part_with_every_label_flipped_is_refused_by_name(
    ws: Workspace, config: PipelineConfig, manifest: str
) -> None:
    snapshot = _two_part_snapshot(ws.store, config)
    if manifest != "with file checksums":
        snapshot = _without_file_checksums(ws.store, snapshot)
    damaged = snapshot.parts[1]
    _flip_labels(ws.store, damaged.key)

    with pytest.raises(PartDamaged) as caught:
        load_snapshot(ws.store, snapshot)
    err = caught.value
    assert (err.part_id, err.key, err.snapshot_id) == (damaged.id, damaged.key, snapshot.id)
    message = str(err)
    for needed in (snapshot.id, damaged.id, damaged.key, "ct snapshots verify", "backup", "second.csv"):
        assert needed in message
    with pytest.raises(PartDamaged, match=snapshot.id):  # before training: the stage that reads its rows
        training_data(ws, snapshot.id)
    with pytest.raises(PartDamaged):
        snapshot_dataset(ws.store, snapshot)
    with pytest.raises(PartDamaged):
        diff_snapshots(ws.store, read_manifest(ws.store, snapshot.parent), snapshot, config.dataset)


def test_a_part_verified_once_is_checked_again_when_it_changes(ws: Workspace, config: PipelineConfig) -> None:
    snapshot = _without_file_checksums(ws.store, _two_part_snapshot(ws.store, config))
    assert len(load_snapshot(ws.store, snapshot)) == 600  # rows hashed and remembered for this process
    _flip_labels(ws.store, snapshot.parts[0].key)
    with pytest.raises(PartDamaged):
        load_snapshot(ws.store, snapshot)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "missing"])
def test_an_unreadable_part_is_a_part_damaged_error_not_an_arrow_traceback(
    ws: Workspace, config: PipelineConfig, damage: str
) -> None:
    snapshot = _two_part_snapshot(ws.store, config)
    part = snapshot.parts[0]
    path = Path(ws.store.path(part.key))
    data = path.read_bytes()
    if damage == "missing":
        path.unlink()
    else:
        path.write_bytes(
            {"truncated": data[: len(data) // 2], "garbage": b"\x00not parquet\xff" * 64, "empty": b""}[damage]
        )
    with pytest.raises(PartDamaged) as caught:
        load_snapshot(ws.store, snapshot)
    assert isinstance(caught.value, SnapshotError)  # callers that handle snapshot errors keep working
    assert part.id in str(caught.value) and "ct snapshots verify" in str(caught.value)


def test_ct_snapshots_verify_lists_each_damaged_part(
    ws: Workspace,
    config: PipelineConfig,
    settings: Settings,
    run_ct: Callable[..., tuple[int, str, str]],
) -> None:
    snapshot = _two_part_snapshot(ws.store, config)
    code, out, _ = run_ct(settings, "snapshots", "verify")
    assert code == 0 and "all intact" in out

    first, second = snapshot.parts
    _flip_labels(ws.store, second.key)
    Path(ws.store.path(first.key)).write_bytes(b"garbage")
    code, out, _ = run_ct(settings, "snapshots", "verify", "--json")
    report = json.loads(out)
    assert code == 1 and not report["ok"] and report["parts_checked"] == 2
    found = {d["part_id"]: d for d in report["damaged_parts"]}
    assert set(found) == {first.id, second.id}
    assert "hash" in found[second.id]["problem"] and "Parquet" in found[first.id]["problem"]
    assert found[first.id]["snapshots"] == [snapshot.parent, snapshot.id]  # every snapshot that holds it
    code, out, _ = run_ct(settings, "snapshots", "verify", snapshot.id)
    assert code == 1 and first.id[:16] in out and second.id[:16] in out and "backup" in out


def test_rewriting_the_same_rows_repairs_a_damaged_part(ws: Workspace, config: PipelineConfig) -> None:
    frame = generate_batch(BatchSpec(rows=200, seed=5))
    part = write_part(ws.store, frame, config.dataset, _src("a.csv"))
    _flip_labels(ws.store, part.key)
    again = write_part(ws.store, frame, config.dataset, _src("a.csv"))  # e.g. the rerun after a crash
    snapshot = create_snapshot(ws.store, config.dataset, None, [again])
    assert load_snapshot(ws.store, snapshot)["churned"].tolist() == frame["churned"].tolist()


def test_file_checksum_is_recorded_but_kept_out_of_the_snapshot_id(ws: Workspace, config: PipelineConfig) -> None:
    snapshot = _two_part_snapshot(ws.store, config)
    assert all(p.file_sha256 for p in read_manifest(ws.store, snapshot.id).parts)
    assert all("file_sha256" not in p.content() for p in snapshot.parts)
    assert snapshot.id == _two_part_snapshot(ws.store, config).id
