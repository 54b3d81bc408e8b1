"""What a ct_train run records as its trigger, read from the Airflow context (plugins/ct_airflow/provenance.py)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from ct_airflow.provenance import trigger_from_context

PARAMS = {"snapshot_id": "", "model_spec": "", "force": False, "override_promotion": False, "reason": ""}
DROP = {"kind": "performance_drop", "reason": "roc_auc fell", "evidence": {"windows": [1, 2]}}


def _context(
    run_type: str, user: str | None, conf: dict[str, Any] | None = None, events: list[dict] | None = None, **params: Any
) -> dict[str, Any]:
    run = SimpleNamespace(
        run_type=run_type, dag_id="ct_train", run_id=f"{run_type}__1", triggering_user_name=user, conf=conf or {}
    )
    asset_events = {"ct_checked_snapshots": [SimpleNamespace(extra=e) for e in (events or [])]}
    return {"dag_run": run, "params": {**PARAMS, **params}, "triggering_asset_events": asset_events}


def test_a_person_cannot_claim_a_performance_drop() -> None:
    ctx = _context("manual", "alice", conf={"ct_trigger": DROP, "evidence": {"fake": True}}, reason="just because")
    trigger = trigger_from_context(ctx)
    assert (trigger["kind"], trigger["user"], trigger["reason"]) == ("manual", "alice", "just because")
    assert trigger["evidence"] is None


def test_the_embedded_runner_names_the_kind_it_was_handed() -> None:
    trigger = trigger_from_context(_context("manual", "dag_test", conf={"ct_trigger": DROP}))
    assert (trigger["kind"], trigger["reason"], trigger["evidence"]) == (
        "performance_drop",
        "roc_auc fell",
        {"windows": [1, 2]},
    )
    unknown = trigger_from_context(_context("manual", "dag_test", conf={"ct_trigger": {"kind": "because"}}))
    assert unknown["kind"] == "manual"


def test_asset_and_clock_runs() -> None:
    asset = trigger_from_context(_context("asset_triggered", None, events=[{"snapshot_id": "s1", "trigger": DROP}]))
    assert (asset["kind"], asset["snapshot_id"], asset["evidence"]) == ("performance_drop", "s1", {"windows": [1, 2]})
    assert trigger_from_context(_context("scheduled", None))["kind"] == "schedule"
