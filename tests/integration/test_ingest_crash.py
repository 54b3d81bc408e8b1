"""Crash in the middle of an ingest, for real: a subprocess is killed (``os._exit(137)``) at a chosen
write, then a normal rerun must reach exactly the snapshot a crash-free run reaches, with no landing
file lost and every rejected row in quarantine exactly once. With the data root on S3 the archive
and quarantine settle there too (:mod:`pipeline.data.landed_store`), and a kill between an upload
and the removal of the local copy is one more crash point."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import textwrap
from functools import partial
from pathlib import Path

import pandas as pd
import pytest

from pipeline.app import stages
from pipeline.app.demo_data import BatchSpec, generate_batch
from pipeline.app.workspace import Workspace
from pipeline.core.config import PipelineConfig, load_config
from pipeline.core.settings import BUNDLED_CONFIG, Settings
from pipeline.core.storage import ObjectStore
from pipeline.data.ingestion import PENDING_DIR
from pipeline.data.snapshots import read_manifest

pytestmark = pytest.mark.slow

# Runs in the child: the same workspace as _workspace() below, with one write turned into a crash.
CHILD = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from test_ingest_crash import _workspace
    import pipeline.app.stages.ingest as ingest_stage
    from pipeline.core.storage import ObjectStore

    home, crash_at = Path(sys.argv[1]), sys.argv[2]
    ws = _workspace(home, sys.argv[3] if len(sys.argv) > 3 else None)
    calls = {{"n": 0}}

    def on_nth(n, original):
        def wrapper(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == n:
                os._exit(137)
            return original(*args, **kwargs)
        return wrapper

    if crash_at in ("second_part", "manifest"):
        put = ObjectStore.put
        def crashing_put(self, key, data):
            if crash_at == "manifest" and key.startswith("snapshots/manifests/"):
                os._exit(137)  # every part is durable; the manifest is not written
            if crash_at == "second_part" and key.startswith("snapshots/parts/"):
                calls["n"] += 1
                if calls["n"] == 2:
                    os._exit(137)
            return put(self, key, data)
        ObjectStore.put = crashing_put
    elif crash_at == "index":  # the manifest is durable, the metadata index does not know it
        type(ws.meta).append_snapshot = on_nth(1, type(ws.meta).append_snapshot)
    elif crash_at == "rows":  # the first file's rejected rows are in quarantine, the second's are not
        import pipeline.data.ingestion as ingestion
        ingestion.commit_rejected_rows = on_nth(2, ingestion.commit_rejected_rows)
    elif crash_at == "archive":  # the first file is archived, the second is still in the landing area
        import pipeline.data.inbox as inbox_module  # ingest archives through the inbox helper
        inbox_module.archive_file = on_nth(2, inbox_module.archive_file)
    elif crash_at == "settle":  # the second landed file is uploaded to the data root, its local copy not removed
        put_file = ObjectStore.put_file
        def crashing_put_file(self, key, local):
            written = put_file(self, key, local)
            calls["n"] += 1
            if calls["n"] == 2:
                os._exit(137)
            return written
        ObjectStore.put_file = crashing_put_file
    ingest_stage.ingest_landing(ws)
    sys.exit(0)
""").format(tests=str(Path(__file__).parent))


def _config() -> PipelineConfig:
    config = load_config(BUNDLED_CONFIG)
    return config.model_copy(
        update={"ingest": config.ingest.model_copy(update={"stable_seconds": 0, "chunk_rows": 100})}
    )


def _workspace(home: Path, data_url: str | None = None) -> Workspace:
    settings = Settings(
        home=home,
        config_path=BUNDLED_CONFIG,
        database_url=f"sqlite:///{home / 'ct.db'}",
        data_url=data_url or home.as_uri(),
    )
    return Workspace(settings=settings, config=_config())


def _land(home: Path) -> dict[str, str]:
    """Two files, each with rejected rows; the CSV spans three chunks. Returns name -> sha256."""
    landing = home / "landing"
    landing.mkdir(parents=True, exist_ok=True)
    a = generate_batch(BatchSpec(rows=250, seed=11, first_id=0)).astype({"age": object})
    a.loc[[3, 140], "age"] = "old"
    b = generate_batch(BatchSpec(rows=120, seed=12, first_id=50_000)).astype({"churned": object})
    b.loc[[7], "churned"] = "maybe"
    a.to_csv(landing / "a.csv", index=False)
    b.to_parquet(landing / "b.parquet", index=False)
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in landing.iterdir()}


