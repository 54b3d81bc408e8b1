"""The churn demo's three batches, run through the loop in this process: a store for console tests.

``pipeline.app.demo_churn.run_churn_demo_in_process`` (no Airflow, about 25 s): three versions, a
champion, drift and a broken label contract on batch 3, live windows and alerts; each batch trained
under the run id ``demo-run-<n>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.app.demo_churn import BATCH_NOTES, run_churn_demo_in_process
from pipeline.app.workspace import Workspace, open_workspace


@dataclass(frozen=True)
class ConsoleLoop:
    """The workspace after the three batches, and what each batch produced."""

    ws: Workspace
    snapshots: tuple[str, ...]
    """Snapshot id after each batch."""
    run_ids: tuple[str, ...]
    """The run id each batch was trained under (``demo-run-1`` …)."""


def run_console_loop(home: Path) -> ConsoleLoop:
    """Run the three demo batches in ``home`` (a fresh directory) and return the workspace."""
    settings, snapshots = run_churn_demo_in_process(home)
    run_ids = tuple(f"demo-run-{n}" for n in range(1, len(BATCH_NOTES) + 1))
    return ConsoleLoop(ws=open_workspace(settings), snapshots=snapshots, run_ids=run_ids)
