"""From an Airflow run (or one of its tasks) to the console page about what it produced.

Airflow's run and task pages carry a tab that opens ``/ui/runs/<dag>/<run>[/tasks/<task>]``; this
module decides where that goes. A ``ct_train`` run links to the model version it registered (the
version's trigger records the run id), its ``validate`` task to the validation it recorded (the
summary keeps the run id); ``ct_monitor`` links to monitoring and ``ct_ingest`` to the snapshots.
A run that produced nothing to show (still running, or stopped before registering) gets a short
page that says so and what it can offer instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.app.console.html import render_page
from pipeline.app.console.links import Links
from pipeline.app.workspace import Workspace

TRAIN_DAG, INGEST_DAG, MONITOR_DAG = "ct_train", "ct_ingest", "ct_monitor"
VALIDATION_TASKS = frozenset({"validate"})
RECENT_VALIDATIONS = 200
"""How many of the newest validations are searched for a run's own."""


@dataclass(frozen=True)
class RunTarget:
    """Where a run's tab leads: ``url`` when the run produced a page, else ``message`` says why not."""

    dag_id: str
    run_id: str
    task_id: str | None
    url: str | None
    message: str
    alternatives: tuple[tuple[str, str], ...] = ()
    """(label, url) of pages that may help instead."""


def _validation_of_run(ws: Workspace, run_id: str) -> int | None:
    for record in ws.meta.list_validations(limit=RECENT_VALIDATIONS):
        if record.summary.get("run_id") == run_id:
            return record.id
    return None


def _version_of_run(ws: Workspace, run_id: str) -> tuple[str, int, int | None] | None:
    """(model, version, validation id) of the version the run registered, if any."""
    name = ws.config.model.name
    for mv in ws.meta.list_model_versions(name):
        if mv.trigger.get("run_id") == run_id:
            return mv.name, mv.version, mv.validation_id
    return None


def resolve(ws: Workspace, links: Links, dag_id: str, run_id: str, task_id: str | None) -> RunTarget:
    """The console page for this run (or task), or why there is none."""

    def target(url: str | None, message: str, *alternatives: tuple[str, str]) -> RunTarget:
        return RunTarget(dag_id, run_id, task_id, url, message, tuple(alternatives))

    if dag_id == TRAIN_DAG:
        version = _version_of_run(ws, run_id)
        if task_id in VALIDATION_TASKS:
            validation_id = version[2] if version and version[2] is not None else _validation_of_run(ws, run_id)
            if validation_id is not None:
                return target(links.validation(validation_id), "the validation this run recorded")
            return target(
                None,
                "this run has not recorded a validation (yet): it may still be running, or it stopped before",
                ("All validations", links.validations()),
            )
        if version is not None:
            return target(links.version(version[0], version[1]), "the model version this run registered")
        validation_id = _validation_of_run(ws, run_id)
        return target(
            None,
            "this run registered no model version: it may still be running, the snapshot may have been "
            "trained already, or it stopped (see its task logs)",
            *((("Its validation", links.validation(validation_id)),) if validation_id is not None else ()),
            ("All model versions", links.models()),
        )
    if dag_id == MONITOR_DAG:
        return target(links.monitoring(), "the champion's live performance and drift")
    if dag_id == INGEST_DAG:
        return target(links.snapshots(), "the snapshots, newest first")
    return target(None, f"{dag_id} is not one of the continuous-training DAGs", ("Models", links.models()))


def render_unlinked(run: RunTarget, links: Links) -> str:
    """The page for a run with nothing of its own to show."""
    return render_page("run.html.j2", links=links, title=f"{run.dag_id} run", section="models", run=run)
