"""Wait for landing files without holding a worker slot: a deferrable sensor and its trigger.

The sensor checks once on a worker; if nothing is ready it *defers*: the worker slot is released
and :class:`LandingFilesTrigger` polls the landing folder inside Airflow's triggerer (one asyncio
loop for all waiting tasks). The trigger fires only when the folder has *settled* — complete
files and nothing still being written — so a burst of files arriving together gives one ingest
run, and a file still growing is never picked up early. A file that keeps changing cannot starve
the others: after ``settle_timeout`` the complete files go ahead without it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator
from airflow.triggers.base import BaseTrigger, TriggerEvent


class LandingFilesTrigger(BaseTrigger):
    """Fires ``{"status": "ready", "files": [...]}`` once the landing folder settles, or
    ``{"status": "timeout"}`` at ``deadline`` (a Unix time)."""

    def __init__(
        self, landing: str, stable_seconds: float, poke_seconds: float, deadline: float, settle_timeout: float
    ) -> None:
        super().__init__()
        self.landing = landing
        self.stable_seconds = stable_seconds
        self.poke_seconds = poke_seconds
        self.deadline = deadline
        self.settle_timeout = settle_timeout

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "landing": self.landing,
                "stable_seconds": self.stable_seconds,
                "poke_seconds": self.poke_seconds,
                "deadline": self.deadline,
                "settle_timeout": self.settle_timeout,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from pipeline.app.landing_watch import scan_landing_folder

        first_ready_at: float | None = None
        while True:
            scan = await asyncio.to_thread(scan_landing_folder, self.landing, self.stable_seconds)
            now = time.time()
            if scan.ready and first_ready_at is None:
                first_ready_at = now
            if not scan.ready:
                first_ready_at = None
            if scan.settled or (first_ready_at is not None and now - first_ready_at >= self.settle_timeout):
                if scan.in_progress:
                    self.log.warning(
                        "going ahead without files still being written: %s", ", ".join(p.name for p in scan.in_progress)
                    )
                yield TriggerEvent({"status": "ready", "files": [p.name for p in scan.ready]})
                return
            if scan.in_progress:
                self.log.info(
                    "waiting for %d file(s) still being written: %s",
                    len(scan.in_progress),
                    ", ".join(p.name for p in scan.in_progress),
                )
            if now >= self.deadline:
                yield TriggerEvent({"status": "timeout"})
                return
            await asyncio.sleep(self.poke_seconds)


class LandingFilesSensor(BaseSensorOperator):
    """Passes (returning the ready file names) once the landing area has settled or a source table
    has new rows; after ``wait`` with nothing to take, the task is skipped, not failed."""

    def __init__(
        self, *, poke_seconds: float, wait: timedelta, settle_timeout: float | None = None, **kwargs: Any
    ) -> None:
        super().__init__(poke_interval=poke_seconds, timeout=wait.total_seconds(), soft_fail=True, **kwargs)
        self.poke_seconds = poke_seconds
        self.wait = wait
        self.settle_timeout = settle_timeout

    @staticmethod
    def _status() -> dict[str, Any]:
        from ct_airflow.stage import run_stage
        from pipeline.app.stages import landing_status

        return run_stage(landing_status)

    def poke(self, context: Any) -> bool:
        return bool(self._status()["start"])

    def execute(self, context: Any) -> list[str]:
        status = self._status()
        if status["start"]:
            return status["ready"] + status["tables"]
        settle = self.settle_timeout if self.settle_timeout is not None else max(60.0, 10 * status["stable_seconds"])
        self.log.info(
            "nothing settled in %s yet (%d still being written); deferring to the triggerer",
            status["landing"],
            len(status["in_progress"]),
        )
        self.defer(
            trigger=LandingFilesTrigger(
                landing=status["landing"],
                stable_seconds=status["stable_seconds"],
                poke_seconds=self.poke_seconds,
                deadline=time.time() + self.wait.total_seconds(),
                settle_timeout=settle,
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> list[str]:
        from airflow.sdk.exceptions import AirflowSkipException

        if not event or event.get("status") != "ready":
            raise AirflowSkipException(f"no landing files within {self.wait}; the next scheduled run waits again")
        return list(event["files"])
