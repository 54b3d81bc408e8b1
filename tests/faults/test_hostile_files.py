"""Whatever one file holds, it may only quarantine itself: good files beside it are taken in.

Each test drops a hostile file (a repeated column, a name as long as the file system allows, a
symbolic link, a memory bomb, a file still being written) next to a good one and checks that the
good one reaches the snapshot, the bad one lands in quarantine with a reason code and a message
naming it, and a second run does not trip over anything left behind.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fault_helpers import batch, make_workspace, quarantined_names, reasons

import pipeline.app.stages.ingest as ingest_stage
from pipeline.app import stages
from pipeline.data.snapshots import read_manifest


def _good(landing: Path) -> None:
    landing.mkdir(parents=True, exist_ok=True)
    batch(80, 5, 0).to_csv(landing / "good.csv", index=False)


def _ingest_twice(home: Path, **ingest: object):
    """Two runs: the second must not crash on anything the first left (the file stays quarantined)."""
    first = stages.ingest_landing(make_workspace(home, **ingest))
    second = stages.ingest_landing(make_workspace(home, **ingest))
    return first, second


def _only_good_taken(home: Path, out) -> None:
    assert out.accepted == ["good.csv"]
    ws = make_workspace(home)
    assert read_manifest(ws.store, out.snapshot_id).rows == 80
    assert list((home / "landing").iterdir()) == []


# -- duplicate columns ------------------------------------------------------------------------------
def test_csv_columns_equal_after_trimming_quarantine_only_that_file(home: Path) -> None:
    landing = home / "landing"
    _good(landing)
    frame = batch(30, 6, 5_000)
    frame.insert(2, " age ", frame["age"] + 1)  # "age" and " age ": the same column once trimmed
    frame.to_csv(landing / "dup.csv", index=False)

    first, _second = _ingest_twice(home)
    _only_good_taken(home, first)
    [reason] = reasons(home)
    assert reason["file"] == "dup.csv" and reason["code"] == "duplicate_columns"
    assert "dup.csv" in reason["message"] and "'age'" in reason["message"]
    assert quarantined_names(home) == ["dup.csv"]


def test_parquet_with_a_repeated_column_name_quarantines_only_that_file(home: Path) -> None:
    landing = home / "landing"
    _good(landing)
    frame = batch(30, 6, 5_000)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.append_column(pa.field("age", pa.float64()), [frame["age"].to_numpy()])
    pq.write_table(table, landing / "twice.parquet")

    first, _ = _ingest_twice(home)
    _only_good_taken(home, first)
    [reason] = reasons(home)
    assert (reason["file"], reason["code"]) == ("twice.parquet", "duplicate_columns")
    assert "age" in reason["message"]


def test_a_repeated_column_in_the_scoring_inbox_is_quarantined_not_a_crash(home: Path) -> None:
    from pipeline.core.errors import IngestError
    from pipeline.data.ingestion import LandingFile, sha256_file
    from pipeline.data.live_inputs import read_unlabelled

    frame = batch(20, 7, 0).drop(columns=["churned"])
    frame.insert(2, "age ", frame["age"])
    path = home / "scoring" / "batch.csv"
    path.parent.mkdir()
    frame.to_csv(path, index=False)
    ws = make_workspace(home)
    with pytest.raises(IngestError) as info:
        read_unlabelled(LandingFile(path, path.stat().st_size, sha256_file(path)), ws.config.dataset, ws.config.ingest)
    assert info.value.code == "duplicate_columns" and "batch.csv" in str(info.value)


# -- long names -------------------------------------------------------------------------------------
def test_a_name_as_long_as_the_file_system_allows_is_taken_or_quarantined(home: Path) -> None:
    landing = home / "landing"
    _good(landing)
    long_bad = "b" * 240 + ".csv"  # legal (244 bytes), but "<name>.reason.json" is not
    (landing / long_bad).write_text("only,a,header\n")
    long_good = "g" * 230 + ".csv"
    bad_rows = batch(40, 8, 9_000).astype({"age": object})
    bad_rows.loc[[2], "age"] = "old"
    bad_rows.to_csv(landing / long_good, index=False)

    first, second = _ingest_twice(home)
    assert sorted(first.accepted) == sorted(["good.csv", long_good])
    assert [q["file"] for q in first.quarantined] == [long_bad]
    assert quarantined_names(home) == [long_bad]
    [reason] = reasons(home)
    assert reason["file"] == long_bad
    assert list((home / "landing").iterdir()) == []
    assert len([p for p in (home / "quarantine").rglob("*.rejected_rows.csv") if ".pending" not in p.parts]) == 1
    assert second.quarantined == []


# -- symbolic links ---------------------------------------------------------------------------------
def test_a_symlink_is_quarantined_unread_and_its_target_untouched(home: Path, tmp_path: Path) -> None:
    landing = home / "landing"
    _good(landing)
    outside = tmp_path / "secret" / "other.csv"
    outside.parent.mkdir()
    batch(50, 9, 70_000).to_csv(outside, index=False)
    before = outside.read_bytes()
    os.symlink(outside, landing / "link.csv")

    first, _ = _ingest_twice(home)
    _only_good_taken(home, first)
    [reason] = reasons(home)
    assert (reason["file"], reason["code"]) == ("link.csv", "symlink")
    assert "not read" in reason["message"] and str(outside) in reason["message"]
    assert outside.read_bytes() == before  # the target stays where it was, unread
    [kept] = list((home / "quarantine").rglob("link.csv"))
    assert kept.is_symlink()


# -- memory bombs -----------------------------------------------------------------------------------
def test_a_huge_csv_line_is_quarantined_before_parsing(home: Path) -> None:
    landing = home / "landing"
    _good(landing)
    frame = batch(10, 10, 80_000)
    frame.loc[3, "region"] = "x" * 300_000  # CSV line 5 (the header is line 1)
    frame.to_csv(landing / "wide.csv", index=False)

    first, _ = _ingest_twice(home, max_field_bytes=100_000, max_row_bytes=1_000_000)
    _only_good_taken(home, first)
    [reason] = reasons(home)
    assert (reason["file"], reason["code"]) == ("wide.csv", "too_large")
    assert "max_field_bytes" in reason["message"] and "line 5" in reason["message"]


def test_a_csv_row_over_the_row_limit_is_quarantined(home: Path) -> None:
    landing = home / "landing"
    _good(landing)
    frame = batch(10, 10, 80_000)
    frame["region"] = "r" * 900
    frame["plan"] = "p" * 900
    frame.to_csv(landing / "rows.csv", index=False)

    first, _ = _ingest_twice(home, max_field_bytes=1_000, max_row_bytes=1_500)
    _only_good_taken(home, first)
    [reason] = reasons(home)
    assert (reason["file"], reason["code"]) == ("rows.csv", "too_large")
    assert "max_row_bytes" in reason["message"]


def test_a_parquet_file_that_expands_enormously_is_quarantined_from_its_footer(home: Path) -> None:
    landing = home / "landing"
    _good(landing)
    frame = batch(20_000, 11, 90_000)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    big = pa.DictionaryArray.from_arrays(pa.array([0] * len(frame), type=pa.int32()), pa.array(["y" * 3000]))
    table = table.set_column(table.schema.get_field_index("region"), "region", big)
    pq.write_table(table, landing / "bomb.parquet", compression="zstd")
    assert (landing / "bomb.parquet").stat().st_size < 400_000  # 60 MB once decoded

    first, _ = _ingest_twice(home, max_row_bytes=2_000, chunk_rows=20_000)
    _only_good_taken(home, first)
    [reason] = reasons(home)
    assert (reason["file"], reason["code"]) == ("bomb.parquet", "too_large")
    assert "max_row_bytes" in reason["message"]


def test_parquet_limits_hold_without_statistics(home: Path) -> None:
    landing = home / "landing"
    _good(landing)
    frame = batch(5_000, 12, 95_000)
    frame["region"] = "z" * 3000
    pq.write_table(
        pa.Table.from_pandas(frame, preserve_index=False),
        landing / "nostats.parquet",
        write_statistics=False,
        compression="zstd",
    )
    first, _ = _ingest_twice(home, max_decoded_bytes=2_000_000, chunk_rows=5_000)
    _only_good_taken(home, first)
    [reason] = reasons(home)
    assert (reason["file"], reason["code"]) == ("nostats.parquet", "too_large")


# -- a file still being written ---------------------------------------------------------------------
def test_a_file_that_grows_while_being_read_waits_in_landing(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    landing = home / "landing"
    landing.mkdir()
    first_half = batch(60, 13, 0)
    second_half = batch(60, 14, 60)
    path = landing / "slow.csv"
    first_half.to_csv(path, index=False)  # the producer paused here, long enough to look complete
    original = ingest_stage.take_in_file

    def writer_resumes(store, source, *args, **kwargs):
        got = original(store, source, *args, **kwargs)
        if source.name == "slow.csv" and not second_half.empty:
            with open(path, "a") as fh:
                fh.write(second_half.to_csv(index=False, header=False))
        return got

    monkeypatch.setattr(ingest_stage, "take_in_file", writer_resumes)
    ws = make_workspace(home)
    out = stages.ingest_landing(ws)
    assert out.accepted == [] and out.snapshot_id is None and out.waiting == ["slow.csv"]
    assert path.exists() and not (home / "archive").exists()

    monkeypatch.setattr(ingest_stage, "take_in_file", original)
    again = stages.ingest_landing(make_workspace(home))
    assert again.accepted == ["slow.csv"] and again.rows == 120  # the whole file, once


def test_size_limits_count_quoted_fields_whole_and_accept_what_fits(home: Path) -> None:
    from pipeline.core.errors import IngestError
    from pipeline.data.ingestion import check_csv_sizes

    ingest = make_workspace(home, max_field_bytes=1_000, max_row_bytes=5_000).config.ingest
    fits = home / "fits.csv"
    fits.write_text('a,b\n"' + "x,\n" * 300 + '",2\n' + "1,2\n" * 10)  # 900 bytes of commas and breaks, quoted
    check_csv_sizes(fits, "fits.csv", ingest)
    too_wide = home / "too_wide.csv"
    too_wide.write_text('a,b\n1,"' + ",\n" * 600 + '"\n')  # one quoted field of 1200 bytes over many lines
    with pytest.raises(IngestError) as info:
        check_csv_sizes(too_wide, "too_wide.csv", ingest)
    assert info.value.code == "too_large" and "max_field_bytes" in str(info.value)


def test_an_unexpected_error_reading_one_file_quarantines_only_that_file(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.data import ingestion

    landing = home / "landing"
    _good(landing)
    batch(20, 15, 50_000).to_csv(landing / "odd.csv", index=False)
    real = ingestion._coerce  # every chunk of a landing file is coerced here (Arrow or pandas path)

    def breaks_on_odd(raw, dataset, name, *args, **kwargs):
        if name == "odd.csv":
            raise AttributeError("'DataFrame' object has no attribute 'str'")  # what a bad header once caused
        return real(raw, dataset, name, *args, **kwargs)

    monkeypatch.setattr(ingestion, "_coerce", breaks_on_odd)
    first, _ = _ingest_twice(home)
    _only_good_taken(home, first)
    [reason] = reasons(home)
    assert (reason["file"], reason["code"]) == ("odd.csv", "unreadable")
    assert "AttributeError" in reason["message"] and "odd.csv" in reason["message"]
