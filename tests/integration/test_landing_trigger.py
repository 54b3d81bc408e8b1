"""The landing trigger, run as Airflow's triggerer runs it (an asyncio generator), on a real folder."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("airflow")

from airflow.triggers.base import TriggerEvent

from ct_airflow.landing import LandingFilesTrigger


def _first_event(trigger: LandingFilesTrigger) -> tuple[TriggerEvent, float]:
    async def first() -> TriggerEvent:
        async for event in trigger.run():
            return event
        raise AssertionError("the trigger ended without an event")

    started = time.monotonic()
    event = asyncio.run(asyncio.wait_for(first(), timeout=30))
    return event, time.monotonic() - started


def _trigger(landing: Path, **overrides) -> LandingFilesTrigger:
    args = {
        "landing": str(landing),
        "stable_seconds": 1.0,
        "poke_seconds": 0.2,
        "deadline": time.time() + 20,
        "settle_timeout": 20.0,
        **overrides,
    }
    trigger = LandingFilesTrigger(**args)
    classpath, kwargs = trigger.serialize()
    assert classpath == "ct_airflow.landing.LandingFilesTrigger" and kwargs == args  # what the triggerer stores
    return LandingFilesTrigger(**kwargs)


def test_a_burst_fires_once_with_every_file_after_the_last_one_is_written(tmp_path: Path) -> None:
    writes_done = threading.Event()

    def burst() -> None:
        for i in range(4):
            (tmp_path / f"file-{i}.csv").write_text("a,b\n1,2\n")
            time.sleep(0.3)
        with open(tmp_path / "slow.csv", "w") as fh:  # a large file written slowly
            for _ in range(8):
                fh.write("a,b\n1,2\n")
                fh.flush()
                time.sleep(0.3)
        writes_done.set()

    writer = threading.Thread(target=burst)
    writer.start()
    event, _ = _first_event(_trigger(tmp_path))
    writer.join()
    assert writes_done.is_set()
    assert event.payload["status"] == "ready"
    assert sorted(event.payload["files"]) == ["file-0.csv", "file-1.csv", "file-2.csv", "file-3.csv", "slow.csv"]


def test_nothing_landing_ends_in_a_timeout_event(tmp_path: Path) -> None:
    event, took = _first_event(_trigger(tmp_path, deadline=time.time() + 1))
    assert event.payload == {"status": "timeout"}
    assert took < 10


def test_a_file_that_never_stops_changing_does_not_starve_the_complete_ones(tmp_path: Path) -> None:
    (tmp_path / "done.csv").write_text("a,b\n1,2\n")
    stop = threading.Event()

    def keep_writing() -> None:
        with open(tmp_path / "endless.csv", "w") as fh:
            while not stop.is_set():
                fh.write("x\n")
                fh.flush()
                time.sleep(0.1)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        event, took = _first_event(_trigger(tmp_path, settle_timeout=3.0))
    finally:
        stop.set()
        writer.join()
    assert event.payload == {"status": "ready", "files": ["done.csv"]}
    assert took >= 3.0
