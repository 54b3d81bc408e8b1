"""Pending training work lives in the store: coalesced Airflow events delay work but never drop it.

Driven as plain Python, the way the DAG tasks call the stages; what Airflow does to the events is
modelled by which snapshot id a run's own event names (an older one, when events were coalesced).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipeline.app import stages
from pipeline.app.demo_data import BatchSpec, generate_batch
from pipeline.app.stages.monitor import (
    MonitorDecision,
    hand_over_to_training,
    retrain_decision,
    score_snapshot,
    unchecked_snapshots,
)
from pipeline.app.training_flow import run_training
from pipeline.app.work_requests import pending_requests
from pipeline.app.workspace import Workspace
from pipeline.core.config import PipelineConfig
from pipeline.core.settings import Settings
from pipeline.registry.base import CHAMPION

BATCHES = [BatchSpec(rows=600, seed=300 + i, first_id=100_000 * i) for i in range(4)]


pytestmark = pytest.mark.usefixtures("fixed_code_version")


@pytest.fixture
def ws(settings: Settings, config: PipelineConfig) -> Workspace:
    settings.landing.mkdir(parents=True, exist_ok=True)
    fast = config.model_copy(
        update={
            "evaluation": config.evaluation.model_copy(update={"bootstrap_resamples": 100, "folds": 3}),
            "ingest": config.ingest.model_copy(update={"stable_seconds": 0}),
            "model": config.model.model_copy(update={"candidates": ()}),
            # 600-row batches hold out ~120 rows: below the default minimum, and these tests are about
            # claims and resolutions, not about thin evidence (tests/unit/test_thin_evidence.py is).
            "promotion": config.promotion.model_copy(update={"min_holdout_rows": 50, "min_class_rows": 10}),
        }
    )
    return Workspace(settings=settings, config=fast)


def _land(ws: Workspace, i: int) -> str:
    generate_batch(BATCHES[i]).to_csv(ws.settings.landing / f"batch-{i}.csv", index=False)
    out = stages.ingest_landing(ws)
    assert out.created
    return str(out.snapshot_id)


def _monitor(ws: Workspace, snapshot_id: str | None = None) -> dict[str, Any]:
    """ct_monitor's score_new_data -> decide -> hand_over, with no retrain decision."""
    scored = score_snapshot(ws, snapshot_id)
    decision = retrain_decision({"retrain": False, "kind": None, "reason": "", "evidence": {}}, scored)
    return {"scored": scored, "trigger": hand_over_to_training(ws, decision)}


def _trigger(run_id: str, kind: str, event_snapshot: str | None) -> dict[str, Any]:
    """What ct_train's plan task reads from its Airflow context: the run, its kind and its event's snapshot."""
    return {"kind": kind, "run_id": run_id, "dag_id": "ct_train", "snapshot_id": event_snapshot}


def test_a_run_started_by_an_old_event_trains_the_newest_checked_snapshot_and_covers_the_rest(ws: Workspace) -> None:
    s1 = _land(ws, 0)
    _monitor(ws)
    run_training(ws, snapshot_id=s1, trigger=_trigger("run-1", "new_data", s1))
    assert pending_requests(ws) == []

    # Three batches and a performance drop arrive while ct_train is busy; Airflow coalesces the
    # events and the next run is told only of the first snapshot.
    s2 = _land(ws, 1)
    s3 = _land(ws, 2)
    assert [s.id for s in unchecked_snapshots(ws)] == [s3, s2]
    checked = _monitor(ws)["scored"]
    assert checked.checked == (s2, s3) and checked.snapshot_id == s3
    s4 = _land(ws, 3)
    _monitor(ws)
    drop = MonitorDecision(
        retrain=True,
        kind="performance_drop",
        reason="roc_auc fell below 0.78 in the last 2 windows",
        evidence={"windows": [{"window_id": "w1"}, {"window_id": "w2"}]},
        champion_version=1,
        snapshot_id=s4,
        new_data=False,
    )
    hand_over_to_training(ws, drop)
    hand_over_to_training(ws, drop)  # a rerun of the hand-over asks nothing twice
    waiting = pending_requests(ws)
    assert [(r.kind, r.snapshot_id) for r in waiting] == [
        ("new_data", s2),
        ("new_data", s3),
        ("new_data", s4),
        ("performance_drop", s4),
    ]

    run = run_training(ws, snapshot_id=s2, trigger=_trigger("run-2", "new_data", s2))

    plan = run.plan
    assert plan.snapshot_id == s4, "the newest checked snapshot is trained, not the one in the event"
    trigger = plan.trigger
    assert trigger["kind"] == "performance_drop" and trigger["kinds"] == ["new_data", "performance_drop"]
    assert trigger["reason"].startswith("roc_auc fell below")
    assert [c["snapshot_id"] for c in trigger["covers"]] == [s2, s3, s4, s4]
    mv = ws.meta.get_model_version(ws.config.model.name, run.registration.version)
    assert mv.snapshot_id == s4 and [c["kind"] for c in mv.trigger["covers"]][-1] == "performance_drop"
    assert pending_requests(ws) == []
    resolved = {r.snapshot_id + ":" + r.kind: r for r in ws.meta.list_work_requests(ws.config.model.name)}
    assert resolved[f"{s2}:new_data"].resolution.startswith("covered: newer snapshot")
    assert resolved[f"{s4}:performance_drop"].resolution.startswith("trained")
    assert {r.resolved_by for r in resolved.values() if r.snapshot_id != s1} == {"run-2"}
    assert {r.resolved_version for r in resolved.values() if r.snapshot_id != s1} == {mv.version}

    # The event that was coalesced away starts one more run later: it finds nothing to do.
    again = run_training(ws, snapshot_id=s3, trigger=_trigger("run-3", "new_data", s3))
    assert again.plan.existing_version == mv.version and again.plan.trigger["covers"] == []
    assert len(ws.meta.list_model_versions(ws.config.model.name)) == 2


