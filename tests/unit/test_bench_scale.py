"""The scale bench's arithmetic: its table and its verdicts against the issue's goals must be what was measured.

``bench/bench_scale.py`` reports medians, peak RSS and checks (10M rows under 90 s, no stage above
3 GiB, 1M -> 10M at most 12x). The pure helpers are tested on made-up runs; one tiny real run
(a few hundred rows, one repetition) shows the stages run end to end in their own processes.
Nothing here is timed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bench.bench_scale import (
    GOAL_RSS_BYTES,
    StageRun,
    check_goals,
    format_table,
    growth,
    parse_rows,
    rows_label,
    run_rows,
    summarise,
)

MiB = 1024**2


def _run(stage: str, rows: int, seconds: float, rss_mib: int = 500) -> StageRun:
    return StageRun(stage=stage, rows=rows, seconds=seconds, peak_rss_bytes=rss_mib * MiB, details={})


@pytest.mark.parametrize(
    ("text", "rows"), [("100k", 100_000), ("1M", 1_000_000), ("10m", 10_000_000), ("2.5M", 2_500_000), ("1_000", 1000)]
)
def test_row_counts_read_with_suffixes(text: str, rows: int) -> None:
    assert parse_rows(text) == rows


@pytest.mark.parametrize("text", ["lots", "0", "1.5", "-3k"])
def test_bad_row_counts_say_what_is_expected(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="row count"):
        parse_rows(text)


def test_row_labels_are_short_when_exact() -> None:
    assert [rows_label(n) for n in (100_000, 1_000_000, 10_000_000, 1_234)] == ["100k", "1M", "10M", "1,234"]


def test_summaries_take_the_median_time_and_the_worst_memory() -> None:
    runs = [_run("ingest", 1000, s, rss) for s, rss in ((3.0, 400), (1.0, 600), (2.0, 500))]
    runs.append(_run("validate", 1000, 5.0))
    ingest, validate = summarise(runs)
    assert (ingest.stage, ingest.median_seconds, ingest.all_seconds) == ("ingest", 2.0, (3.0, 1.0, 2.0))
    assert ingest.peak_rss_bytes == 600 * MiB and validate.median_seconds == 5.0


def test_goals_hold_or_are_missed_as_measured() -> None:
    runs = [
        _run("ingest", 1_000_000, 5.0),
        _run("validate", 1_000_000, 2.0),
        _run("ingest", 10_000_000, 50.0),
        _run("validate", 10_000_000, 30.0, rss_mib=3 * 1024 + 1),
    ]
    checks = {c.goal.split(":")[0]: c for c in check_goals(summarise(runs))}
    bar = next(c for goal, c in checks.items() if goal.startswith("ingest + validate at 10M"))
    assert bar.held is True and bar.measured == "80.0 s"
    memory = next(c for c in checks.values() if "peak RSS" in c.goal)
    assert memory.held is False and "validate, 10M rows" in memory.measured
    assert checks["ingest"].held is True and checks["ingest"].measured == "10.0x"
    assert checks["validate"].held is False and checks["validate"].measured == "15.0x"
    assert checks["ingest+validate"].held is True  # 80 s / 7 s = 11.4x


def test_goals_not_measured_say_so() -> None:
    checks = check_goals(summarise([_run("ingest", 100_000, 1.0)]))
    assert checks[0].held is None and checks[0].measured == "not measured"
    assert all("->" not in c.goal for c in checks)  # no growth without 1M and 10M rows
    assert "—       ingest + validate" in format_table(summarise([_run("ingest", 100_000, 1.0)]), checks)


def test_growth_of_a_zero_time_is_infinite() -> None:
    assert growth(0.0, 1.0) == float("inf") and growth(2.0, 5.0) == 2.5


def test_table_reports_time_per_million_rows_of_the_stage_s_own_data() -> None:
    table = format_table(summarise([_run("ingest", 1_000_000, 10.0), _run("drift", 1_000_000, 1.0)]), [])
    ingest, drift = table.splitlines()[1:3]
    assert ingest.split()[:4] == ["1M", "ingest", "10.00", "500"] and ingest.split()[5] == "10.00"
    assert drift.split()[5] == "10.00"  # the drift stage checks N/10 new rows


def test_a_tiny_run_goes_through_every_stage_in_its_own_process(tmp_path: Path) -> None:
    runs = run_rows(300, ("ingest", "validate", "append", "drift"), tmp_path, repetition=0)
    assert [r.stage for r in runs] == ["ingest", "validate", "append", "drift"]
    assert all(0 < r.peak_rss_bytes < GOAL_RSS_BYTES and r.seconds > 0 for r in runs)
    assert runs[1].details["passed"] is True and runs[3].details["new_rows"] == 30
    assert not (tmp_path / "home_300_0").exists()  # the workspace is deleted after each repetition
