"""Which landing files are complete, and when the landing area has settled."""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.core.settings import BUNDLED_CONFIG
from pipeline.data.ready_files import find_ready_files, scan_landing

NOW = 1_800_000_000.0


def _write(path: Path, text: str = "a,b\n1,2\n", age: float = 100.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.utime(path, (NOW - age, NOW - age))
    return path


def test_a_growing_file_keeps_the_area_unsettled_but_does_not_hide_complete_ones(tmp_path: Path) -> None:
    _write(tmp_path / "old.csv", age=100)
    _write(tmp_path / "growing.csv", age=1)
    scan = scan_landing(tmp_path, stable_seconds=5, now=NOW)
    assert [p.name for p in scan.ready] == ["old.csv"]
    assert [p.name for p in scan.in_progress] == ["growing.csv"]
    assert not scan.settled
    later = scan_landing(tmp_path, stable_seconds=5, now=NOW + 10)
    assert [p.name for p in later.ready] == ["old.csv", "growing.csv"] and later.settled


def test_a_success_marker_completes_its_folder_at_once(tmp_path: Path) -> None:
    _write(tmp_path / "batch" / "part-1.csv", age=0)
    _write(tmp_path / "batch" / "part-2.csv", age=0)
    assert not scan_landing(tmp_path, stable_seconds=60, now=NOW).settled
    (tmp_path / "batch" / "_SUCCESS").touch()
    scan = scan_landing(tmp_path, stable_seconds=60, now=NOW)
    assert scan.settled and {p.name for p in scan.ready} == {"part-1.csv", "part-2.csv"}


def test_temporary_and_hidden_files_are_never_ready(tmp_path: Path) -> None:
    _write(tmp_path / "upload.csv.part", age=1000)
    _write(tmp_path / ".hidden.csv", age=1000)
    _write(tmp_path / "_temporary" / "x.csv", age=1000)
    scan = scan_landing(tmp_path, stable_seconds=5, now=NOW)
    assert scan.ready == ()
    assert [p.name for p in scan.in_progress] == ["upload.csv.part"]  # a download in progress: wait for it
    assert find_ready_files(tmp_path, 5, now=NOW) == []


def test_empty_or_missing_area_is_not_settled(tmp_path: Path) -> None:
    assert not scan_landing(tmp_path / "absent", 5).settled
    assert not scan_landing(tmp_path, 5).settled


def test_the_parse_time_schedule_defaults_match_the_validated_config() -> None:
    """plugins/ct_airflow/defaults.py repeats SchedulesConfig's defaults (it may not import pipeline at
    parse time); a config without a schedules section must give the DAGs the same crons either way."""
    from ct_airflow.defaults import read_schedules
    from pipeline.core.config import SchedulesConfig

    assert read_schedules(BUNDLED_CONFIG.parent / "absent.yaml") == SchedulesConfig().model_dump()
