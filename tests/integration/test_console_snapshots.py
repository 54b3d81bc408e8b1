"""The console's snapshot pages on the churn demo's loop: the list, one snapshot, and the diff of two.

What a user sees, through the HTTP app (HTML and JSON) and the ``build_*`` read models: the three
snapshots with their rows and the versions trained on them, the churn schema and statistics that
match the data itself, the rows batch 3 added, a clear 404 for an unknown id, sentences instead of
tables on an empty store, and a list that stays fast with 500 snapshots and 200 versions.
"""

from __future__ import annotations

import shutil

import pytest
from fastapi.testclient import TestClient

from pipeline.app.console.api import ConsoleAccess, build_console_app
from pipeline.app.console.links import Links
from pipeline.app.console.snapshots_page import (
    PAGE_SIZE,
    build_snapshot,
    build_snapshot_diff,
    build_snapshots,
    render_snapshots,
)
from pipeline.app.workspace import Workspace, open_workspace
from pipeline.core.settings import Settings
from pipeline.data.snapshots import load_snapshot, read_manifest
from pipeline.registry.base import NewModelVersion, SnapshotRecord
from pipeline.reporting.templating import fmt, pct

pytestmark = [pytest.mark.integration]


def client(ws: Workspace) -> TestClient:
    return TestClient(build_console_app(lambda: ws, ConsoleAccess(reader=lambda: "tester", operator=lambda: "tester")))


@pytest.fixture(scope="module")
def http(console_loop) -> TestClient:
    return client(console_loop.ws)


def test_the_list_shows_each_snapshot_with_its_rows_versions_and_validation(console_loop, http) -> None:
    first, second, third = console_loop.snapshots
    view = build_snapshots(console_loop.ws, None)
    assert [s.id for s in view.snapshots] == [third, second, first]  # newest first
    assert [s.rows for s in view.snapshots] == [12_000, 8_000, 4_000]
    assert [s.parent for s in view.snapshots] == [second, first, None]
    assert [[v.version for v in s.versions] for s in view.snapshots] == [[3], [2], [1]]
    assert view.snapshots[0].versions[0].aliases == ("champion",)
    newest = view.snapshots[0].validation
    assert newest is not None and newest.passed and newest.warnings == 2
    assert "contract" in newest.drifted_features

    page = http.get("/ui/snapshots")
    assert page.status_code == 200
    html = page.text
    links = Links()
    for sid, rows in ((first, "4,000"), (second, "8,000"), (third, "12,000")):
        assert f'href="{links.snapshot(sid)}"' in html
        assert rows in html
    for version in (1, 2, 3):
        assert f'href="{links.version("churn-classifier", version)}"' in html
    assert f'action="{links.snapshot_diff()}"' in html  # the diff picker
    assert html.index(third) < html.index(second) < html.index(f'href="{links.snapshot(first)}"')

    api = http.get("/api/snapshots").json()
    assert [(s["id"], s["rows"], s["parts"]) for s in api["snapshots"]] == [
        (third, 12_000, 6),
        (second, 8_000, 4),
        (first, 4_000, 2),
    ]
    assert api["snapshots"][0]["versions"][0] == {"model": "churn-classifier", "version": 3, "aliases": ["champion"]}


