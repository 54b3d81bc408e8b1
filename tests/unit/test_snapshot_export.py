"""``ct snapshots export ID --to FILE``: every row of every part, verified, written atomically."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pandas as pd
import pytest

from pipeline.app import stages
from pipeline.app.demo_data import BatchSpec, generate_batch
from pipeline.app.workspace import Workspace
from pipeline.cli import main as ct_main
from pipeline.core.config import load_config
from pipeline.core.settings import BUNDLED_CONFIG, Settings
from pipeline.data.snapshots import read_manifest


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "exports"
    folder.mkdir()
    return folder


@pytest.fixture
def ws(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setenv("CT_HOME", str(settings.home))
    monkeypatch.setenv("CT_DATABASE_URL", settings.database_url)
    monkeypatch.delenv("CT_DATA_URL", raising=False)
    monkeypatch.delenv("CT_CONFIG", raising=False)
    config = load_config(BUNDLED_CONFIG)
    return Workspace(
        settings=settings,
        config=config.model_copy(update={"ingest": config.ingest.model_copy(update={"stable_seconds": 0})}),
    )


def _two_part_snapshot(ws: Workspace) -> tuple[str, pd.DataFrame]:
    ws.settings.landing.mkdir(parents=True, exist_ok=True)
    frames = []
    for index in (1, 2):
        frame = generate_batch(BatchSpec(rows=60, seed=index, first_id=index * 10_000))
        path = ws.settings.landing / f"b{index}.csv"
        frame.to_csv(path, index=False)
        os.utime(path, (time.time() - 60, time.time() - 60))
        frames.append(frame)
        snapshot_id = stages.ingest_landing(ws).snapshot_id
    return snapshot_id, pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_export_writes_every_row_of_every_part(
    ws: Workspace, out_dir: Path, suffix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    snapshot_id, landed = _two_part_snapshot(ws)
    assert len(read_manifest(ws.store, snapshot_id).parts) == 2
    target = out_dir / f"out{suffix}"
    assert ct_main(["snapshots", "export", snapshot_id[:8], "--to", str(target), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rows"] == 120 and out["snapshot_id"] == snapshot_id and out["path"] == str(target)
    back = pd.read_parquet(target) if suffix == ".parquet" else pd.read_csv(target)
    assert len(back) == 120
    assert sorted(back["customer_id"].astype(str)) == sorted(landed["customer_id"].astype(str))
    assert [p.name for p in out_dir.iterdir()] == [target.name]  # no temporary file left beside it


def test_export_refuses_to_overwrite_without_force(
    ws: Workspace, out_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snapshot_id, _ = _two_part_snapshot(ws)
    target = out_dir / "out.csv"
    target.write_text("keep me\n")
    assert ct_main(["snapshots", "export", snapshot_id, "--to", str(target)]) == 2
    err = capsys.readouterr().err
    assert "exists already" in err and "--force" in err
    assert target.read_text() == "keep me\n"
    assert ct_main(["snapshots", "export", snapshot_id, "--to", str(target), "--force"]) == 0
    assert "wrote snapshot" in capsys.readouterr().out and len(pd.read_csv(target)) == 120


def test_export_names_the_formats_for_an_unknown_extension(
    ws: Workspace, out_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snapshot_id, _ = _two_part_snapshot(ws)
    assert ct_main(["snapshots", "export", snapshot_id, "--to", str(out_dir / "out.xlsx")]) == 2
    err = capsys.readouterr().err
    assert "unknown extension '.xlsx'" in err and ".parquet" in err and ".csv" in err
    assert not (out_dir / "out.xlsx").exists()


def test_export_stops_on_a_damaged_part(ws: Workspace, out_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    snapshot_id, _ = _two_part_snapshot(ws)
    part = read_manifest(ws.store, snapshot_id).parts[0]
    path = Path(ws.settings.home) / part.key
    path.write_bytes(path.read_bytes()[:-40])
    target = out_dir / "out.parquet"
    assert ct_main(["snapshots", "export", snapshot_id, "--to", str(target)]) == 2
    assert "is damaged" in capsys.readouterr().err
    assert list(out_dir.iterdir()) == []
