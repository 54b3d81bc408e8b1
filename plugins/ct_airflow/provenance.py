"""Why a ct_train run is running, read from the Airflow context and recorded with the model."""

from __future__ import annotations

from typing import Any

TRIGGER_KINDS = ("manual", "new_data", "schedule", "performance_drop", "drift")

EMBEDDED_RUNNER_USER = "dag_test"
"""Who ``airflow dags test`` says triggered a run: ``ct run`` and ``ct demo`` drive the DAGs that way.

Only such a run may name its own kind (``conf["ct_trigger"]``); a run a person starts from the form
or the REST API is always ``manual``, recorded with their user name, whatever its conf says.
"""


def _asset_extras(context: Any) -> list[dict[str, Any]]:
    events = context.get("triggering_asset_events") or {}
    extras: list[dict[str, Any]] = []
    try:
        for _asset, asset_events in events.items():
            extras.extend(dict(getattr(event, "extra", None) or {}) for event in asset_events)
    except (AttributeError, TypeError):
        return extras
    return extras


def trigger_from_context(context: Any) -> dict[str, Any]:
    """A JSON-ready account of what started this run: kind, run, user, reason, parameters."""
    dag_run = context["dag_run"]
    params = dict(context["params"])
    run_type = str(getattr(dag_run.run_type, "value", dag_run.run_type))
    extras = _asset_extras(context)
    snapshot_ids = [e["snapshot_id"] for e in extras if e.get("snapshot_id")]
    handed_over: dict[str, Any] = next(
        (e["trigger"] for e in reversed(extras) if isinstance(e.get("trigger"), dict)), {}
    )
    user = getattr(dag_run, "triggering_user_name", None)
    conf = getattr(dag_run, "conf", None) or {}
    internal = conf.get("ct_trigger") if user == EMBEDDED_RUNNER_USER else None
    internal = internal if isinstance(internal, dict) and internal.get("kind") in TRIGGER_KINDS else {}
    if "asset" in run_type:
        kind = handed_over.get("kind", "new_data")
    elif run_type == "scheduled":
        kind = "schedule"
    else:
        kind = internal.get("kind", "manual")
        handed_over = internal or handed_over
    return {
        "kind": kind,
        "run_type": run_type,
        "dag_id": dag_run.dag_id,
        "run_id": dag_run.run_id,
        "user": user,
        "reason": params.get("reason") or handed_over.get("reason", ""),
        "evidence": handed_over.get("evidence"),
        "snapshot_id": snapshot_ids[-1] if snapshot_ids else (params.get("snapshot_id") or None),
        "params": {k: params.get(k) for k in ("snapshot_id", "model_spec", "force", "override_promotion")},
    }
