"""Archived and quarantined landing files on S3 (moto's server), seen alike from two worker hosts.

Two workspaces share one metadata database and one ``s3://`` data root but have local data
directories of their own, as Celery workers on different hosts do. What one host took in or
refused settles in the bucket (:mod:`pipeline.data.landed_store`), its local archive and quarantine
empty, and the other host reads it from there: the reasons of refused files, the count of rows set
aside for a missing label, the lineage's archive URL, and the archive check that tells a re-dropped
copy of a file already taken in.
"""

from __future__ import annotations

import io
import multiprocessing
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from pipeline.app import stages
from pipeline.app.demo_data import BatchSpec, generate_batch
from pipeline.app.stages.ingest import quarantine_location, rejected_since
from pipeline.app.workspace import Workspace
from pipeline.core.config import PipelineConfig, load_config
from pipeline.core.settings import BUNDLED_CONFIG, Settings
from pipeline.core.storage import ObjectStore
from pipeline.data.ingestion import PENDING_DIR
from pipeline.data.landed_store import LandedStore
from pipeline.data.snapshot_lineage import snapshot_lineage
from pipeline.data.snapshots import read_manifest
from pipeline.quality.snapshot_validation import missing_labels_at_ingest

pytestmark = pytest.mark.slow


def _config() -> PipelineConfig:
    config = load_config(BUNDLED_CONFIG)
    return config.model_copy(update={"ingest": config.ingest.model_copy(update={"stable_seconds": 0})})


def _host(tmp_path: Path, name: str, data_url: str) -> Workspace:
    """One worker host: its own CT_HOME, the shared database and data root."""
    settings = Settings(
        home=tmp_path / name,
        config_path=BUNDLED_CONFIG,
        database_url=f"sqlite:///{tmp_path / 'shared.db'}",
        data_url=data_url,
    )
    return Workspace(settings=settings, config=_config())


def _local_files(home: Path) -> list[Path]:
    folders = [home / "archive", home / "quarantine"]
    return [p for d in folders if d.exists() for p in d.rglob("*") if p.is_file() and PENDING_DIR not in p.parts]


def test_what_one_host_archived_or_refused_is_on_s3_for_the_other(tmp_path: Path, s3_data_url: str) -> None:
    a, b = _host(tmp_path, "host-a", s3_data_url), _host(tmp_path, "host-b", s3_data_url)
    batch = generate_batch(BatchSpec(rows=300, seed=3)).astype({"churned": object})
    batch.loc[[5, 17, 60], "churned"] = None  # three rows set aside for a missing label
    a.settings.landing.mkdir(parents=True)
    good = a.settings.landing / "good.csv"
    batch.to_csv(good, index=False)
    good_bytes = good.read_bytes()
    (a.settings.landing / "broken.csv").write_bytes(good_bytes.replace(b"age,", b"years,", 1))
    (a.settings.landing / "elsewhere.csv").symlink_to(tmp_path / "outside.csv")  # never followed
    since = datetime.now(UTC).isoformat()

    out = stages.ingest_landing(a)

    assert out.accepted == ["good.csv"]
    assert sorted(q["file"] for q in out.quarantined) == ["broken.csv", "elsewhere.csv"]
    assert _local_files(a.settings.home) == [], "archive and quarantine settled on the data root"
    manifest = read_manifest(a.store, out.snapshot_id)
    sha = manifest.parts[0].source.sha256
    keys = a.store.list("")
    assert f"archive/{sha[:2]}/{sha}/good.csv" in keys
    assert a.store.get(f"archive/{sha[:2]}/{sha}/good.csv") == good_bytes
    assert [k for k in keys if k.startswith("quarantine/") and k.endswith("/broken.csv")]
    [link_key] = [k for k in keys if k.endswith("/elsewhere.csv.symlink")]  # the link, as where it pointed
    assert a.store.get(link_key).decode().strip() == str(tmp_path / "outside.csv")
    [rows_key] = [k for k in keys if k.endswith(".rejected_rows.csv")]
    assert len(pd.read_csv(io.BytesIO(a.store.get(rows_key)))) == 3
    assert quarantine_location(a) == f"{s3_data_url}/quarantine"

    # Host B never saw these files on its disk, yet reads every record of them.
    [reason] = rejected_since(b, ["broken.csv", "good.csv"], since)
    assert reason["file"] == "broken.csv" and reason["code"] == "wrong_columns"
    assert missing_labels_at_ingest(b, list(manifest.parts)) == 3
    [source] = snapshot_lineage(b, out.snapshot_id)["sources"]
    assert source["archive_path"] == f"{s3_data_url}/archive/{sha[:2]}/{sha}/good.csv"

    # The same file dropped again on host B is a re-drop of content already taken in: quarantined.
    b.settings.landing.mkdir(parents=True)
    (b.settings.landing / "good.csv").write_bytes(good_bytes)
    again = stages.ingest_landing(b)
    assert again.snapshot_id == out.snapshot_id and not again.created
    assert [(q["file"], q["code"]) for q in again.quarantined] == [("good.csv", "duplicate_file")]
    assert _local_files(b.settings.home) == [] and list(b.settings.landing.iterdir()) == []
    assert len([k for k in b.store.list("quarantine") if k.endswith("/good.csv")]) == 1
    assert len(b.meta.list_snapshots()) == 1


