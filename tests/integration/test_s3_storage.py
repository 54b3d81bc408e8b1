"""The ObjectStore contract, run on a local folder (``file://``) and on a real S3 API (moto's server).

What every caller relies on: ``put`` never overwrites and, of writers racing for one key, exactly one
wins and the object is that writer's bytes whole; ``replace`` swaps whole objects; listing is by key
prefix, relative to the root; nothing temporary is left behind; ``uri`` names the object without any
credential. The local-only parts (fsync, a reader holding the old file open) stay in
test_artifacts.py.
"""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
import os
import threading
from pathlib import Path

import pandas as pd
import pyarrow.dataset as pads
import pytest
from sklearn.linear_model import LogisticRegression

from pipeline.core.errors import ArtifactIntegrityError, ConfigError
from pipeline.core.storage import ObjectStore
from pipeline.registry.artifacts import ArtifactStore
from tests.s3_server import SECRET_KEY, S3Server


@pytest.fixture(params=["file", "s3"])
def root_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "file":
        folder = tmp_path / "objects"
        folder.mkdir()
        return folder.as_uri()
    return str(request.getfixturevalue("s3_data_url"))


@pytest.fixture
def store(root_url: str) -> ObjectStore:
    return ObjectStore(root_url)


def _everything(store: ObjectStore) -> list[str]:
    """Every object under the root, temporary ones included (looked at behind the store's back)."""
    n = len(store.root) + 1
    return sorted(p[n:] for p in store.fs.find(store.root, withdirs=False))


def test_put_never_overwrites(store: ObjectStore) -> None:
    assert store.put("a/b.bin", b"original") is True
    assert store.put("a/b.bin", b"something else") is False
    assert store.get("a/b.bin") == b"original"
    assert store.exists("a/b.bin") and not store.exists("a/c.bin")
    assert store.size("a/b.bin") == len(b"original")
    with store.open("a/b.bin") as fh:
        assert fh.read() == b"original"


def test_put_of_a_big_object_never_overwrites(store: ObjectStore) -> None:
    """Above S3_CHECK_FIRST_BYTES the store asks before uploading; the answer is the same."""
    first, second = b"a" * (9 * 2**20), b"b" * (9 * 2**20)
    assert store.put("big/part.parquet", first) is True
    assert store.put("big/part.parquet", second) is False
    assert store.get("big/part.parquet") == first and _everything(store) == ["big/part.parquet"]


def test_put_file_streams_a_local_file_and_never_overwrites(store: ObjectStore, tmp_path: Path) -> None:
    """How landed files settle on the data root (archive, quarantine): create-only, whole or absent."""
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_bytes(b"x,y\n" + b"1,2\n" * 300_000)  # 1.2 MB
    second.write_bytes(b"other bytes")
    assert store.put_file("archive/ab/abc/f.csv", first) is True
    assert store.put_file("archive/ab/abc/f.csv", second) is False
    assert store.get("archive/ab/abc/f.csv") == first.read_bytes()
    assert _everything(store) == ["archive/ab/abc/f.csv"]
    assert store.remote is (store.root_url.startswith("s3://"))


def test_replace_swaps_the_whole_object(store: ObjectStore) -> None:
    store.put("reports/r.html", b"old report " * 1000)
    store.replace("reports/r.html", b"new")
    assert store.get("reports/r.html") == b"new"
    store.replace("reports/fresh.html", b"first")
    assert store.get("reports/fresh.html") == b"first"


def test_writes_leave_no_temporary_objects(store: ObjectStore) -> None:
    store.put("x/one.bin", b"1")
    store.put("x/one.bin", b"1")
    store.put("x/y/two.bin", b"2" * 100_000)
    store.replace("x/one.bin", b"one")
    store.replace("x/three.bin", b"3")
    assert _everything(store) == ["x/one.bin", "x/three.bin", "x/y/two.bin"]


def test_list_is_by_key_prefix_relative_to_the_root(store: ObjectStore, root_url: str) -> None:
    for key in ("a/b/c.bin", "a/d.bin", "ab/e.bin", "z.bin"):
        store.put(key, key.encode())
    assert store.list("a") == ["a/b/c.bin", "a/d.bin"]
    assert store.list("a/b") == ["a/b/c.bin"]
    assert store.list("ab") == ["ab/e.bin"]
    assert store.list("nothing") == []
    assert all(store.get(k) == k.encode() for k in store.list("a"))
    assert store.uri("a/d.bin") == f"{root_url}/a/d.bin"
    assert ObjectStore(root_url + "/").list("ab") == ["ab/e.bin"]


def test_age_and_delete(store: ObjectStore) -> None:
    store.put("snapshots/parts/p.parquet", b"p")
    age = store.age_seconds("snapshots/parts/p.parquet")
    assert age is not None and 0 <= age < 600
    assert store.age_seconds("snapshots/parts/p.parquet", now=0) == 0.0  # never negative
    assert store.delete("snapshots/parts/p.parquet") is True
    assert store.delete("snapshots/parts/p.parquet") is False
    assert not store.exists("snapshots/parts/p.parquet") and store.list("snapshots") == []
    store.put("snapshots/parts/p.parquet", b"again")  # a deleted key can be written anew
    assert store.get("snapshots/parts/p.parquet") == b"again"


