"""Why a ct_train run is running, read from the Airflow context and recorded with the model."""

from __future__ import annotations

from typing import Any

TRIGGER_KINDS = ("manual", "new_data", "schedule", "performance_drop", "drift")


def _asset_snapshot_ids(context: Any) -> list[str]:
    events = context.get("triggering_asset_events") or {}
    ids: list[str] = []
    try:
        for _asset, asset_events in events.items():
            for event in asset_events:
                sid = (getattr(event, "extra", None) or {}).get("snapshot_id")
                if sid:
                    ids.append(sid)
    except (AttributeError, TypeError):
        return ids
    return ids


def trigger_from_context(context: Any) -> dict[str, Any]:
    """A JSON-ready account of what started this run: kind, run, user, reason, parameters."""
    dag_run = context["dag_run"]
    params = dict(context["params"])
    run_type = str(getattr(dag_run.run_type, "value", dag_run.run_type))
    snapshot_ids = _asset_snapshot_ids(context)
    if "asset" in run_type:
        kind = "new_data"
    elif run_type == "scheduled":
        kind = "schedule"
    else:
        kind = params.get("trigger") or "manual"
    return {
        "kind": kind,
        "run_type": run_type,
        "dag_id": dag_run.dag_id,
        "run_id": dag_run.run_id,
        "user": getattr(dag_run, "triggering_user_name", None),
        "reason": params.get("reason") or "",
        "snapshot_id": snapshot_ids[-1] if snapshot_ids else (params.get("snapshot_id") or None),
        "params": {k: params.get(k) for k in ("snapshot_id", "model_spec", "force", "override_promotion")},
    }