def test_a_snapshot_page_shows_the_churn_schema_and_statistics_of_the_data(console_loop, http) -> None:
    ws = console_loop.ws
    third = console_loop.snapshots[2]
    view = build_snapshot(ws, third)
    roles = {c.name: c.role for c in view.schema}
    assert roles["customer_id"] == "id" and roles["churned"] == "label"
    assert {c for c, r in roles.items() if r == "feature"} == set(ws.config.dataset.feature_names)

    data = load_snapshot(ws.store, read_manifest(ws.store, third))
    stats = {c.name: c for c in view.statistics}
    charges = stats["monthly_charges"]
    assert charges.rows == len(data) == 12_000
    assert charges.mean == pytest.approx(data["monthly_charges"].mean())
    assert charges.std == pytest.approx(data["monthly_charges"].std(ddof=0))
    assert (charges.min, charges.max) == (data["monthly_charges"].min(), data["monthly_charges"].max())
    usage = stats["data_usage_gb"]
    assert usage.nulls == int(data["data_usage_gb"].isna().sum()) > 0
    contract = {lv.level: lv.share for lv in stats["contract"].levels}
    assert contract == pytest.approx(data["contract"].value_counts(normalize=True).to_dict())
    label = {lv.level: lv.share for lv in stats["churned"].levels}
    assert label == pytest.approx(data["churned"].value_counts(normalize=True).to_dict())
    assert "stored statistics" in view.statistics_source
    assert [p.source for p in view.parts][-2:] == ["customers-3a.csv", "customers-3b.parquet"]
    assert len(view.sources) == 6 and all(s.kind == "file" for s in view.sources)
    assert [(v.model, v.version) for v in view.versions] == [("churn-classifier", 3)]

    html = http.get(f"/ui/snapshots/{third}").text
    for column in ws.config.dataset.columns:
        assert f"<code>{column}</code>" in html
    assert fmt(float(data["monthly_charges"].mean())) in html
    assert pct(data["contract"].value_counts(normalize=True)["month-to-month"]) in html
    assert "customers-3b.parquet" in html
    assert f'href="{Links().snapshot(console_loop.snapshots[1])}"' in html  # the parent
    assert f'href="{Links().version("churn-classifier", 3)}"' in html
    assert "{" not in html.split("<main>", 1)[1]  # no raw JSON on the page

    api = http.get(f"/api/snapshots/{third}").json()
    assert api["rows"] == 12_000
    assert [c["name"] for c in api["schema"]] == ws.config.dataset.columns
    by_name = {c["name"]: c for c in api["statistics"]}
    assert by_name["monthly_charges"]["mean"] == pytest.approx(data["monthly_charges"].mean())


def test_statistics_are_computed_from_the_parts_when_none_are_stored(console_loop, tmp_path) -> None:
    """A part validation never summarised (its statistics removed here in a copy) is read instead."""
    home = tmp_path / "copy"
    src = console_loop.ws.settings.home
    shutil.copytree(src, home, ignore=shutil.ignore_patterns("airflow"))
    shutil.rmtree(home / "snapshots" / "statistics")
    settings = Settings(
        home=home,
        config_path=console_loop.ws.settings.config_path,
        database_url=f"sqlite:///{home / 'ct.db'}",
        data_url=home.as_uri(),
    )
    ws = open_workspace(settings)
    first = console_loop.snapshots[0]
    view = build_snapshot(ws, first)
    stored = build_snapshot(console_loop.ws, first)
    assert "read now" in view.statistics_source
    assert view.statistics == stored.statistics
    assert not (home / "snapshots" / "statistics").exists()  # the console wrote nothing


def test_the_diff_of_snapshots_2_and_3_shows_the_rows_batch_3_added(console_loop, http) -> None:
    _, second, third = console_loop.snapshots
    view = build_snapshot_diff(console_loop.ws, None, None)  # default: the newest against its parent
    assert (view.a, view.b) == (second, third)
    diff = view.diff
    assert diff is not None
    assert (diff.rows_a, diff.rows_b, diff.rows_added, diff.rows_removed) == (8_000, 12_000, 4_000, 0)
    assert [p.source for p in diff.parts_added] == ["customers-3a.csv", "customers-3b.parquet"]
    assert diff.schema == ()
    charges = next(c for c in diff.numeric if c.column == "monthly_charges")
    mean = next(s for s in charges.stats if s.stat == "mean")
    assert mean.b is not None and mean.a is not None and mean.b > mean.a  # batch 3's charges drifted up
    label_yes = next(lv for lv in diff.levels if lv.column == "churned" and lv.level == "yes")
    assert label_yes.a == pytest.approx(0.5) and label_yes.change is not None and label_yes.change > 0

    html = http.get("/ui/snapshot-diff", params={"a": second, "b": third}).text
    assert "+4,000" in html and "customers-3a.csv" in html
    assert f"{fmt(mean.a)} → {fmt(mean.b)}" in html
    assert "▲" in html and "▼" in html
    api = http.get("/api/snapshot-diff", params={"a": second, "b": third}).json()
    assert api["diff"]["rows_added"] == 4_000 and api["a"] == second and api["b"] == third