def test_writers_racing_for_one_key_threads(store: ObjectStore) -> None:
    """Eight threads put different bytes at one key: exactly one wins, the object is its bytes whole."""
    payloads = [bytes([i]) * 300_000 for i in range(8)]
    results: list[bool | None] = [None] * 8
    start = threading.Barrier(8)

    def write(i: int) -> None:
        start.wait()
        results[i] = store.put("race/key.bin", payloads[i])

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 1 and results.count(False) == 7, results
    assert store.get("race/key.bin") == payloads[results.index(True)]
    assert _everything(store) == ["race/key.bin"]


def _put_in_a_process(root_url: str, i: int, start, out) -> None:  # runs in a child process
    store = ObjectStore(root_url)
    start.wait()
    out.put((i, store.put("race/proc.bin", str(i).encode() * 200_000)))


def test_writers_racing_for_one_key_processes(root_url: str, store: ObjectStore) -> None:
    """The same race between processes, each with its own store and connection."""
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_put_in_a_process, args=(root_url, i, start, out)) for i in range(4)]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    winners = [i for i, won in results.items() if won]
    assert len(winners) == 1, results
    assert store.get("race/proc.bin") == str(winners[0]).encode() * 200_000
    assert _everything(store) == ["race/proc.bin"]


def test_pyarrow_reads_parquet_through_the_store_filesystem(store: ObjectStore) -> None:
    """Snapshot reads hand ``store.fs`` and ``store.path`` to pyarrow.dataset (see snapshot_dataset)."""
    for n, frame in enumerate([pd.DataFrame({"x": [1, 2]}), pd.DataFrame({"x": [3]})]):
        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
        store.put(f"snapshots/parts/{n}.parquet", buf.getvalue())
    keys = store.list("snapshots/parts")
    table = pads.dataset([store.path(k) for k in keys], format="parquet", filesystem=store.fs).to_table()
    assert sorted(table.column("x").to_pylist()) == [1, 2, 3]


def test_artifacts_round_trip_and_refuse_a_tampered_file(store: ObjectStore) -> None:
    artifacts = ArtifactStore(store)
    model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    key, sha = artifacts.save(model, "churn")
    assert artifacts.save(model, "churn") == (key, sha)  # stored once
    assert hashlib.sha256(store.get(key)).hexdigest() == sha
    assert artifacts.load(key, sha).predict([[3.0]])[0] == 1
    assert artifacts.verify(key, sha).ok
    store.replace(key, b"not the model")
    with pytest.raises(ArtifactIntegrityError, match="will not be loaded"):
        artifacts.load(key, sha)
    assert not artifacts.verify(key, sha).ok


def test_s3_uri_and_repr_carry_no_credential(s3_data_url: str) -> None:
    store = ObjectStore(s3_data_url)
    store.put("k.bin", b"v")
    assert store.uri("k.bin") == f"{s3_data_url}/k.bin"
    assert SECRET_KEY not in store.uri("k.bin") and SECRET_KEY not in repr(store.__dict__)
    bucket = s3_data_url.removeprefix("s3://").split("/")[0]
    with pytest.raises(ConfigError, match="must not carry credentials"):
        ObjectStore(f"s3://key:{SECRET_KEY}@{bucket}/ct")


def test_s3_needs_the_key_pair_whole(s3_data_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(ConfigError, match="AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"):
        ObjectStore(s3_data_url)
    assert os.environ["AWS_ACCESS_KEY_ID"]


def test_credentials_from_an_airflow_connection_reach_the_store(
    s3_data_url: str, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With CT_DATA_CONN_ID, a task's workspace writes with the connection's key pair alone."""
    from ct_airflow.data_connection import data_root_settings
    from pipeline.app.workspace import open_workspace

    env = s3_server.env()
    conn = {
        "conn_type": "aws",
        "login": env["AWS_ACCESS_KEY_ID"],
        "password": env["AWS_SECRET_ACCESS_KEY"],
        "extra": {"endpoint_url": s3_server.endpoint_url, "region_name": env["AWS_DEFAULT_REGION"]},
    }
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "CT_S3_ENDPOINT_URL"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))
    monkeypatch.setenv("AIRFLOW_CONN_CT_DATA_ROOT", json.dumps(conn))
    monkeypatch.setenv("CT_DATA_CONN_ID", "ct_data_root")
    monkeypatch.setenv("CT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CT_DATA_URL", s3_data_url)

    ws = open_workspace(data_root_settings())
    assert ws.store.put("reports/hello.txt", b"hi") is True
    assert ObjectStore(s3_data_url, ws.settings.storage_options).get("reports/hello.txt") == b"hi"
    assert SECRET_KEY not in repr(ws.settings)

    monkeypatch.setenv("CT_DATA_CONN_ID", "no_such_connection")
    with pytest.raises(ConfigError, match=r"no_such_connection.*no such Airflow connection"):
        data_root_settings()
