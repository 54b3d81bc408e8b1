"""The ingest stage end to end: chunked parts, append, idempotency, completeness, quarantine reasons,
time travel, diff through the CLI, and an object-store data root."""

from __future__ import annotations

import dataclasses
import json
import os
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.app import stages
from pipeline.app.demo_data import BatchSpec, generate_batch
from pipeline.app.workspace import Workspace
from pipeline.cli import main as ct_main
from pipeline.core.config import PipelineConfig
from pipeline.core.settings import Settings
from pipeline.data.ingestion import PENDING_DIR, ROW_REASON_COLUMN
from pipeline.data.snapshots import load_snapshot, read_manifest

CHUNK = 100


def _workspace(settings: Settings, config: PipelineConfig, **ingest: object) -> Workspace:
    settings.landing.mkdir(parents=True, exist_ok=True)
    return Workspace(
        settings=settings,
        config=config.model_copy(
            update={"ingest": config.ingest.model_copy(update={"stable_seconds": 5, "chunk_rows": CHUNK, **ingest})}
        ),
    )


@pytest.fixture
def ws(settings: Settings, config: PipelineConfig) -> Workspace:
    return _workspace(settings, config)


def _age(path: Path, seconds: float = 60) -> Path:
    past = time.time() - seconds
    os.utime(path, (past, past))
    return path


def _drop(ws: Workspace, frame: pd.DataFrame, name: str) -> Path:
    path = ws.settings.landing / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if name.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return _age(path)


def _copy_in(ws: Workspace, original: Path, name: str) -> Path:
    """Drop a byte-identical copy of an archived file into the landing area again."""
    target = ws.settings.landing / name
    target.write_bytes(original.read_bytes())
    return _age(target)


def _objects(ws: Workspace) -> set[str]:
    return set(ws.store.list("snapshots"))


def _batch(rows: int, seed: int) -> pd.DataFrame:
    return generate_batch(BatchSpec(rows=rows, seed=seed, first_id=seed * 100_000))


def test_a_large_file_becomes_one_part_per_chunk_and_an_append_writes_only_its_part(ws: Workspace) -> None:
    first_batch, second_batch = _batch(450, 1), _batch(60, 2)
    _drop(ws, first_batch, "big.csv")
    first = stages.ingest_landing(ws)
    snap1 = read_manifest(ws.store, first.snapshot_id)
    assert [p.rows for p in snap1.parts] == [100, 100, 100, 100, 50]
    assert {p.source.name for p in snap1.parts} == {"big.csv"}
    before = _objects(ws)

    _drop(ws, second_batch, "small.parquet")
    second = stages.ingest_landing(ws)
    snap2 = read_manifest(ws.store, second.snapshot_id)
    added = _objects(ws) - before
    assert added == {snap2.parts[-1].key, f"snapshots/manifests/{snap2.id}.json"}  # one part, one manifest
    assert (second.new_rows, second.rows, snap2.parent) == (60, 510, snap1.id)
    assert snap2.parts[:5] == snap1.parts  # the history is shared, not copied

    # time travel: each id still reads as it was
    old = stages.snapshot_frame(ws, first.snapshot_id)
    assert old["customer_id"].tolist() == first_batch["customer_id"].tolist()
    new = stages.snapshot_frame(ws, second.snapshot_id)
    assert new["customer_id"].tolist() == [*first_batch["customer_id"], *second_batch["customer_id"]]
    np.testing.assert_allclose(new["monthly_charges"].to_numpy()[-60:], second_batch["monthly_charges"].to_numpy())


def test_ingesting_the_same_files_again_is_a_no_op(ws: Workspace) -> None:
    _drop(ws, _batch(250, 1), "a.csv")
    _drop(ws, _batch(50, 2), "b.parquet")
    first = stages.ingest_landing(ws)
    objects, snapshots = _objects(ws), ws.meta.list_snapshots()
    for archived in ws.settings.archive.rglob("*.*"):
        _copy_in(ws, archived, archived.name)
    again = stages.ingest_landing(ws)
    assert (again.snapshot_id, again.created, again.new_rows) == (first.snapshot_id, False, 0)
    assert sorted(q["code"] for q in again.quarantined) == ["duplicate_file", "duplicate_file"]
    assert _objects(ws) == objects and ws.meta.list_snapshots() == snapshots


def test_same_files_in_a_fresh_store_give_the_same_id(
    settings: Settings, config: PipelineConfig, tmp_path: Path
) -> None:
    frames = {"a.csv": _batch(230, 1), "b.parquet": _batch(40, 2)}
    ids = []
    for home in (settings.home, tmp_path / "other_home"):
        home.mkdir(exist_ok=True)
        ws = _workspace(
            dataclasses.replace(
                settings, home=home, data_url=home.as_uri(), database_url=f"sqlite:///{home / 'ct.db'}"
            ),
            config,
        )
        for name, frame in frames.items():
            _drop(ws, frame, name)
        ids.append(stages.ingest_landing(ws).snapshot_id)
    assert ids[0] == ids[1]


def test_an_incomplete_file_is_left_alone_until_complete(ws: Workspace) -> None:
    path = ws.settings.landing / "growing.csv"
    frame = _batch(120, 3)
    frame.head(40).to_csv(path, index=False)  # a producer is still writing: modified just now
    assert stages.ready_landing_files(ws) == []
    out = stages.ingest_landing(ws)
    assert out.snapshot_id is None and path.exists() and out.quarantined == []
    frame.to_csv(path, index=False)  # the producer finishes; the file is still fresh
    assert stages.ingest_landing(ws).snapshot_id is None
    _age(path)  # unchanged for longer than ingest.stable_seconds
    done = stages.ingest_landing(ws)
    assert done.created and done.rows == 120 and not path.exists()