def test_settling_never_overwrites_and_runs_again_harmlessly(tmp_path: Path, s3_data_url: str) -> None:
    home = tmp_path / "home"
    landed = LandedStore(home, ObjectStore(s3_data_url))
    entry = home / "quarantine" / "20261204T120000Z_abcd1234" / "x.csv"
    entry.parent.mkdir(parents=True)
    entry.write_bytes(b"a,b\n1,2\n")
    archived = home / "archive" / "ab" / ("ab" + "0" * 62) / "y.csv"
    archived.parent.mkdir(parents=True)
    archived.write_bytes(b"c\n3\n")

    assert landed.settle() == 2
    assert _local_files(home) == [] and landed.settle() == 0

    # A kill between upload and unlink leaves the entry in both places: settling again finishes the move.
    entry.parent.mkdir(parents=True, exist_ok=True)
    entry.write_bytes(b"a,b\n1,2\n")
    assert landed.settle() == 1
    assert [k for k in landed.store.list("quarantine") if k.endswith("x.csv")] == [landed.key(entry)]

    # Other bytes under a name already taken are kept beside it, never over it.
    entry.write_bytes(b"a,b\n9,9\n")
    landed.settle()
    kept = sorted(landed.store.get(k) for k in landed.store.list("quarantine") if k.endswith("x.csv"))
    assert kept == [b"a,b\n1,2\n", b"a,b\n9,9\n"]
    assert landed.store.get(landed.key(archived)) == b"c\n3\n"
    assert landed.is_archived("ab" + "0" * 62, home / "archive")
    assert not landed.is_archived("cd" + "0" * 62, home / "archive")


def _settle(home: str, data_url: str, start: object) -> int:
    start.wait()  # type: ignore[attr-defined]
    return LandedStore(Path(home), ObjectStore(data_url)).settle()


def test_two_runs_settling_at_once_move_each_entry_exactly_once(tmp_path: Path, s3_data_url: str) -> None:
    """Two processes settle the same staging area at the same moment: no error, no entry twice or lost."""
    home = tmp_path / "home"
    entries = {}
    for n in range(40):
        sha = f"{n:02d}" + "f" * 62
        path = home / "archive" / sha[:2] / sha / f"file-{n}.csv"
        path.parent.mkdir(parents=True)
        path.write_bytes(f"id\n{n}\n".encode() * 1000)
        entries[path.relative_to(home).as_posix()] = path.read_bytes()
    context = multiprocessing.get_context("spawn")
    start = context.Manager().Event()
    with context.Pool(2) as pool:
        results = [pool.apply_async(_settle, (str(home), s3_data_url, start)) for _ in range(2)]
        start.set()
        moved = [r.get(timeout=120) for r in results]

    store = ObjectStore(s3_data_url)
    assert sorted(store.list("archive")) == sorted(entries)
    assert all(store.get(key) == data for key, data in entries.items())
    assert _local_files(home) == [] and 40 <= sum(moved) <= 80  # each run counts what it handled
