"""Run one pipeline stage inside a task with plain-words logging and the right retry semantics.

The task hands over JSON (what XCom carries); ``pipeline.app.contracts.call_stage`` turns it into
the typed contracts the stage's signature names and turns the stage's result back into JSON.

Errors the pipeline raises on purpose (bad data, failed validation, bad config) are deterministic:
retrying cannot help, so they fail the task at once with the message in the log. Anything else
(a lost connection, a full disk) is left to Airflow's retries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("ct.task")


def run_stage(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Open the workspace, call ``fn(workspace, ...)`` with its arguments as contracts, return its
    result as JSON for XCom, and translate pipeline errors for Airflow."""
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from ct_airflow.data_connection import data_root_settings
    from pipeline.app.contracts import call_stage
    from pipeline.app.workspace import open_workspace
    from pipeline.core.errors import CTError, NothingToDo

    try:
        return call_stage(fn, open_workspace(data_root_settings()), *args, **kwargs)
    except NothingToDo as err:
        log.info("CT> nothing to do: %s", err)
        raise AirflowSkipException(str(err)) from err
    except CTError as err:
        for line in str(err).splitlines():
            log.error("CT! %s", line)
        raise AirflowFailException(f"{type(err).__name__}: {err}") from err