def _rejected(home: Path, store: ObjectStore | None = None) -> list[pd.DataFrame]:
    """The committed rejected rows, here and (``store``) settled on the data root; a file in both counts once."""
    found = {
        p.relative_to(home).as_posix(): p.read_bytes
        for p in sorted((home / "quarantine").rglob("*.rejected_rows.csv"))
        if PENDING_DIR not in p.parts
    }
    for key in store.list("quarantine") if store is not None else []:
        if key.endswith(".rejected_rows.csv"):
            found.setdefault(key, partial(store.get, key))
    return [pd.read_csv(io.BytesIO(read()), dtype=str) for _, read in sorted(found.items())]


def _archived(ws: Workspace, name: str, sha: str) -> bool:
    """Whether the landing file is in the archive: here, or settled on a remote data root."""
    local = ws.settings.home / "archive" / sha[:2] / sha / name
    return local.exists() or (ws.store.remote and ws.store.exists(f"archive/{sha[:2]}/{sha}/{name}"))


def _local_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, int, list[pd.DataFrame]]:
    home = tmp_path_factory.mktemp("crash_free")
    _land(home)
    out = stages.ingest_landing(_workspace(home))
    return out.snapshot_id, out.rows, _rejected(home)


@pytest.mark.parametrize(
    ("crash_at", "root"),
    [
        ("second_part", "file"),
        ("manifest", "file"),
        ("index", "file"),
        ("rows", "file"),
        ("archive", "file"),
        ("second_part", "s3"),  # the data root on S3 (moto's server): no rename, conditional PUTs
        ("manifest", "s3"),
        ("archive", "s3"),
        ("settle", "s3"),  # archive and quarantine move to the bucket: killed between upload and unlink
    ],
)
def test_rerun_after_a_crash_completes_the_same_snapshot(
    tmp_path: Path,
    crash_at: str,
    root: str,
    reference: tuple[str, int, list[pd.DataFrame]],
    request: pytest.FixtureRequest,
) -> None:
    ref_id, ref_rows, ref_rejected = reference
    home = tmp_path / "home"
    data_url = request.getfixturevalue("s3_data_url") if root == "s3" else home.as_uri()
    shas = _land(home)
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(home), crash_at, data_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == 137, child.stderr[-2000:]

    # nothing lost: every landing file is still in the landing area or already in the archive
    ws = _workspace(home, data_url)
    for name, sha in shas.items():
        in_landing = (home / "landing" / name).exists()
        archived = _archived(ws, name, sha)
        assert in_landing != archived, (name, in_landing, archived)

    if crash_at == "manifest":  # what a reader trusts is the manifest, written last: there is none yet
        assert ws.store.list("snapshots/manifests") == [] and ws.store.list("snapshots/parts")
    out = stages.ingest_landing(ws)

    assert out.snapshot_id == ref_id
    assert ws.meta.latest_snapshot("churn").id == ref_id and len(ws.meta.list_snapshots()) == 1
    assert read_manifest(ws.store, ref_id).rows == ref_rows
    assert out.quarantined == []  # an interrupted file is finished, not mistaken for a duplicate
    assert list((home / "landing").iterdir()) == []
    for name, sha in shas.items():
        assert _archived(ws, name, sha)
    if root == "s3":  # everything settled: the local archive and quarantine hold no file (live spools aside)
        assert _local_files(home / "archive") == [] and _local_files(home / "quarantine") == []
        assert len([k for k in ws.store.list("archive") if k.endswith(tuple(shas))]) == len(shas)
    rejected = _rejected(home, ws.store if root == "s3" else None)
    assert len(rejected) == len(ref_rejected) == 2  # each file's rejected rows, exactly once
    for got, want in zip(sorted(rejected, key=len), sorted(ref_rejected, key=len)):
        pd.testing.assert_frame_equal(got, want)
    assert not any((home / "quarantine" / PENDING_DIR).iterdir())