def test_a_first_snapshot_has_nothing_to_diff_against(console_loop, http) -> None:
    first = console_loop.snapshots[0]
    view = build_snapshot_diff(console_loop.ws, None, first)
    assert view.diff is None and first in view.message
    assert "has no parent" in http.get("/ui/snapshot-diff", params={"b": first}).text


def test_an_unknown_snapshot_is_a_404_naming_it(http) -> None:
    for path in ("/ui/snapshots/feedfacefeedface", "/api/snapshots/feedfacefeedface"):
        answer = http.get(path)
        assert answer.status_code == 404
        assert "feedfacefeedface" in answer.text
    answer = http.get("/api/snapshot-diff", params={"a": "feedfacefeedface"})
    assert answer.status_code == 404 and "feedfacefeedface" in answer.json()["detail"]


def test_an_empty_store_says_so(settings: Settings) -> None:
    ws = open_workspace(settings)
    http = client(ws)
    assert "no snapshots" in http.get("/ui/snapshots").text
    assert "nothing to compare" in http.get("/ui/snapshot-diff").text
    assert http.get("/api/snapshots").json()["snapshots"] == []


def test_the_list_pages_through_500_snapshots_reading_only_the_shown_ones_validations(settings: Settings) -> None:
    """Speed is measured by bench/console_pages.py; here: a page holds PAGE_SIZE snapshots and reads the
    validations of those only (one query), whatever the store holds."""
    ws = open_workspace(settings)
    ids = [f"{i:016x}" for i in range(1, 501)]
    for i, sid in enumerate(ids):
        ws.meta.record_snapshot(
            SnapshotRecord(sid, "churn", ids[i - 1] if i else None, 1000 * (i + 1), i + 1, f"file:///m/{sid}.json", "")
        )
        ws.meta.record_validation(sid, ids[i - 1] if i else None, i % 7 != 0, {"failed_checks": {"warn": i % 3}}, None)
    for v in range(200):
        ws.meta.register_model(
            NewModelVersion(
                name="churn-classifier",
                snapshot_id=ids[2 * v],
                config_hash="cfg",
                spec_name="logreg",
                params={},
                metrics={"roc_auc": {"value": 0.8}},
                evaluation={},
                artifact_uri="file:///a",
                artifact_sha256="ab" * 32,
                validation_id=None,
                trigger={},
                code_version="test",
            )
        )
    asked: list[tuple[str, ...]] = []
    list_validations = ws.meta.list_validations

    def recording(limit: int = 100, snapshot_id: str | None = None, snapshot_ids=None):  # type: ignore[no-untyped-def]
        asked.append(tuple(snapshot_ids or ()))
        return list_validations(limit=limit, snapshot_id=snapshot_id, snapshot_ids=snapshot_ids)

    ws.meta.list_validations = recording  # type: ignore[method-assign]
    newest_first = ids[::-1]
    shown: list[str] = []
    for page in range(1, 6):
        view = build_snapshots(ws, None, page)
        html = render_snapshots(view, Links())
        assert (view.total, view.pages, view.page, len(view.snapshots)) == (500, 5, page, PAGE_SIZE)
        assert asked[-1] == tuple(s.id for s in view.snapshots)  # this page's validations, nothing else
        assert all(s.validation is not None for s in view.snapshots)
        assert html.count("<tr>") == PAGE_SIZE + 1
        assert ("older →" in html) == (page < 5) and ("← newer" in html) == (page > 1)
        shown += [s.id for s in view.snapshots]
    assert shown == newest_first and len(asked) == 5
    versions = [build_snapshots(ws, None, page).snapshots for page in range(1, 6)]
    assert sum(len(s.versions) for rows in versions for s in rows) == 200
    assert build_snapshots(ws, None, 99).page == 5  # past the end: the last page
