"""The pipeline raises alerts where the events happen: alias moves, live verdicts, validation warnings.

A real workspace (SQLite store, file object store, real artifacts); models are registered with a
small hand-made evaluation instead of being trained, which keeps these tests fast. A failed
validation that stops training (and the Airflow task failure it causes) is covered through
Airflow in ``tests/integration/test_dag_runs.py``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pipeline.app import stages
from pipeline.app.demo_data import BatchSpec, generate_batch
from pipeline.app.stages.register import promote_version, rollback_alias
from pipeline.app.workspace import Workspace
from pipeline.core.config import PipelineConfig
from pipeline.core.settings import Settings
from pipeline.monitoring.live_performance import check_for_retrain
from pipeline.registry import schema as t
from pipeline.registry.base import NewModelVersion

MODEL = "churn-classifier"


def _evaluation(roc: float) -> dict[str, Any]:
    holdout = {"roc_auc": {"value": roc, "lower": roc - 0.03, "upper": roc + 0.03, "std": 0.015}}
    # a holdout large enough for the promotion policy's minimum (200 rows, 20 of a class)
    return {
        "train_rows": 3200,
        "holdout_rows": 800,
        "holdout_classes": {"no": 400, "yes": 400},
        "holdout": holdout,
        "seconds": 0.1,
        "cross_validation": {"roc_auc": {"mean": roc, "std": 0.01, "folds": 3}},
        "champion": None,
    }


@pytest.fixture
def ws(settings: Settings, config: PipelineConfig) -> Workspace:
    workspace = Workspace(settings=settings, config=config)
    for version, roc in ((1, 0.84), (2, 0.86)):
        key, sha = workspace.artifacts.save({"weights": [version]}, MODEL)
        workspace.meta.register_model(
            NewModelVersion(
                name=MODEL,
                snapshot_id=f"{version:016x}",
                config_hash=f"cfg-{version}",
                spec_name="default",
                params={},
                metrics=_evaluation(roc)["holdout"],
                evaluation=_evaluation(roc),
                artifact_uri=key,
                artifact_sha256=sha,
                validation_id=None,
                trigger={"kind": "test"},
                code_version="test:0",
                lineage={"evaluation_uri": f"file:///ev/{version}.json"},
            )
        )
    return workspace


def _kinds(ws: Workspace) -> list[tuple[str, str]]:
    return [(a.kind, a.title) for a in reversed(ws.meta.list_alerts())]


def test_every_alias_move_is_one_alert(ws: Workspace) -> None:
    stages.promote_if_better(ws, MODEL, 1)  # first model: the policy promotes it
    promote_version(ws, MODEL, 2, reason="v2 looks better", actor="carol")
    promote_version(ws, MODEL, 2, reason="again", actor="carol")  # nothing moves: no alert
    rollback_alias(ws, MODEL, reason="v2 misbehaves", actor="dave")

    assert _kinds(ws) == [
        ("promoted", f"{MODEL}: champion moved nothing -> v1"),
        ("promoted", f"{MODEL}: champion moved v1 -> v2"),
        ("rolled_back", f"{MODEL}: champion rolled back v2 -> v1"),
    ]
    newest = ws.meta.list_alerts()[0]
    ledger = ws.meta.promotion_history(MODEL)[-1]
    assert (newest.severity, newest.message) == ("warning", "by dave: v2 misbehaves")
    assert newest.details["ledger_id"] == ledger.id and newest.dedupe_key.endswith(f"ledger{ledger.id}")


def test_a_promote_rerun_tells_a_move_once_even_after_a_crash_before_the_alert(ws: Workspace) -> None:
    stages.promote_if_better(ws, MODEL, 1)
    stages.promote_if_better(ws, MODEL, 1)  # a task retry: already champion, the alert exists
    assert [k for k, _ in _kinds(ws)] == ["promoted"]

    with ws.meta.engine.begin() as conn:  # as if the first try died between the move and its alert
        conn.execute(t.alerts.delete())
    stages.promote_if_better(ws, MODEL, 1)
    stages.promote_if_better(ws, MODEL, 1)
    assert _kinds(ws) == [("promoted", f"{MODEL}: champion moved nothing -> v1")]


def _live_windows(ws: Workspace, version: int, values: list[float]) -> None:
    """Store the champion's live windows the way ``score_new_batches`` does."""
    start = datetime(2026, 3, 1, tzinfo=UTC)
    for i, value in enumerate(values):
        window = {
            "window_id": f"part{i}",
            "model_version": version,
            "rows": 1000,
            "value": value,
            "lower": value - 0.02,
            "upper": value + 0.02,
            "drift_share": 0.0,
            "drifted_features": [],
            "observed_at": (start + timedelta(hours=i)).isoformat(),
        }
        ws.store.put(f"monitoring/{MODEL}/v{version}/part{i}.json", json.dumps(window).encode())


def test_a_performance_drop_alerts_once_per_verdict(ws: Workspace) -> None:
    stages.promote_if_better(ws, MODEL, 1)  # champion v1 (roc_auc 0.84), promoted just now
    _live_windows(ws, 1, [0.70, 0.69])  # two significant drops in a row

    held = check_for_retrain(ws)  # within the 24 h cooldown after the promotion
    check_for_retrain(ws)  # ct run checks the same evidence again after ct_monitor did
    later = datetime.now(UTC) + timedelta(hours=25)
    asked = check_for_retrain(ws, now=later)
    check_for_retrain(ws, now=later)

    assert (held["retrain"], held["kind"], asked["retrain"]) == (False, "performance_drop", True)
    drops = [a for a in reversed(ws.meta.list_alerts()) if a.kind == "performance_drop"]
    assert [(a.severity, a.details["retrain"]) for a in drops] == [("info", False), ("warning", True)]
    assert drops[1].title == f"{MODEL} v1: performance drop on live data; retrain requested"
    assert drops[1].message == asked["reason"] and drops[1].details["windows"] == ["part0", "part1"]


def test_steady_live_performance_raises_no_alert(ws: Workspace) -> None:
    stages.promote_if_better(ws, MODEL, 1)
    _live_windows(ws, 1, [0.84, 0.83])
    assert check_for_retrain(ws)["kind"] is None
    assert [k for k, _ in _kinds(ws)] == ["promoted"]


def test_a_broken_label_contract_is_a_warning_alert_and_training_goes_on(ws: Workspace) -> None:
    batch = ws.settings.landing / "b1"
    batch.mkdir(parents=True)
    generate_batch(BatchSpec(rows=600, seed=3, churn_share=0.7)).to_csv(batch / "b.csv", index=False)
    (batch / "_SUCCESS").touch()
    snapshot_id = stages.ingest_landing(ws).snapshot_id

    result = stages.validate_snapshot(ws, snapshot_id)  # warn severity: no exception
    stages.validate_snapshot(ws, snapshot_id)  # a rerun of the task: the same alert

    assert result.passed and result.warnings == ("label_contract",)
    [alert] = ws.meta.list_alerts()
    assert (alert.kind, alert.severity, alert.details["snapshot_id"]) == ("validation_warning", "warning", snapshot_id)
    assert alert.title == f"validation warned on snapshot {snapshot_id}: 1 check(s), training goes on"
    assert alert.message.startswith("label_contract: ") and "Full report: file://" in alert.message
