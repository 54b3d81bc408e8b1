"""ArtifactStore (SHA-256 verified model files) and the ObjectStore under it, on a local directory."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import pipeline.core.storage as storage_module
import pipeline.registry.artifacts as artifacts_module
from pipeline.core.errors import ArtifactIntegrityError
from pipeline.core.storage import ObjectStore
from pipeline.registry.artifacts import ArtifactStore


def _all_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "objects"
    r.mkdir()
    return r


@pytest.fixture
def store(root: Path) -> ObjectStore:
    return ObjectStore(root.as_uri())


@pytest.fixture
def artifacts(store: ObjectStore) -> ArtifactStore:
    return ArtifactStore(store)


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(200, 4))
    y = (x[:, 0] + 0.5 * x[:, 1] - x[:, 3] + rng.normal(scale=0.3, size=200) > 0).astype(int)
    return x, y


def _fitted() -> LogisticRegression:
    x, y = _data()
    return LogisticRegression(C=0.7, max_iter=500).fit(x, y)


@pytest.fixture
def guard_joblib_load(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make any joblib.load from the artifact module fail loudly; returns the list of calls."""
    calls: list[int] = []

    def refuse(*args, **kwargs):
        calls.append(1)
        raise AssertionError("joblib.load was called on an unverified artifact")

    monkeypatch.setattr(artifacts_module.joblib, "load", refuse)
    return calls


# -- ArtifactStore ---------------------------------------------------------------------------


def test_save_and_load_round_trip_a_fitted_model(artifacts: ArtifactStore, root: Path) -> None:
    model = _fitted()
    x, _ = _data()

    key, sha = artifacts.save(model, "churn")

    assert key == f"artifacts/churn/{sha[:2]}/{sha}.joblib"
    assert hashlib.sha256((root / key).read_bytes()).hexdigest() == sha
    loaded = artifacts.load(key, sha)
    assert type(loaded) is LogisticRegression and loaded is not model
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))
    np.testing.assert_array_equal(loaded.coef_, model.coef_)


def test_identical_model_is_stored_once(artifacts: ArtifactStore, root: Path) -> None:
    model = _fitted()
    first = artifacts.save(model, "churn")
    again = artifacts.save(model, "churn")
    refit = artifacts.save(_fitted(), "churn")  # a separate but identical fit has the same bytes

    assert first == again == refit
    assert _all_files(root) == [first[0]]

    different = artifacts.save(LogisticRegression(C=0.1, max_iter=500).fit(*_data()), "churn")
    assert different[1] != first[1]
    assert _all_files(root) == sorted([first[0], different[0]])


def test_tampered_artifact_is_refused_without_unpickling(
    artifacts: ArtifactStore, root: Path, guard_joblib_load: list[int]
) -> None:
    key, sha = artifacts.save(_fitted(), "churn")
    with open(root / key, "ab") as fh:
        fh.write(b"\0")

    with pytest.raises(ArtifactIntegrityError) as info:
        artifacts.load(key, sha)

    msg = str(info.value)
    assert "SHA-256" in msg and sha[:16] in msg  # names the registered checksum
    assert hashlib.sha256((root / key).read_bytes()).hexdigest()[:16] in msg  # and the actual one
    assert "will not be loaded" in msg
    assert key in msg
    assert guard_joblib_load == []


def test_joblib_guard_is_effective(artifacts: ArtifactStore, guard_joblib_load: list[int]) -> None:
    """Control for the test above: an intact artifact does reach joblib.load (and so the guard)."""
    key, sha = artifacts.save(_fitted(), "churn")
    with pytest.raises(AssertionError, match="unverified artifact"):
        artifacts.load(key, sha)
    assert guard_joblib_load == [1]


def test_wrong_registered_checksum_is_refused(artifacts: ArtifactStore, guard_joblib_load: list[int]) -> None:
    key, _sha = artifacts.save(_fitted(), "churn")
    with pytest.raises(ArtifactIntegrityError, match="will not be loaded"):
        artifacts.load(key, "0" * 64)
    assert guard_joblib_load == []


def test_missing_artifact_is_reported(artifacts: ArtifactStore, root: Path, guard_joblib_load: list[int]) -> None:
    key, sha = artifacts.save(_fitted(), "churn")
    (root / key).unlink()

    with pytest.raises(ArtifactIntegrityError) as info:
        artifacts.load(key, sha)
    msg = str(info.value)
    assert "missing" in msg and key in msg
    assert guard_joblib_load == []


