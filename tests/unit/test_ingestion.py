"""Unit tests for pipeline.data.ingestion: readiness, parsing to the declared schema, quarantine, archive."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.core.config import IngestConfig, PipelineConfig
from pipeline.core.errors import IngestError
from pipeline.data.ingestion import (
    ROW_REASON_COLUMN,
    SOURCE_ROW_COLUMN,
    LandingFile,
    archive_file,
    check_utf8,
    find_ready_files,
    iter_parsed_chunks,
    parse_landing_file,
    quarantine_file,
    quarantine_rows,
    sha256_file,
    take_in_file,
)

NOW = 1_700_000_000.0


def _landing(path: Path) -> LandingFile:
    return LandingFile(path=path, size=path.stat().st_size, sha256=sha256_file(path))


def _write(path: Path, data: bytes | str, mtime: float | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def _csv(frame: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def _parse(path: Path, config: PipelineConfig):
    return parse_landing_file(_landing(path), config.dataset, config.ingest)


def _code(path: Path, config: PipelineConfig) -> IngestError:
    with pytest.raises(IngestError) as info:
        _parse(path, config)
    return info.value


@pytest.fixture
def small(demo_frame: pd.DataFrame) -> pd.DataFrame:
    return demo_frame.head(40).copy()


# -- find_ready_files ---------------------------------------------------------------------------------
def test_missing_landing_dir_gives_nothing(tmp_path: Path) -> None:
    assert find_ready_files(tmp_path / "absent", 5) == []


def test_stable_seconds_respected(tmp_path: Path) -> None:
    _write(tmp_path / "old.csv", "a\n1\n", mtime=NOW - 10)
    _write(tmp_path / "fresh.csv", "a\n2\n", mtime=NOW - 1)
    names = [f.name for f in find_ready_files(tmp_path, stable_seconds=5, now=NOW)]
    assert names == ["old.csv"]
    later = [f.name for f in find_ready_files(tmp_path, stable_seconds=5, now=NOW + 10)]
    assert sorted(later) == ["fresh.csv", "old.csv"]


def test_ready_files_oldest_first_with_checksum(tmp_path: Path) -> None:
    _write(tmp_path / "b.csv", "a\n1\n", mtime=NOW - 100)
    _write(tmp_path / "a.csv", "a\n2\n", mtime=NOW - 50)
    found = find_ready_files(tmp_path, stable_seconds=5, now=NOW)
    assert [f.name for f in found] == ["b.csv", "a.csv"]
    assert found[0].sha256 == hashlib.sha256(b"a\n1\n").hexdigest()
    assert found[0].size == 4


def test_success_marker_makes_fresh_files_ready(tmp_path: Path) -> None:
    batch = tmp_path / "batch1"
    _write(batch / "part.csv", "a\n1\n", mtime=NOW)
    _write(tmp_path / "other" / "part.csv", "a\n2\n", mtime=NOW)
    assert find_ready_files(tmp_path, stable_seconds=60, now=NOW) == []
    _write(batch / "_SUCCESS", "")
    found = find_ready_files(tmp_path, stable_seconds=60, now=NOW)
    assert [f.path for f in found] == [batch / "part.csv"]  # the marker itself is never a data file


def test_hidden_temporary_and_underscore_files_ignored(tmp_path: Path) -> None:
    for name in (".hidden.csv", "data.csv.tmp", "data.part", "x.crdownload", "_SUCCESS", "_meta.csv"):
        _write(tmp_path / name, "a\n1\n", mtime=NOW - 100)
    _write(tmp_path / "real.csv", "a\n1\n", mtime=NOW - 100)
    assert [f.name for f in find_ready_files(tmp_path, stable_seconds=5, now=NOW)] == ["real.csv"]


def test_files_in_temporary_directories_ignored(tmp_path: Path) -> None:
    _write(tmp_path / "_temporary" / "0" / "part-0000.csv", "a\n1\n", mtime=NOW - 100)
    _write(tmp_path / ".staging" / "part-0001.csv", "a\n1\n", mtime=NOW - 100)
    assert find_ready_files(tmp_path, stable_seconds=5, now=NOW) == []


# -- parse_landing_file: accepted files ---------------------------------------------------------------
def test_good_csv_parses_to_declared_schema(tmp_path: Path, small: pd.DataFrame, config: PipelineConfig) -> None:
    parsed = _parse(_csv(small, tmp_path / "good.csv"), config)
    assert list(parsed.frame.columns) == config.dataset.columns
    assert len(parsed.frame) == len(small)
    assert parsed.rejected.empty
    assert parsed.dropped_columns == ()
    for col in config.dataset.numeric_names:
        assert parsed.frame[col].dtype == np.float64
    np.testing.assert_allclose(parsed.frame["monthly_charges"], small["monthly_charges"])
    assert parsed.frame["customer_id"].tolist() == small["customer_id"].tolist()
    assert parsed.frame["churned"].tolist() == small["churned"].tolist()


def test_undeclared_extra_columns_are_dropped(tmp_path: Path, small: pd.DataFrame, config: PipelineConfig) -> None:
    extra = small.assign(notes="free text", score=1.5)
    parsed = _parse(_csv(extra, tmp_path / "extra.csv"), config)
    assert parsed.dropped_columns == ("notes", "score")
    assert list(parsed.frame.columns) == config.dataset.columns
    assert len(parsed.frame) == len(small)


def test_whitespace_and_bom_are_tolerated(tmp_path: Path, small: pd.DataFrame, config: PipelineConfig) -> None:
    text = small.to_csv(index=False)
    header, body = text.split("\n", 1)
    header = ",".join(f" {c} " for c in header.split(","))
    path = _write(tmp_path / "bom.csv", b"\xef\xbb\xbf" + (header + "\n" + body).encode())
    parsed = _parse(path, config)
    assert list(parsed.frame.columns) == config.dataset.columns
    assert len(parsed.frame) == len(small)


def test_parquet_input(tmp_path: Path, small: pd.DataFrame, config: PipelineConfig) -> None:
    path = tmp_path / "batch.parquet"
    small.to_parquet(path, index=False)
    parsed = _parse(path, config)
    assert len(parsed.frame) == len(small)
    assert parsed.rejected.empty
    assert parsed.frame["tenure_months"].dtype == np.float64
    np.testing.assert_allclose(parsed.frame["age"], small["age"])
    assert parsed.frame["contract"].tolist() == small["contract"].tolist()


def test_parquet_row_rejects_use_row_positions(tmp_path: Path, small: pd.DataFrame, config: PipelineConfig) -> None:
    bad = small.copy()
    bad["churned"] = bad["churned"].astype(object)
    bad.loc[4, "churned"] = "maybe"
    path = tmp_path / "batch.pq"
    bad.to_parquet(path, index=False)
    parsed = _parse(path, config)
    assert len(parsed.frame) == len(small) - 1
    assert parsed.rejected["_ct_source_row"].tolist() == [4]


# -- parse_landing_file: row-level rejects --------------------------------------------------------------
def test_row_level_rejects_keep_good_rows(tmp_path: Path, small: pd.DataFrame, config: PipelineConfig) -> None:
    bad = small.astype({"tenure_months": object, "churned": object, "customer_id": object})
    bad.loc[2, "tenure_months"] = "twelve"
    bad.loc[5, "churned"] = "maybe"
    bad.loc[7, "customer_id"] = np.nan
    parsed = _parse(_csv(bad, tmp_path / "mixed.csv"), config)

    assert len(parsed.frame) == len(small) - 3
    assert len(parsed.rejected) == 3
    reasons = dict(zip(parsed.rejected["_ct_source_row"], parsed.rejected[ROW_REASON_COLUMN]))
    # CSV line numbers: header is line 1, so data row i is line i + 2
    assert reasons[4] == "tenure_months: not a number"
    assert reasons[7].startswith("churned: not one of the classes")
    assert reasons[9] == "customer_id: missing identifier"
    kept = set(parsed.frame["customer_id"])
    assert small.loc[2, "customer_id"] not in kept and small.loc[5, "customer_id"] not in kept
    assert small.loc[0, "customer_id"] in kept
    assert set(parsed.frame["churned"]) <= {"no", "yes"}


def test_missing_non_nullable_value_rejects_row(tmp_path: Path, small: pd.DataFrame, config: PipelineConfig) -> None:
    bad = small.copy()
    bad.loc[0, "tenure_months"] = np.nan  # declared nullable: false
    bad.loc[1, "monthly_charges"] = np.nan  # nullable: kept as NaN
    parsed = _parse(_csv(bad, tmp_path / "nulls.csv"), config)
    assert parsed.rejected[ROW_REASON_COLUMN].tolist() == ["tenure_months: missing value (declared not nullable)"]
    assert len(parsed.frame) == len(small) - 1
    assert parsed.frame["monthly_charges"].isna().sum() == 1


def test_rows_rejected_are_written_with_reasons(tmp_path: Path, small: pd.DataFrame, config: PipelineConfig) -> None:
    bad = small.astype({"age": object})
    bad.loc[3, "age"] = "old"
    parsed = _parse(_csv(bad, tmp_path / "rows.csv"), config)
    target = quarantine_rows(parsed, tmp_path / "quarantine")
    assert target is not None and target.name == "rows.rejected_rows.csv"
    written = pd.read_csv(target, dtype=str)
    assert written[ROW_REASON_COLUMN].tolist() == ["age: not a number"]
    assert written["age"].tolist() == ["old"]


def test_quarantine_rows_writes_nothing_without_rejects(
    tmp_path: Path, small: pd.DataFrame, config: PipelineConfig
) -> None:
    parsed = _parse(_csv(small, tmp_path / "ok.csv"), config)
    assert quarantine_rows(parsed, tmp_path / "quarantine") is None
    assert not (tmp_path / "quarantine").exists()


def test_non_finite_number_rejects_row(tmp_path: Path, small: pd.DataFrame, config: PipelineConfig) -> None:
    bad = small.astype({"total_charges": object})
    bad.loc[3, "total_charges"] = "inf"
    parsed = _parse(_csv(bad, tmp_path / "inf.csv"), config)
    assert len(parsed.rejected) == 1
    assert np.isfinite(parsed.frame["total_charges"].dropna()).all()


# -- parse_landing_file: whole-file quarantine codes -----------------------------------------------------
def test_unparseable_csv_unbalanced_quotes(tmp_path: Path, config: PipelineConfig) -> None:
    path = _write(tmp_path / "broken.csv", 'customer_id,tenure_months\n"C1,3\nC2,4\n')
    err = _code(path, config)
    assert err.code == "unparseable"
    assert "broken.csv" in str(err)


def test_unparseable_csv_ragged_rows(tmp_path: Path, small: pd.DataFrame, config: PipelineConfig) -> None:
    text = small.to_csv(index=False) + "C9,1,2,3,4,5,6,a,b,c,d,yes,extra,more\n"
    err = _code(_write(tmp_path / "ragged.csv", text), config)
    assert err.code == "unparseable"


def test_binary_garbage_is_quarantined(tmp_path: Path, config: PipelineConfig) -> None:
    garbage = bytes(np.random.default_rng(3).integers(0, 256, 512, dtype=np.uint8))
    err = _code(_write(tmp_path / "garbage.csv", garbage), config)
    assert err.code in {"not_utf8", "unparseable"}


def test_damaged_parquet_is_unparseable(tmp_path: Path, config: PipelineConfig) -> None:
    err = _code(_write(tmp_path / "damaged.parquet", b"PAR1 not really parquet"), config)
    assert err.code == "unparseable"
    assert "Parquet" in str(err)


def test_missing_column(tmp_path: Path, small: pd.DataFrame, config: PipelineConfig) -> None:
    err = _code(_csv(small.drop(columns=["region"]), tmp_path / "cols.csv"), config)
    assert err.code == "wrong_columns"
    assert err.details["missing"] == ["region"]
    assert "region" in str(err)


def test_mostly_wrong_types(tmp_path: Path, small: pd.DataFrame, config: PipelineConfig) -> None:
    bad = small.astype({"monthly_charges": object})
    bad.loc[: len(bad) // 2, "monthly_charges"] = "n/a-value"
    err = _code(_csv(bad, tmp_path / "types.csv"), config)
    assert err.code == "wrong_types"
    assert err.details["rows"] == len(small)
    assert err.details["bad_rows"] == len(small) // 2 + 1
    assert "monthly_charges: not a number" in err.details["reasons"]
    assert "max_bad_row_fraction" in str(err)


def test_bad_row_share_at_threshold_is_accepted(tmp_path: Path, small: pd.DataFrame, config: PipelineConfig) -> None:
    bad = small.astype({"monthly_charges": object})
    n_bad = int(len(bad) * config.ingest.max_bad_row_fraction)  # 8 of 40 = exactly 20 %
    bad.loc[: n_bad - 1, "monthly_charges"] = "x"
    parsed = _parse(_csv(bad, tmp_path / "edge.csv"), config)
    assert len(parsed.rejected) == n_bad
    assert len(parsed.frame) == len(small) - n_bad


def test_empty_zero_byte_file(tmp_path: Path, config: PipelineConfig) -> None:
    err = _code(_write(tmp_path / "empty.csv", b""), config)
    assert err.code == "empty_file"
    assert "0 bytes" in str(err)


def test_header_only_file(tmp_path: Path, small: pd.DataFrame, config: PipelineConfig) -> None:
    err = _code(_write(tmp_path / "header.csv", ",".join(small.columns) + "\n"), config)
    assert err.code == "empty_file"
    assert "no rows" in str(err)


def test_whitespace_only_file(tmp_path: Path, config: PipelineConfig) -> None:
    err = _code(_write(tmp_path / "blank.csv", "\n\n"), config)
    assert err.code == "empty_file"


def test_latin1_text(tmp_path: Path, small: pd.DataFrame, config: PipelineConfig) -> None:
    bad = small.copy()
    bad.loc[0, "region"] = "Zürich"
    path = tmp_path / "latin1.csv"
    path.write_bytes(bad.to_csv(index=False).encode("latin-1"))
    err = _code(path, config)
    assert err.code == "not_utf8"
    assert "UTF-8" in str(err)


def test_unsupported_suffix(tmp_path: Path, small: pd.DataFrame, config: PipelineConfig) -> None:
    path = _csv(small, tmp_path / "data.xlsx")
    err = _code(path, config)
    assert err.code == "unsupported_format"
    assert ".xlsx" in str(err)


# -- quarantine_file / archive_file -------------------------------------------------------------------
def test_quarantine_file_moves_and_writes_reason(tmp_path: Path) -> None:
    src = _write(tmp_path / "landing" / "bad.csv", "not,really\n")
    source = _landing(src)
    q = quarantine_file(source, tmp_path / "quarantine", "wrong_columns", "bad.csv: missing stuff", {"missing": ["x"]})
    assert not src.exists()
    assert q.path.exists() and q.path.read_text() == "not,really\n"
    assert q.path.parent.parent == tmp_path / "quarantine"
    assert q.code == "wrong_columns" and q.original_name == "bad.csv"
    reason = json.loads(q.reason_path.read_text())
    assert reason["code"] == "wrong_columns"
    assert reason["message"] == "bad.csv: missing stuff"
    assert reason["sha256"] == hashlib.sha256(b"not,really\n").hexdigest()
    assert reason["size"] == len("not,really\n")
    assert reason["details"] == {"missing": ["x"]}
    assert reason["original_path"] == str(src)


def test_archive_is_checksum_addressed(tmp_path: Path) -> None:
    src = _write(tmp_path / "landing" / "good.csv", "a\n1\n")
    source = _landing(src)
    target = archive_file(source, tmp_path / "archive")
    assert not src.exists()
    assert target == tmp_path / "archive" / source.sha256[:2] / source.sha256 / "good.csv"
    assert sha256_file(target) == source.sha256


def test_archive_same_content_twice_keeps_one_copy(tmp_path: Path) -> None:
    first = archive_file(_landing(_write(tmp_path / "landing" / "good.csv", "a\n1\n")), tmp_path / "archive")
    again_src = _write(tmp_path / "landing" / "good.csv", "a\n1\n")
    again = archive_file(_landing(again_src), tmp_path / "archive")
    assert again == first
    assert not again_src.exists()
    assert len([p for p in (tmp_path / "archive").rglob("*") if p.is_file()]) == 1


# -- streaming in chunks --------------------------------------------------------------------------------
def _chunked(config: PipelineConfig, rows: int) -> IngestConfig:
    return config.ingest.model_copy(update={"chunk_rows": rows})


def test_csv_chunks_parse_like_the_whole_file(tmp_path: Path, demo_frame: pd.DataFrame, config: PipelineConfig) -> None:
    bad = demo_frame.astype({"age": object})
    bad.loc[[5, 250, 599], "age"] = "old"
    source = _landing(_csv(bad, tmp_path / "big.csv"))
    whole = parse_landing_file(source, config.dataset, config.ingest)
    chunks = list(iter_parsed_chunks(source, config.dataset, _chunked(config, 100)))
    assert [c.rows for c in chunks] == [100] * 6
    pd.testing.assert_frame_equal(pd.concat([c.frame for c in chunks], ignore_index=True), whole.frame)
    # source line numbers run on across chunks (header is line 1)
    assert pd.concat([c.rejected for c in chunks])[SOURCE_ROW_COLUMN].tolist() == [7, 252, 601]


def test_parquet_is_read_by_batches_with_running_row_positions(
    tmp_path: Path, demo_frame: pd.DataFrame, config: PipelineConfig
) -> None:
    bad = demo_frame.copy()
    bad["churned"] = bad["churned"].astype(object)
    bad.loc[[3, 420], "churned"] = "maybe"
    path = tmp_path / "batch.parquet"
    bad.to_parquet(path, index=False, row_group_size=1000)
    chunks = list(iter_parsed_chunks(_landing(path), config.dataset, _chunked(config, 128)))
    assert [c.rows for c in chunks] == [128, 128, 128, 128, 88]
    assert sum(len(c.frame) for c in chunks) == len(bad) - 2
    assert pd.concat([c.rejected for c in chunks])[SOURCE_ROW_COLUMN].tolist() == [3, 420]


def test_bad_row_share_is_judged_over_the_whole_file(
    tmp_path: Path, demo_frame: pd.DataFrame, config: PipelineConfig
) -> None:
    # every bad row sits in the first chunk (100 % bad there) but the file as a whole is at 10 %
    bad = demo_frame.astype({"age": object})
    bad.loc[:59, "age"] = "old"
    chunks = list(iter_parsed_chunks(_landing(_csv(bad, tmp_path / "a.csv")), config.dataset, _chunked(config, 60)))
    assert sum(len(c.rejected) for c in chunks) == 60
    # and the other way round: bad rows late in the file reject it at the end of the stream
    worse = demo_frame.astype({"age": object})
    worse.loc[300:, "age"] = "old"
    stream = iter_parsed_chunks(_landing(_csv(worse, tmp_path / "b.csv")), config.dataset, _chunked(config, 100))
    first_three = [next(stream) for _ in range(3)]
    assert all(c.rejected.empty for c in first_three)
    with pytest.raises(IngestError) as info:
        list(stream)
    assert info.value.code == "wrong_types"
    assert info.value.details == {"bad_rows": 300, "rows": 600, "reasons": {"age: not a number": 300}}


def test_whole_file_problems_are_found_before_the_first_chunk(
    tmp_path: Path, small: pd.DataFrame, config: PipelineConfig
) -> None:
    cases = {
        "cols.csv": small.drop(columns=["region"]).to_csv(index=False).encode(),
        "header.csv": (",".join(small.columns) + "\n").encode(),
        "latin1.csv": small.assign(region="Zürich").to_csv(index=False).encode("latin-1"),
        "damaged.parquet": b"PAR1 not really parquet",
    }
    for name, data in cases.items():
        stream = iter_parsed_chunks(_landing(_write(tmp_path / name, data)), config.dataset, _chunked(config, 5))
        with pytest.raises(IngestError):
            next(stream)  # raised by the very first step, before any chunk exists


def test_non_utf8_found_deep_in_a_large_file(tmp_path: Path, demo_frame: pd.DataFrame, config: PipelineConfig) -> None:
    text = pd.concat([demo_frame] * 8).to_csv(index=False)  # ~400 KB; pad past one 1 MiB block
    text = text * 3
    raw = text.encode() + b"C9,1,2,3,4,5,6,month-to-month,card,Z\xfcrich,basic,yes\n"
    path = _write(tmp_path / "deep.csv", raw)
    assert path.stat().st_size > 1 << 20
    err = _code(path, config)
    assert err.code == "not_utf8"
    assert err.details["byte"] == len(raw) - len(b"\xfcrich,basic,yes\n")
    assert f"byte {err.details['byte']}" in str(err)


def test_multibyte_character_across_a_block_boundary_is_fine(tmp_path: Path) -> None:
    head = b"a" * ((1 << 20) - 1)
    path = _write(tmp_path / "edge.csv", head + "é\n".encode())  # é's two bytes straddle the 1 MiB boundary
    check_utf8(path, "edge.csv")
    bad = _write(tmp_path / "edge-bad.csv", head + b"\xc3(\n")  # a lead byte with no continuation
    with pytest.raises(IngestError) as info:
        check_utf8(bad, "edge-bad.csv")
    assert info.value.details["byte"] == len(head)


def test_parse_error_late_in_the_file_is_unparseable(
    tmp_path: Path, demo_frame: pd.DataFrame, config: PipelineConfig
) -> None:
    text = demo_frame.to_csv(index=False) + "C9,1,2,3,4,5,6,a,b,c,d,yes,extra,more\n"
    stream = iter_parsed_chunks(_landing(_write(tmp_path / "late.csv", text)), config.dataset, _chunked(config, 100))
    assert len(next(stream).frame) == 100
    with pytest.raises(IngestError) as info:
        list(stream)
    assert info.value.code == "unparseable"
    assert "late.csv" in str(info.value)


def test_empty_parquet_file(tmp_path: Path, small: pd.DataFrame, config: PipelineConfig) -> None:
    path = tmp_path / "none.parquet"
    small.head(0).to_parquet(path, index=False)
    assert _code(path, config).code == "empty_file"


def test_whole_row_type_mismatch_rejects_file(tmp_path: Path, small: pd.DataFrame, config: PipelineConfig) -> None:
    # a Parquet file whose numeric column arrives as free text in every row
    path = tmp_path / "typed.parquet"
    small.assign(tenure_months="twelve").to_parquet(path, index=False)
    err = _code(path, config)
    assert err.code == "wrong_types"
    assert err.details["bad_rows"] == len(small)


# -- take_in_file: parts, spooled rejects ---------------------------------------------------------------
def test_take_in_file_writes_one_part_per_chunk(
    tmp_path: Path, demo_frame: pd.DataFrame, config: PipelineConfig
) -> None:
    from pipeline.core.storage import ObjectStore

    store = ObjectStore((tmp_path / "store").as_uri())
    bad = demo_frame.astype({"age": object})
    bad.loc[[1, 2], "age"] = "old"
    source = _landing(_csv(bad, tmp_path / "landing" / "f.csv"))
    quarantine = tmp_path / "quarantine"
    taken = take_in_file(store, source, config.dataset, _chunked(config, 250), quarantine)
    assert [p.rows for p in taken.parts] == [248, 250, 100]
    assert {p.source.sha256 for p in taken.parts} == {source.sha256}
    assert sorted(store.list("snapshots/parts")) == sorted(p.key for p in taken.parts)
    assert (taken.rows, taken.accepted_rows, taken.rejected_rows) == (600, 598, 2)
    # this run's own spool, keyed by the file's checksum, held until the manifest is the latest
    assert taken.pending_rows.parent == quarantine / ".pending" and taken.pending_rows.name.startswith(source.sha256)
    spooled = pd.read_csv(taken.pending_rows, dtype=str)
    assert spooled[ROW_REASON_COLUMN].tolist() == ["age: not a number"] * 2
    assert spooled[SOURCE_ROW_COLUMN].tolist() == ["3", "4"]
    assert source.path.exists()  # the file leaves the landing area only after the manifest


def test_take_in_file_rejected_late_discards_its_spool(
    tmp_path: Path, demo_frame: pd.DataFrame, config: PipelineConfig
) -> None:
    from pipeline.core.storage import ObjectStore

    store = ObjectStore((tmp_path / "store").as_uri())
    worse = demo_frame.astype({"age": object})
    worse.loc[300:, "age"] = "old"
    source = _landing(_csv(worse, tmp_path / "landing" / "late.csv"))
    with pytest.raises(IngestError, match="max_bad_row_fraction"):
        take_in_file(store, source, config.dataset, _chunked(config, 200), tmp_path / "quarantine")
    assert len(store.list("snapshots/parts")) == 2  # rows 0-199 and 200-299: written before the verdict, never listed
    assert not list((tmp_path / "quarantine").rglob(f"{source.sha256}*"))
