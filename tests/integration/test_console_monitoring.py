"""The console's monitoring page on the churn demo's loop, and on a copy where the champion sees a 4th batch.

After the demo's three batches the champion is v3, trained on all of them: it has scored nothing
yet, and the page says so while showing the windows of v1 (batch 2) and v2 (batch 3, drifted).
In a loop of its own, a fourth batch whose labels are shuffled reaches v3: its windows fall below
the tolerated level, the decision sees a performance drop held by the cooldown after v3's
promotion, and the monitor's alert about it appears among the alerts.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from fastapi.testclient import TestClient

from pipeline.app.console.api import ConsoleAccess, build_console_app
from pipeline.app.console.links import Links
from pipeline.app.console.monitoring_page import ALERTS_SHOWN, build_monitoring, render_monitoring
from pipeline.app.demo_data import DEMO_BATCHES, generate_batch
from pipeline.app.stages.ingest import ingest_landing
from pipeline.app.stages.monitor import score_snapshot
from pipeline.app.workspace import Workspace, open_workspace
from pipeline.core.settings import Settings
from pipeline.core.storage import atomic_write_bytes
from pipeline.monitoring.live_performance import check_for_retrain
from pipeline.registry.alert import Alert
from pipeline.reporting.templating import fmt

pytestmark = [pytest.mark.integration]

MODEL = "churn-classifier"


def client(ws: Workspace) -> TestClient:
    return TestClient(build_console_app(lambda: ws, ConsoleAccess(reader=lambda: "tester", operator=lambda: "tester")))


def test_after_the_demo_the_champion_has_no_window_yet_and_earlier_ones_are_shown(console_loop) -> None:
    ws = console_loop.ws
    view = build_monitoring(ws, MODEL)
    champion = ws.meta.get_model_version(MODEL, 3)
    assert view.champion == 3
    baseline = champion.metrics["roc_auc"]["value"]
    assert view.baseline == pytest.approx(baseline)
    assert view.tolerated == pytest.approx(baseline - ws.config.monitoring.max_drop)
    assert not [w for w in view.windows if w.current]  # v3 was trained on every batch there is
    assert [(w.model_version, w.source) for w in view.windows] == [
        (1, "customers-2a.csv"),
        (1, "customers-2b.parquet"),
        (2, "customers-3a.csv"),
        (2, "customers-3b.parquet"),
    ]
    v2 = [w for w in view.windows if w.model_version == 2]
    assert all(w.drift_share == pytest.approx(0.4) and "contract" in w.drifted_features for w in v2)
    assert all(w.verdict == "ok" for w in view.windows)  # 40% drift is under the 50% policy
    level_v1 = ws.meta.get_model_version(MODEL, 1).metrics["roc_auc"]["value"] - 0.03
    assert view.windows[0].tolerated == pytest.approx(level_v1)  # each window against its own champion
    assert view.decision is not None and not view.decision.retrain and view.decision.kind is None
    assert view.decision.in_cooldown  # v3 was promoted moments ago
    assert [a.kind for a in view.alerts] == [
        "promoted",
        "validation_warning",
        "promoted",
        "ingest_rejected",
        "promoted",
    ]
    assert {a.delivery_status for a in view.alerts} == {"not_configured"}

    http = client(ws)
    html = http.get("/ui/monitoring").text
    assert f'href="{Links().version(MODEL, 3)}"' in html
    assert "has no live window yet" in html
    assert fmt(view.tolerated) in html and "tolerated level" in html
    assert html.count("<svg") == 2  # the windows and the drift bars, inline
    assert "customers-3a.csv" in html and "40%" in html
    assert "ingest of churn: 1 file(s) quarantined" in html
    assert "validation warned on snapshot" in html
    assert "no webhook configured" in html
    assert "active until" in html
    api = http.get("/api/monitoring").json()
    assert api["champion"] == 3 and len(api["windows"]) == 4 and len(api["alerts"]) == 5
    assert api["alerts"][3]["kind"] == "ingest_rejected" and api["alerts"][3]["severity"] == "warning"


@pytest.fixture(scope="module")
def fourth_batch(tmp_path_factory: pytest.TempPathFactory):
    """The demo loop of its own, then a 4th batch with shuffled labels that the champion v3 scores."""
    from tests.console_loop import run_console_loop

    loop = run_console_loop(tmp_path_factory.mktemp("monitoring"))
    ws = loop.ws
    frame = generate_batch(replace(DEMO_BATCHES[1], seed=404, first_id=300_000))
    frame["churned"] = np.random.default_rng(4).permutation(frame["churned"].to_numpy())  # the model's signal is gone
    folder = ws.settings.landing / "batch-004"
    half = len(frame) // 2
    atomic_write_bytes(folder / "customers-4a.csv", frame.iloc[:half].to_csv(index=False).encode())
    frame.iloc[half:].to_parquet(folder / "customers-4b.parquet", index=False)
    (folder / "_SUCCESS").touch()
    snapshot_id = ingest_landing(ws).snapshot_id
    assert snapshot_id
    score_snapshot(ws, snapshot_id)
    decision = check_for_retrain(ws)  # what ct_monitor's decide task does: it alerts
    return ws, decision


def test_the_champions_windows_below_the_tolerated_level_and_the_held_retrain(fourth_batch) -> None:
    ws, decision = fourth_batch
    assert decision["kind"] == "performance_drop" and not decision["retrain"]  # held by the cooldown
    view = build_monitoring(ws, MODEL)
    mine = [w for w in view.windows if w.current]
    assert [w.source for w in mine] == ["customers-4a.csv", "customers-4b.parquet"]
    assert all(w.model_version == 3 and w.rows == 2000 for w in mine)
    assert view.tolerated is not None
    assert all(w.beyond and w.upper < view.tolerated and w.verdict == "below the tolerated level" for w in mine)
    assert view.decision is not None
    assert view.decision.kind == "performance_drop" and not view.decision.retrain and view.decision.in_cooldown
    assert "within the cooldown" in view.decision.reason
    until = datetime.fromisoformat(view.decision.cooldown_until or "")
    moved = datetime.fromisoformat(view.decision.last_move_at or "")
    assert until - moved == timedelta(hours=ws.config.monitoring.cooldown_hours)
    assert view.alerts[0].kind == "performance_drop" and view.alerts[0].severity == "info"

    html = client(ws).get("/ui/monitoring").text
    assert "has no live window yet" not in html
    assert "customers-4a.csv" in html and "below the tolerated level" in html
    assert "performance drop, held" in html
    assert "retrain held by the cooldown" in html  # the monitor's alert
    table = re.sub(r"<svg.*?</svg>", "", html.split("Live windows</h2>", 1)[1], flags=re.S).split("</table>", 1)[0]
    assert table.index("customers-4b.parquet") < table.index("customers-2a.csv")  # newest first

    later = build_monitoring(ws, MODEL, now=datetime.now(UTC) + timedelta(days=2))
    assert later.decision is not None and later.decision.retrain and not later.decision.in_cooldown


def test_no_champion_is_said_in_a_sentence(settings: Settings) -> None:
    ws = open_workspace(settings)
    view = build_monitoring(ws, MODEL)
    assert view.champion is None and view.windows == () and view.decision is None
    html = client(ws).get("/ui/monitoring").text
    assert "has no champion yet" in html and "No alerts yet" in html


def test_only_the_newest_alerts_are_listed_and_the_page_stays_fast(settings: Settings) -> None:
    ws = open_workspace(settings)
    for i in range(ALERTS_SHOWN + 20):
        ws.meta.record_alert(
            Alert(
                kind="task_failed",
                severity="critical",
                title=f"ct_train.train failed #{i}",
                message="boom",
                dedupe_key=f"task_failed:test:{i}",
                created_at=(datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=i)).isoformat(),
            )
        )
    view = build_monitoring(ws, MODEL)
    html = render_monitoring(view, Links())
    assert len(view.alerts) == ALERTS_SHOWN and view.more_alerts
    assert view.alerts[0].title == f"ct_train.train failed #{ALERTS_SHOWN + 19}"  # newest first
    assert f"The newest {ALERTS_SHOWN} alerts" in html and "severity-critical" in html
