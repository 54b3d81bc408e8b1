"""What a watcher that cannot open the workspace may ask of the landing area: has it settled yet.

Airflow's deferrable landing sensor hands its wait to a trigger that runs in the triggerer, one
asyncio loop shared by every waiting task, with no config or stores of its own: the sensor passes
it the folder and ``stable_seconds`` (from :func:`pipeline.app.stages.ingest.landing_status`) and
the trigger polls with :func:`scan_landing_folder`. The Airflow glue reaches the pipeline through
``pipeline.app`` only, and this module keeps that cheap: it imports the standard library and
:mod:`pipeline.data.ready_files`, nothing that loads pandas, SQLAlchemy or scikit-learn.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.data.ready_files import LandingScan, scan_landing


def scan_landing_folder(landing: str, stable_seconds: float) -> LandingScan:
    """The complete files, the files still being written and whether ``landing`` has settled."""
    return scan_landing(Path(landing), stable_seconds)