def test_a_marker_makes_a_fresh_folder_complete(ws: Workspace) -> None:
    folder = ws.settings.landing / "batch-7"
    folder.mkdir()
    _batch(30, 4).to_csv(folder / "part-0.csv", index=False)
    _batch(30, 5).to_csv(folder / "part-1.csv", index=False)
    assert stages.ingest_landing(ws).snapshot_id is None
    (folder / "_SUCCESS").touch()
    out = stages.ingest_landing(ws)
    assert out.rows == 60 and sorted(out.accepted) == ["part-0.csv", "part-1.csv"]
    assert not folder.exists()  # marker and folder tidied once everything in it was taken


def test_every_quarantine_reason(ws: Workspace) -> None:
    good = _batch(200, 1)
    landing = ws.settings.landing
    _drop(ws, good, "good.csv")
    (landing / "unparseable.csv").write_text(good.head(150).to_csv(index=False) + "C1,1,2,3,4,5,6,a,b,c,d,yes,x,y\n")
    _drop(ws, good.drop(columns=["age"]), "wrong_columns.csv")
    typed = good.astype({"age": object})
    typed.loc[120:, "age"] = "old"  # the first chunk is clean; the file as a whole is 40 % bad
    _drop(ws, typed, "wrong_types.csv")
    (landing / "empty.csv").write_bytes(b"")
    (landing / "not_utf8.csv").write_bytes(good.assign(region="Zürich").to_csv(index=False).encode("cp1252"))
    for p in landing.glob("*.csv"):
        _age(p)
    first = stages.ingest_landing(ws)
    codes = {q["file"]: q["code"] for q in first.quarantined}
    assert codes == {
        "unparseable.csv": "unparseable",
        "wrong_columns.csv": "wrong_columns",
        "wrong_types.csv": "wrong_types",
        "empty.csv": "empty_file",
        "not_utf8.csv": "not_utf8",
    }
    assert first.accepted == ["good.csv"] and first.rows == 200
    # parts written for the late-rejected files are referenced by no manifest
    listed = {p.key for p in read_manifest(ws.store, first.snapshot_id).parts}
    assert len(listed) == 2 and len(ws.store.list("snapshots/parts")) > len(listed)
    _copy_in(ws, next(ws.settings.archive.rglob("good.csv")), "good-again.csv")
    second = stages.ingest_landing(ws)
    assert [(q["file"], q["code"]) for q in second.quarantined] == [("good-again.csv", "duplicate_file")]
    reasons = {p: json.loads(p.read_text()) for p in ws.settings.quarantine.rglob("*.reason.json")}
    assert {r["file"]: r["code"] for r in reasons.values()} == {**codes, "good-again.csv": "duplicate_file"}
    for path, reason in reasons.items():
        assert (path.parent / reason["file"]).is_file()  # the file itself sits beside its reason
        assert reason["file"] in reason["message"]
    assert [p.name for p in landing.iterdir()] == []


def test_rejected_rows_reach_quarantine_after_the_manifest(ws: Workspace) -> None:
    frame = _batch(300, 1).astype({"age": object})
    frame.loc[[5, 150, 299], "age"] = "unknown"
    _drop(ws, frame, "rows.csv")
    out = stages.ingest_landing(ws)
    assert (out.rejected_rows, out.rows) == (3, 297)
    files = list(ws.settings.quarantine.rglob("rows.rejected_rows.csv"))
    assert len(files) == 1
    rejected = pd.read_csv(files[0])
    assert rejected["_ct_source_row"].tolist() == [7, 152, 301]
    assert rejected[ROW_REASON_COLUMN].tolist() == ["age: not a number"] * 3
    assert list((ws.settings.quarantine / PENDING_DIR).iterdir()) == []


def test_diff_through_the_cli(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _drop(ws, _batch(200, 1), "a.csv")
    a = stages.ingest_landing(ws).snapshot_id
    _drop(ws, _batch(100, 2).assign(plan="premium"), "b.csv")
    b = stages.ingest_landing(ws).snapshot_id
    monkeypatch.setenv("CT_HOME", str(ws.settings.home))
    monkeypatch.setenv("CT_DATABASE_URL", ws.settings.database_url)
    for var in ("CT_DATA_URL", "CT_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    assert ct_main(["snapshots", "diff", a[:6], b, "--json"]) == 0
    diff = json.loads(capsys.readouterr().out)
    assert (diff["a"], diff["b"], diff["rows_added"], len(diff["parts_added"])) == (a, b, 100, 1)
    assert diff["columns"]["plan"]["b"]["levels"]["premium"] > diff["columns"]["plan"]["a"]["levels"]["premium"]
    assert ct_main(["snapshots", "diff", a, b]) == 0
    text = capsys.readouterr().out
    assert f"snapshot {a} → {b}" in text and "+100 rows in 1 part(s) added" in text and "premium" in text


def test_ingest_into_an_object_store_url(settings: Settings, config: PipelineConfig) -> None:
    remote = dataclasses.replace(settings, data_url=f"memory://ct-ingest-{uuid.uuid4().hex[:8]}")
    ws = _workspace(remote, config)
    try:
        _drop(ws, _batch(150, 1), "a.csv")
        first = stages.ingest_landing(ws)
        _drop(ws, _batch(50, 2), "b.parquet")
        second = stages.ingest_landing(ws)
        assert ws.meta.get_snapshot(second.snapshot_id).manifest_uri.startswith("memory://ct-ingest-")
        assert len(load_snapshot(ws.store, read_manifest(ws.store, second.snapshot_id))) == 200
        assert len(stages.snapshot_frame(ws, first.snapshot_id)) == 150
        assert not (settings.home / "snapshots").exists()
    finally:
        ws.store.fs.rm(ws.store.root, recursive=True)
