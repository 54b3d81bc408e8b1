"""The plain-words progress log: one line per thing a stage did, which the CLI echoes.

Every stage and every domain step that a person watching a run should hear about calls
``progress``; the lines carry ``PROGRESS_MARK`` so a runner can pick them out of a task log.
"""

from __future__ import annotations

import logging

progress_log = logging.getLogger("ct.progress")

PROGRESS_MARK = "CT>"


def progress(stage: str, message: str) -> None:
    """A one-line, plain-words account of what a stage did (the CLI echoes these)."""
    progress_log.info("%s %s: %s", PROGRESS_MARK, stage, message)