def test_a_failed_run_leaves_its_claims_for_the_next_run(ws: Workspace) -> None:
    s1 = _land(ws, 0)
    _monitor(ws)
    first = stages.plan_training(ws, None, None, {"kind": "new_data", "run_id": "run-dies", "snapshot_id": s1})
    assert [c["snapshot_id"] for c in first.trigger["covers"]] == [s1]
    (request,) = pending_requests(ws)
    assert request.claimed_by == "run-dies"  # the run died before register: the claim resolves nothing

    run = run_training(ws, snapshot_id=s1, trigger=_trigger("run-next", "new_data", s1))

    assert [c["request_id"] for c in run.plan.trigger["covers"]] == [request.id]
    assert pending_requests(ws) == []
    (done,) = ws.meta.list_work_requests(ws.config.model.name, pending=False)
    assert (done.resolved_by, done.claimed_by, done.status) == ("run-next", "run-next", "done")


def test_a_manual_run_on_an_older_snapshot_leaves_newer_requests_pending(ws: Workspace) -> None:
    s1 = _land(ws, 0)
    _monitor(ws)
    s2 = _land(ws, 1)
    _monitor(ws)
    run = run_training(ws, snapshot_id=s1, trigger=_trigger("manual-1", "manual", s1))
    assert run.plan.snapshot_id == s1 and run.plan.trigger["kind"] == "manual"
    assert [r.snapshot_id for r in pending_requests(ws)] == [s2]


def test_a_version_left_undecided_by_a_killed_run_is_decided_by_the_next(ws: Workspace) -> None:
    s1 = _land(ws, 0)
    _monitor(ws)
    run = run_training(
        ws, snapshot_id=s1, trigger=_trigger("run-killed", "new_data", s1), until="register"
    )  # killed between register and promote
    version = run.registration.version
    assert ws.meta.get_model_version(ws.config.model.name, version).decision is None

    rerun = run_training(ws, snapshot_id=s1, trigger=_trigger("run-after", "new_data", s1))

    assert rerun.plan.existing_version == version
    mv = ws.meta.get_model_version(ws.config.model.name, version)
    assert mv.decision is not None and mv.decision["promote"] is True
    assert ws.meta.get_alias(ws.config.model.name, CHAMPION).version == version
    # and a third run does not decide it again
    history = ws.meta.promotion_history(ws.config.model.name, CHAMPION)
    run_training(ws, snapshot_id=s1, trigger=_trigger("run-third", "new_data", s1))
    assert ws.meta.promotion_history(ws.config.model.name, CHAMPION) == history


def test_monitor_with_nothing_waiting_records_no_request(ws: Workspace) -> None:
    _land(ws, 0)
    _monitor(ws)
    before = ws.meta.list_work_requests(ws.config.model.name)
    out = _monitor(ws)
    assert out["scored"].new_data is False and out["trigger"] is None
    assert ws.meta.list_work_requests(ws.config.model.name) == before


def test_ct_runs_pending_lists_what_waits_and_why(
    ws: Workspace, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.cli import main

    monkeypatch.setattr("pipeline.cli.runs.open_workspace_for", lambda _settings: ws)
    monkeypatch.setattr("pipeline.cli.load_settings", lambda: ws.settings)
    s1 = _land(ws, 0)
    generate_batch(BATCHES[1]).to_csv(ws.settings.landing / "next.csv", index=False)
    assert main(["runs", "pending", "--json"]) == 0
    items = json.loads(capsys.readouterr().out)
    assert [(i["dag"], i["what"]) for i in items] == [
        ("ct_ingest", "landing/next.csv"),
        ("ct_monitor", f"snapshot {s1}"),
    ]
    _monitor(ws)
    assert main(["runs", "pending"]) == 0
    out = capsys.readouterr().out
    assert "ct_train" in out and "new_data" in out and f"new snapshot {s1}" in out
    run_training(ws, snapshot_id=s1, trigger=_trigger("run-1", "new_data", s1))
    assert main(["runs", "requests"]) == 0
    out = capsys.readouterr().out
    assert "run-1" in out and "v1" in out and "trained: snapshot" in out


def test_a_request_raised_after_its_snapshot_was_trained_is_covered_by_that_version(ws: Workspace) -> None:
    s1 = _land(ws, 0)
    _monitor(ws)
    version = run_training(ws, snapshot_id=s1, trigger=_trigger("run-1", "new_data", s1)).registration.version
    drop = MonitorDecision(
        retrain=True,
        kind="drift",
        reason="drift in 2 consecutive windows",
        evidence={"windows": [{"window_id": "w7"}, {"window_id": "w8"}]},
        champion_version=version,
        snapshot_id=s1,
        new_data=False,
    )
    hand_over_to_training(ws, drop)

    again = run_training(ws, snapshot_id=s1, trigger=_trigger("run-2", "drift", s1))

    assert again.plan.existing_version == version and again.plan.trigger["kind"] == "drift"
    (request,) = [r for r in ws.meta.list_work_requests(ws.config.model.name) if r.kind == "drift"]
    assert request.status == "done" and request.resolved_by == "run-2" and request.resolved_version == version
    assert request.resolution.startswith(f"covered: snapshot {s1} was already trained as v{version}")
    tags = ws.meta.get_model_version(ws.config.model.name, version).tags
    assert json.loads(tags[f"covered_request:{request.id}"])["kind"] == "drift"