def test_verify_reports_ok_modified_and_missing_without_unpickling(
    artifacts: ArtifactStore, root: Path, guard_joblib_load: list[int]
) -> None:
    key, sha = artifacts.save(_fitted(), "churn")
    size = (root / key).stat().st_size

    ok = artifacts.verify(key, sha)
    assert (ok.status, ok.ok, ok.actual_sha256, ok.size) == ("ok", True, sha, size)
    assert ok.uri == f"{root.as_uri()}/{key}" and "matches" in ok.message

    with open(root / key, "r+b") as fh:  # flip one byte in the middle, same size
        fh.seek(size // 2)
        byte = fh.read(1)
        fh.seek(size // 2)
        fh.write(bytes([byte[0] ^ 0xFF]))
    bad = artifacts.verify(key, sha)
    assert (bad.status, bad.ok, bad.size) == ("modified", False, size)
    assert bad.actual_sha256 == hashlib.sha256((root / key).read_bytes()).hexdigest() != sha
    assert sha[:16] in bad.message and bad.actual_sha256[:16] in bad.message and "will not be loaded" in bad.message

    (root / key).unlink()
    gone = artifacts.verify(key, sha)
    assert (gone.status, gone.actual_sha256, gone.size) == ("missing", None, None)
    assert "missing" in gone.message and gone.to_dict()["status"] == "missing"
    assert guard_joblib_load == []


def test_verify_hashes_large_files_in_chunks(artifacts: ArtifactStore, store: ObjectStore) -> None:
    """A file bigger than one read chunk hashes to the same digest as hashing it whole."""
    data = os.urandom(3 * artifacts_module._CHUNK + 12345)
    sha = hashlib.sha256(data).hexdigest()
    store.put("artifacts/big/blob.joblib", data)
    check = artifacts.verify("artifacts/big/blob.joblib", sha)
    assert check.ok and check.size == len(data)


# -- ObjectStore -----------------------------------------------------------------------------


def test_put_never_overwrites(store: ObjectStore, root: Path) -> None:
    assert store.put("a/b.bin", b"original") is True
    assert store.put("a/b.bin", b"something else") is False
    assert store.get("a/b.bin") == b"original"
    assert (root / "a" / "b.bin").read_bytes() == b"original"
    assert store.exists("a/b.bin") and not store.exists("a/c.bin")


def test_put_and_replace_leave_no_temp_files(store: ObjectStore, root: Path) -> None:
    store.put("x/one.bin", b"1")
    store.put("x/one.bin", b"1")
    store.put("x/y/two.bin", b"2" * 100_000)
    store.replace("x/one.bin", b"one")
    store.replace("x/three.bin", b"3")

    assert _all_files(root) == ["x/one.bin", "x/three.bin", "x/y/two.bin"]


def test_replace_overwrites_atomically(store: ObjectStore, root: Path) -> None:
    store.put("report.html", b"old report")
    path = root / "report.html"

    with open(path, "rb") as reader:  # a reader that opened the old file keeps seeing all of it
        store.replace("report.html", b"new")
        assert reader.read() == b"old report"
    assert store.get("report.html") == b"new"
    assert path.read_bytes() == b"new"


def test_failed_replace_keeps_the_old_content(store: ObjectStore, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store.put("report.html", b"old report")

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage_module.os, "fsync", disk_full)
    with pytest.raises(OSError):
        store.replace("report.html", b"new")
    with pytest.raises(OSError):
        store.put("other.html", b"new")
    monkeypatch.undo()

    assert store.get("report.html") == b"old report"
    assert not store.exists("other.html")


def test_failed_write_leaves_no_temp_file(store: ObjectStore, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage_module.os, "fsync", disk_full)
    with pytest.raises(OSError):
        store.put("models/m.bin", b"data")
    monkeypatch.undo()

    assert _all_files(root) == []
    assert store.list("models") == []


def test_list_returns_keys_relative_to_root(store: ObjectStore, root: Path) -> None:
    for key in ("a/b/c.bin", "a/d.bin", "ab/e.bin", "z.bin"):
        store.put(key, key.encode())

    assert store.list("a") == ["a/b/c.bin", "a/d.bin"]
    assert store.list("a/b") == ["a/b/c.bin"]
    assert store.list("ab") == ["ab/e.bin"]
    assert store.list("nothing") == []
    assert all(store.get(k) == k.encode() for k in store.list("a"))
    assert store.uri("a/d.bin") == f"{root.as_uri()}/a/d.bin"


def test_root_url_with_trailing_slash_and_plain_path(root: Path) -> None:
    ObjectStore(root.as_uri() + "/").put("k/v.bin", b"v")
    assert ObjectStore(root.as_uri() + "/").list("k") == ["k/v.bin"]
    assert ObjectStore(str(root)).list("k") == ["k/v.bin"]
    assert ObjectStore(str(root)).get("k/v.bin") == b"v"
    assert os.listdir(root / "k") == ["v.bin"]
