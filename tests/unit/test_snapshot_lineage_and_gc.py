"""Lineage (snapshot -> parts -> files, file -> models) and retention (`ct snapshots gc`) on a workspace."""

from __future__ import annotations

import dataclasses
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from pipeline.app import stages
from pipeline.app.demo_data import BatchSpec, generate_batch
from pipeline.app.workspace import Workspace
from pipeline.cli import main as ct_main
from pipeline.core.config import PipelineConfig
from pipeline.core.errors import SnapshotError
from pipeline.core.settings import Settings
from pipeline.data.retention import collect_garbage
from pipeline.data.snapshot_lineage import models_trained_on, resolve_snapshot, snapshot_lineage
from pipeline.data.snapshots import (
    SourceFile,
    create_snapshot,
    list_manifest_ids,
    read_manifest,
    write_part,
)
from pipeline.registry.base import NewModelVersion


def _workspace(settings: Settings, config: PipelineConfig) -> Workspace:
    settings.landing.mkdir(parents=True, exist_ok=True)
    return Workspace(
        settings=settings,
        config=config.model_copy(update={"ingest": config.ingest.model_copy(update={"stable_seconds": 0})}),
    )


@pytest.fixture
def ws(settings: Settings, config: PipelineConfig) -> Workspace:
    return _workspace(settings, config)


def _land(ws: Workspace, name: str, seed: int, rows: int = 80) -> Path:
    path = ws.settings.landing / name
    generate_batch(BatchSpec(rows=rows, seed=seed, first_id=seed * 10_000)).to_csv(path, index=False)
    past = time.time() - 60
    os.utime(path, (past, past))
    return path


def _ingest(ws: Workspace, name: str, seed: int) -> str:
    _land(ws, name, seed)
    out = stages.ingest_landing(ws)
    assert out.created
    return out.snapshot_id


def _register(ws: Workspace, snapshot_id: str, tag: str, lineage: dict[str, Any] | None = None) -> int:
    mv, _ = ws.meta.register_model(
        NewModelVersion(
            name="churn-classifier",
            snapshot_id=snapshot_id,
            config_hash=tag,
            spec_name="default",
            params={},
            metrics={},
            evaluation={},
            artifact_uri=f"artifacts/{tag}",
            artifact_sha256="0" * 64,
            validation_id=None,
            trigger={"kind": "test"},
            code_version="test",
            lineage=lineage or {},
        )
    )
    return mv.version


def _sha(ws: Workspace, name: str) -> str:
    return next(
        p for p in read_manifest(ws.store, ws.meta.latest_snapshot("churn").id).parts if p.source.name == name
    ).source.sha256


# -- lineage ------------------------------------------------------------------------------------------
def test_snapshot_lineage_walks_to_archived_files(ws: Workspace) -> None:
    s1 = _ingest(ws, "a.csv", 1)
    s2 = _ingest(ws, "b.csv", 2)
    _register(ws, s2, "cfg")
    data = snapshot_lineage(ws, s2[:8])
    assert data["snapshot_id"] == s2 and data["parent"] == s1 and data["rows"] == 160
    assert [s["name"] for s in data["sources"]] == ["a.csv", "b.csv"]
    for src in data["sources"]:
        archived = Path(src["archive_path"])
        assert archived.exists() and archived.parent.name == src["sha256"]
        assert (src["kind"], src["parts"], src["rows"]) == ("file", 1, 80)
    assert [p["uri"].startswith(ws.store.root_url) for p in data["parts"]] == [True, True]
    assert all(p["ingested_at"] for p in data["parts"])
    assert data["models"] == [{"name": "churn-classifier", "version": 1, "aliases": []}]


