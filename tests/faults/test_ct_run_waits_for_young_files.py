"""``cp batch.csv data/landing/ && ct run`` takes the batch: ``ct run`` waits for young files to
settle (bounded), instead of reporting "no complete files" and doing nothing."""

from __future__ import annotations

import argparse
import os
import threading
import time
from pathlib import Path

import pytest
from fault_helpers import batch, fake_ingest_only_dags, fault_config

import pipeline.app.local_runner as local_run
from pipeline.app.workspace import open_workspace
from pipeline.cli.running import cmd_run
from pipeline.core.config import dump_config
from pipeline.core.settings import Settings

STABLE_SECONDS = 2.0


def _settings(home: Path) -> Settings:
    config = home / "pipeline.yaml"
    config.write_text(dump_config(fault_config(stable_seconds=STABLE_SECONDS)), encoding="utf-8")
    return Settings(home=home, config_path=config, database_url=f"sqlite:///{home / 'ct.db'}", data_url=home.as_uri())


def test_ct_run_waits_for_a_file_copied_a_second_ago_and_ingests_it(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    ran = fake_ingest_only_dags(monkeypatch)
    settings = _settings(home)
    landing = home / "landing"
    landing.mkdir()
    path = landing / "batch.csv"
    batch(120, 7, 0).to_csv(path, index=False)
    os.utime(path, (time.time() - 1, time.time() - 1))  # copied one second before the command

    cmd_run(argparse.Namespace(spec=None, force=False, reason=None, json=False), settings)

    out = capsys.readouterr().out
    assert "waiting" in out and "batch.csv" in out and "at most 60 s" in out
    assert "no complete files" not in out
    assert ran[0] == "ct_ingest"
    snapshot = open_workspace(settings).meta.latest_snapshot("churn")
    assert snapshot is not None and snapshot.rows == 120


def test_a_file_that_never_settles_does_not_hang_ct_run(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ran = fake_ingest_only_dags(monkeypatch)
    settings = _settings(home)
    landing = home / "landing"
    landing.mkdir()
    done = landing / "done.csv"
    batch(80, 3, 0).to_csv(done, index=False)
    os.utime(done, (time.time() - 3600, time.time() - 3600))
    growing = landing / "growing.csv"
    growing.write_text("customer_id,age\n")
    stop = threading.Event()

    def keep_writing() -> None:
        while not stop.is_set():
            with growing.open("a") as fh:
                fh.write("1,2\n")
            stop.wait(0.2)

    writer = threading.Thread(target=keep_writing, daemon=True)
    writer.start()
    lines: list[str] = []
    try:
        outcome = local_run.run_landing(settings, echo=lines.append, settle_timeout=1.0)
    finally:
        stop.set()
        writer.join()

    assert outcome.still_written == ["growing.csv"]
    assert any("growing.csv" in line and "still being written" in line for line in lines)
    assert ran[0] == "ct_ingest"
    assert open_workspace(settings).meta.latest_snapshot("churn").rows == 80
    assert growing.exists()  # left for the next run, not ingested half-written


def test_a_stale_temporary_file_does_not_hold_ct_run_up(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``.part`` left by a crashed producer an hour ago will not complete while we wait: no wait at all."""
    fake_ingest_only_dags(monkeypatch)
    settings = _settings(home)
    landing = home / "landing"
    landing.mkdir()
    stale = landing / "crashed.csv.part"
    stale.write_text("customer_id\n")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    lines: list[str] = []

    outcome = local_run.run_landing(settings, echo=lines.append)

    assert not any("waiting" in line for line in lines)
    assert outcome.still_written == ["crashed.csv.part"]
