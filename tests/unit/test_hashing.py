"""Ids and hashes are pinned: users' stores hold them and the demo prints them.

Every expected value below was computed with the code as it was before the hashing helper
(``pipeline.core.hashing``) existed, so moving a call site onto the helper cannot change a byte.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from pipeline.app.demo_data import BatchSpec, generate_batch
from pipeline.app.stages.folds import fold_scores_key
from pipeline.core.config import PipelineConfig, load_config
from pipeline.core.hashing import canonical_json, json_sha256, sha256_file, sha256_hex, sha256_stream
from pipeline.core.settings import BUNDLED_CONFIG
from pipeline.core.storage import ObjectStore
from pipeline.data.ingestion import fit_name
from pipeline.data.snapshots import SourceFile, create_snapshot, write_part
from pipeline.monitoring.alerts import ingest_rejected_alert, retrain_alert, thin_evidence_alert, validation_alert
from pipeline.quality.part_stats import statistics_key
from pipeline.quality.suite import schema_hash
from pipeline.registry.alert import make_dedupe_key

OBJ = {"b": [1, 2.5, "é"], "a": {"y": None, "x": True}}


# -- the helper itself ------------------------------------------------------------------------------------
def test_canonical_json_sorts_keys_and_is_compact_by_default() -> None:
    assert canonical_json(OBJ) == '{"a":{"x":true,"y":null},"b":[1,2.5,"\\u00e9"]}'
    assert canonical_json(OBJ, compact=False) == '{"a": {"x": true, "y": null}, "b": [1, 2.5, "\\u00e9"]}'


def test_json_sha256_keeps_both_serialisations_in_use() -> None:
    assert json_sha256(OBJ) == "0ea99d3ee4cf5827b351ce5a677bc83d10b512fe048e4ce4e9dbe77919f82203"
    assert json_sha256(OBJ, compact=False) == "a88e3b883c310d186b0c45d755c3a2cf39f76cc961ab4aae0fa08fafa0a0230c"
    dated = {**OBJ, "when": datetime.date(2026, 1, 2)}
    assert (
        json_sha256(dated, compact=False, default=str)
        == "9ff76052b8c803bbaf53e0683c38663b0fc9d4ff5af4d61373fa756aa3bf8cde"
    )


def test_sha256_of_text_bytes_chunks_streams_and_files(tmp_path: Path) -> None:
    assert sha256_hex("a,b") == sha256_hex(b"a,b") == "1eb7c54d52831bbfe8942af0b1c56b7409523a59ed6ca99c1174fef7eb32c1b5"
    assert sha256_hex(b"a,", b"b") == sha256_hex(b"a,b")  # chunks hash as their concatenation
    path = tmp_path / "f.csv"
    path.write_bytes(b"a,b\n1,2\n")
    expected = "492d5ea496056f1a6a6592241032fab764c321596317930b4fa0e1e8bc3b7470"
    assert sha256_file(path) == expected
    with open(path, "rb") as fh:
        assert sha256_stream(fh, block=3) == (expected, 8)


def test_sha256_file_refuses_a_symbolic_link(tmp_path: Path) -> None:
    (tmp_path / "real.csv").write_text("a\n1\n")
    (tmp_path / "link.csv").symlink_to(tmp_path / "real.csv")
    try:
        sha256_file(tmp_path / "link.csv")
    except OSError:
        return
    raise AssertionError("a link was followed")


# -- the call sites keep their ids --------------------------------------------------------------------------
def test_part_and_snapshot_ids_are_unchanged(tmp_path: Path) -> None:
    config = load_config(BUNDLED_CONFIG)
    store = ObjectStore(tmp_path.as_uri())
    frame = generate_batch(BatchSpec(rows=40, seed=7, first_id=0))
    part = write_part(
        store, frame, config.dataset, SourceFile("a.csv", "0" * 64, 10), ingested_at="2026-01-01T00:00:00+00:00"
    )
    assert part.id == "9d8ac69357322dfa2b1084df44c5d9bfd2b6b557e6b2c77cc1188e68a2828b83"
    # the file's bytes (outside every id) changed once, when parts stopped dictionary-encoding numbers (issue 19)
    assert part.file_sha256 == "a58580dba1f1fc4e40db85ec5631dd2feb70292351524876c2e074ca79df3667"
    assert create_snapshot(store, config.dataset, None, [part]).id == "a21e7cd47f8eba93"


def test_config_schema_and_statistics_hashes_are_unchanged() -> None:
    config = load_config(BUNDLED_CONFIG)
    assert PipelineConfig._hash(OBJ) == "0ea99d3ee4cf5827"
    assert (config.content_hash(), config.full_hash()) == ("879ee119aa625036", "7732679a97c22842")
    assert schema_hash(config.dataset) == "ef2148869020d1cb"
    assert statistics_key(config) == "32c0e8050383"


def test_derived_names_and_keys_are_unchanged() -> None:
    assert fit_name("n" * 250, ".reason.json") == "n" * 171 + "~213b83271b358ed9.reason.json"
    assert make_dedupe_key("drift", "x" * 300) == "drift:" + "x" * 194 + "…1c0ad02e32c2862ea31fed032734af09"
    assert (
        fold_scores_key("s", "c", "gradient_boosting[max_iter=10]", 1)
        == "reports/cv/s/c/gradient_boosting_max_iter=10-f77721b9/fold-01.json"
    )


def test_alert_dedupe_keys_are_unchanged() -> None:
    thin = thin_evidence_alert("churn", 3, ["holdout has 10 rows", "class yes has 2 rows"], None)
    assert thin.dedupe_key == "thin_evidence:churn:v3:9686f059ac73af5a"
    windows = {"windows": [{"window_id": "w1"}, {"window_id": "w2"}]}
    drift = retrain_alert({"kind": "drift", "retrain": True, "evidence": windows}, "churn", 2)
    assert drift is not None and drift.dedupe_key == "drift:churn:v2:retrain:5eeaadf3c2aa5910"
    failed = validation_alert("s1", "s0", [{"name": "n1", "severity": "fail", "message": "m"}], None, blocking=True)
    assert failed.dedupe_key == "validation_failed:s1:s0:676b8bb84ce7267d"
    quarantined = [{"file": "a.csv", "code": "empty_file", "message": "m", "path": "p"}]
    rejected = ingest_rejected_alert("churn", quarantined, [], snapshot_id="s1")
    assert rejected is not None and rejected.dedupe_key == "ingest_rejected:churn:s1:3947a7cb528842fc"