def test_models_trained_on_a_file(ws: Workspace) -> None:
    s1 = _ingest(ws, "a.csv", 1)
    v1 = _register(ws, s1, "c1")
    s2 = _ingest(ws, "b.csv", 2)
    v2 = _register(ws, s2, "c2")
    # v3 trained on s2 with a window of its last part only (as recorded in its lineage)
    last = read_manifest(ws.store, s2).parts[-1].id
    v3 = _register(ws, s2, "c3", {"snapshot_parts": [last], "window": {"kind": "last_parts", "value": 1}})
    sha_a, sha_b = _sha(ws, "a.csv"), _sha(ws, "b.csv")
    assert [m["version"] for m in models_trained_on(ws, "a.csv")] == [v2, v1]
    assert [m["version"] for m in models_trained_on(ws, sha_a)] == [v2, v1]
    assert [m["version"] for m in models_trained_on(ws, sha_a[:10].upper())] == [v2, v1]
    found_b = models_trained_on(ws, sha_b)
    assert [m["version"] for m in found_b] == [v3, v2]
    assert found_b[0]["window"] == {"kind": "last_parts", "value": 1}
    assert found_b[0]["files"] == [{"name": "b.csv", "sha256": sha_b}] and found_b[0]["rows"] == 80
    archived = next(ws.settings.archive.rglob("a.csv"))
    renamed = ws.settings.home / "renamed.csv"
    renamed.write_bytes(archived.read_bytes())
    assert [m["version"] for m in models_trained_on(ws, str(renamed))] == [v2, v1]  # a path is hashed
    assert models_trained_on(ws, "nothing.csv") == []
    assert models_trained_on(ws, "deadbeefdeadbeef") == []


