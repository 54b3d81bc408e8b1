"""The Airflow UI plugin: the continuous-training console in the api-server and in the navigation.

Airflow loads every file of the plugins folder; this is the one that declares the plugin. The
console (``pipeline/app/console``) is mounted at ``/ct``; its four pages are entries of a
"Continuous training" menu, and every DAG run and task instance gets a tab that opens the page of
what that run produced (the model version it registered, the validation it recorded).
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

from ct_airflow.console_auth import MOUNT, LazyConsole

CATEGORY = "Continuous training"
RUN_TAB = "Model & data"


def _page(name: str, path: str) -> dict[str, Any]:
    return {
        "name": name,
        "href": f"{MOUNT}/ui/{path}",
        "destination": "nav",
        "category": CATEGORY,
        "url_route": f"ct-{path}",
    }


class ContinuousTrainingConsole(AirflowPlugin):
    name = "continuous_training_console"
    # Airflow reads these as class attributes, as every plugin declares them.
    fastapi_apps = [  # noqa: RUF012
        {"app": LazyConsole(), "url_prefix": MOUNT, "name": "Continuous-training console"}
    ]
    external_views = [  # noqa: RUF012
        _page("Models", "models"),
        _page("Snapshots", "snapshots"),
        _page("Validation", "validations"),
        _page("Monitoring", "monitoring"),
        {
            "name": RUN_TAB,
            "href": f"{MOUNT}/ui/runs/{{DAG_ID}}/{{RUN_ID}}",
            "destination": "dag_run",
            "url_route": "ct-run",
        },
        {
            "name": RUN_TAB,
            "href": f"{MOUNT}/ui/runs/{{DAG_ID}}/{{RUN_ID}}/tasks/{{TASK_ID}}",
            "destination": "task_instance",
            "url_route": "ct-task",
        },
    ]
