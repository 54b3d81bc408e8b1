"""The console bench's store: ``seed_store`` grows a store to the counts it reports, as a chain the pages can open.

``bench/console_pages.py`` times every page on 200 versions and 500 snapshots grown from the
demo's records; its numbers mean something only if the store really holds what it says. Here a
hand-made store of one record of each kind is grown to small totals and read back.
"""

from __future__ import annotations

import json

import pytest
from fastapi import FastAPI

from bench.console_pages import Page, SeedCounts, SeedTargets, in_process_getter, seed_store, time_pages
from pipeline.app.workspace import Workspace, open_workspace
from pipeline.core.settings import Settings
from pipeline.data.snapshots import Part, Snapshot, SourceFile, manifest_key, read_manifest
from pipeline.monitoring.live_performance import window_key
from pipeline.registry.alert import Alert
from pipeline.registry.base import CHAMPION, NewModelVersion, SnapshotRecord
from pipeline.reporting.pages import model_report_key

TARGETS = SeedTargets(versions=6, snapshots=12, ledger=4, alerts=9, windows_per_snapshot=1, failed_share=0.2)


def _metrics(value: float) -> dict[str, dict[str, float]]:
    return {"roc_auc": {"value": value, "lower": value - 0.02, "upper": value + 0.02}}


@pytest.fixture
def ws(settings: Settings) -> Workspace:
    """One snapshot (with its manifest), validation, version (the champion), alert and live window."""
    ws = open_workspace(settings)
    model = ws.config.model.name
    parts = tuple(
        Part(f"{i}" * 64, f"snapshots/parts/{i}.parquet", 100, SourceFile(f"f{i}.csv", f"{i}" * 64, 10)) for i in (1, 2)
    )
    snap = Snapshot("a" * 16, "churn", None, parts, (("tenure", "double"),), "2026-01-01T00:00:00+00:00")
    ws.store.put(manifest_key(snap.id), json.dumps(snap.to_dict()).encode())
    ws.meta.record_snapshot(
        SnapshotRecord(snap.id, "churn", None, snap.rows, 2, ws.store.uri(manifest_key(snap.id)), snap.created_at)
    )
    validation = ws.meta.record_validation(snap.id, None, True, {"snapshot_id": snap.id, "passed": True}, None)
    ws.meta.register_model(
        NewModelVersion(
            name=model,
            snapshot_id=snap.id,
            config_hash="c0",
            spec_name="default",
            params={"C": 1.0},
            metrics=_metrics(0.8),
            evaluation={"holdout": _metrics(0.8), "holdout_rows": 50, "train_rows": 150, "cross_validation": {}},
            artifact_uri="artifacts/m.joblib",
            artifact_sha256="ab" * 32,
            validation_id=validation.id,
            trigger={"kind": "manual", "run_id": "r1"},
            code_version="test:0",
        )
    )
    ws.meta.record_decision(model, 1, {"promote": True, "reason": "first model", "checks": []})
    ws.meta.set_alias(model, CHAMPION, 1, "first", {}, "ct")
    ws.meta.record_alert(Alert("promoted", "info", "champion moved", "nothing -> v1", "promoted:1"))
    window = {"window_id": "w0", "model_version": 1, "rows": 100, "value": 0.8, "lower": 0.7, "upper": 0.9}
    ws.store.put(window_key(model, 1, "w0"), json.dumps(window).encode())
    return ws


def test_seeding_reaches_the_counts_it_reports(ws: Workspace) -> None:
    counts = seed_store(ws, TARGETS)

    expected = SeedCounts(versions=6, snapshots=12, validations=12, ledger=4, alerts=9, windows=1 + 11)
    assert counts == expected
    assert seed_store(ws, TARGETS) == expected  # reached already: a second call adds nothing


def test_seeded_records_form_a_chain_the_pages_can_open(ws: Workspace) -> None:
    seed_store(ws, TARGETS)
    model = ws.config.model.name

    snapshots = ws.meta.list_snapshots()  # newest first
    assert [s.parent for s in snapshots[:-1]] == [s.id for s in snapshots[1:]]
    assert snapshots[-1].parent is None
    assert all(read_manifest(ws.store, s.id).id == s.id for s in snapshots)
    validations = ws.meta.list_validations(limit=100)
    assert {v.snapshot_id for v in validations} == {s.id for s in snapshots}
    assert not all(v.passed for v in validations)  # some fail, and get no version (below)

    versions = ws.meta.list_model_versions(model)
    for mv in versions:
        validation = ws.meta.get_validation(mv.validation_id or 0)
        assert validation.snapshot_id == mv.snapshot_id and validation.passed
    clones = [mv for mv in versions if mv.version > 1]
    assert len({mv.snapshot_id for mv in clones}) == len(clones)
    assert len({mv.metrics["roc_auc"]["value"] for mv in versions}) == len(versions)  # charts differ
    assert all(ws.store.exists(model_report_key(model, mv.version)) for mv in clones)
    assert all(mv.decision is not None for mv in clones)

    champion = ws.meta.get_alias(model, CHAMPION)
    assert champion is not None and champion.version != versions[0].version  # the newest is a challenger
    assert ws.store.list(f"monitoring/{model}/v{champion.version}")


def test_a_page_that_raises_is_a_500_row_not_a_crash() -> None:
    app = FastAPI()

    @app.get("/ui/fine")
    def fine() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/ui/placeholder")
    def placeholder() -> None:
        raise NotImplementedError

    rows = time_pages(in_process_getter(app), [Page("fine", "/ui/fine"), Page("todo", "/ui/placeholder")], 2, 3.0)

    assert [(r.page, r.status, r.n) for r in rows] == [("fine", 200, 2), ("todo", 500, 2)]
    assert rows[1].error == "NotImplementedError"