def test_used_by_cli_json(ws: Workspace, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    s1 = _ingest(ws, "a.csv", 1)
    _register(ws, s1, "c1")
    monkeypatch.setenv("CT_HOME", str(ws.settings.home))
    monkeypatch.setenv("CT_DATABASE_URL", ws.settings.database_url)
    monkeypatch.delenv("CT_DATA_URL", raising=False)
    monkeypatch.delenv("CT_CONFIG", raising=False)
    assert ct_main(["snapshots", "used-by", "a.csv", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert [(m["name"], m["version"], m["snapshot_id"]) for m in found] == [("churn-classifier", 1, s1)]
    assert ct_main(["snapshots", "used-by", "other.csv"]) == 0
    assert "no registered model version was trained on other.csv" in capsys.readouterr().out


def test_resolve_snapshot_finds_unindexed_manifests(ws: Workspace, config: PipelineConfig) -> None:
    frame = generate_batch(BatchSpec(rows=10, seed=9))
    orphan = create_snapshot(
        ws.store, config.dataset, None, [write_part(ws.store, frame, config.dataset, SourceFile("x.csv", "f" * 64, 1))]
    )
    assert resolve_snapshot(ws, orphan.id[:6]).id == orphan.id  # never recorded in the metadata index
    with pytest.raises(SnapshotError, match="not found"):
        resolve_snapshot(ws, "0000000000000000")


# -- retention ----------------------------------------------------------------------------------------
def _orphan_part(ws: Workspace, config: PipelineConfig) -> str:
    """A part no manifest lists (as left by a file rejected after its first chunks were written)."""
    frame = generate_batch(BatchSpec(rows=10, seed=77, first_id=900_000))
    return write_part(ws.store, frame, config.dataset, SourceFile("late.csv", "e" * 64, 1)).key


def _history(ws: Workspace, config: PipelineConfig) -> tuple[list[str], str]:
    ids = [_ingest(ws, f"f{i}.csv", i) for i in range(1, 4)]
    # a side branch: a snapshot made from the first one with a part no other snapshot has
    side = create_snapshot(
        ws.store,
        config.dataset,
        read_manifest(ws.store, ids[0]),
        [
            write_part(
                ws.store,
                generate_batch(BatchSpec(rows=10, seed=50, first_id=500_000)),
                config.dataset,
                SourceFile("side.csv", "d" * 64, 1),
            )
        ],
    )
    return ids, side.id


def test_gc_removes_only_what_nothing_references(ws: Workspace, config: PipelineConfig) -> None:
    (s1, s2, s3), side = _history(ws, config)
    orphan = _orphan_part(ws, config)
    v = _register(ws, s1, "old-model")
    side_part = read_manifest(ws.store, side).parts[-1].key
    keep_keys = {p.key for s in (s1, s3) for p in read_manifest(ws.store, s).parts}

    dry = collect_garbage(ws, keep_last=1, dry_run=True, min_age_seconds=0)
    assert dry.kept_snapshots == [s3] and dry.model_snapshots == [s1]
    assert sorted(dry.removed_manifests) == sorted([s2, side])
    assert sorted(dry.removed_parts) == sorted([orphan, side_part])
    assert dry.bytes_freed > 0
    assert sorted(list_manifest_ids(ws.store)) == sorted([s1, s2, s3, side])  # a dry run removes nothing
    assert ws.store.exists(orphan)

    report = collect_garbage(ws, keep_last=1, min_age_seconds=0)
    assert report.removed_parts == dry.removed_parts and report.removed_manifests == dry.removed_manifests
    assert sorted(list_manifest_ids(ws.store)) == sorted([s1, s3])
    assert set(ws.store.list("snapshots/parts")) == keep_keys
    # everything referenced still reads, the model's snapshot included
    assert stages.snapshot_frame(ws, s3).shape[0] == 240
    assert stages.snapshot_frame(ws, s1).shape[0] == 80
    assert ws.meta.get_model_version("churn-classifier", v).snapshot_id == s1
    with pytest.raises(SnapshotError, match="removed by ct snapshots gc"):
        read_manifest(ws.store, s2)
    again = collect_garbage(ws, keep_last=1, min_age_seconds=0)
    assert again.removed_parts == [] and again.removed_manifests == []


def test_gc_leaves_recent_objects_for_a_running_ingest(ws: Workspace, config: PipelineConfig) -> None:
    _ingest(ws, "f1.csv", 1)
    orphan = _orphan_part(ws, config)
    report = collect_garbage(ws, keep_last=1, min_age_seconds=3600)
    assert report.removed_parts == [] and report.skipped_young == 1
    assert ws.store.exists(orphan)


def test_gc_refuses_when_a_kept_manifest_is_unreadable(ws: Workspace, config: PipelineConfig) -> None:
    s1 = _ingest(ws, "f1.csv", 1)
    orphan = _orphan_part(ws, config)
    ws.store.delete(f"snapshots/manifests/{s1}.json")
    with pytest.raises(SnapshotError, match=f"refusing to collect garbage: snapshot {s1}"):
        collect_garbage(ws, keep_last=1, min_age_seconds=0)
    assert ws.store.exists(orphan)
    with pytest.raises(SnapshotError, match="at least 1"):
        collect_garbage(ws, keep_last=0)


def test_gc_on_an_object_store_url(settings: Settings, config: PipelineConfig) -> None:
    remote = dataclasses.replace(settings, data_url=f"memory://ct-gc-{uuid.uuid4().hex[:8]}")
    ws = _workspace(remote, config)
    try:
        (s1, _, s3), side = _history(ws, config)
        orphan = _orphan_part(ws, config)
        _register(ws, s1, "m")
        report = collect_garbage(ws, keep_last=1, min_age_seconds=0)
        assert orphan in report.removed_parts and side in report.removed_manifests
        assert sorted(list_manifest_ids(ws.store)) == sorted([s1, s3])
        assert not (settings.home / "snapshots").exists()  # nothing went to the local data directory
    finally:
        ws.store.fs.rm(ws.store.root, recursive=True)


def test_gc_cli_json(
    ws: Workspace, config: PipelineConfig, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _ingest(ws, "f1.csv", 1)
    orphan = _orphan_part(ws, config)
    monkeypatch.setenv("CT_HOME", str(ws.settings.home))
    monkeypatch.setenv("CT_DATABASE_URL", ws.settings.database_url)
    monkeypatch.delenv("CT_DATA_URL", raising=False)
    monkeypatch.delenv("CT_CONFIG", raising=False)
    assert ct_main(["snapshots", "gc", "--keep-last", "1", "--dry-run", "--min-age", "0", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dry_run"] is True and report["removed_parts"] == [orphan]
    assert ws.store.exists(orphan)
    with pytest.raises(SystemExit):
        ct_main(["snapshots", "gc", "--keep-last", "0"])
