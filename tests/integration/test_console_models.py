"""The console's model pages, as a user sees them: the versions, one version's lineage, two side by side.

Most tests read the shared demo store (``console_loop``: v1..v3, v3 champion, run ids
demo-run-1..3) through the HTTP app as well as the ``build_*`` functions; the test that moves the
champion builds its own store, and the speed test a store of 200 versions.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pipeline.app.console import models_page
from pipeline.app.console.api import ConsoleAccess, build_console_app
from pipeline.app.console.links import Links
from pipeline.app.demo_home import demo_settings
from pipeline.app.workspace import Workspace, open_workspace
from pipeline.registry.base import CHALLENGER, CHAMPION, NewModelVersion
from pipeline.reporting.templating import fmt

pytestmark = [pytest.mark.integration]

LINKS = Links()


def client_for(ws: Workspace) -> TestClient:
    access = ConsoleAccess(reader=lambda: "tester", operator=lambda: "tester")
    return TestClient(build_console_app(lambda: ws, access))


def text_of(page: str) -> str:
    """The page's visible text, tags dropped and whitespace squeezed."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def primary_value(ws: Workspace, version: int) -> float:
    mv = ws.meta.get_model_version(ws.config.model.name, version)
    return float(mv.metrics[ws.config.promotion.primary_metric]["value"])


# -- the models page ----------------------------------------------------------------------------


def test_models_page_lists_versions_with_the_champion_metrics_and_ledger(console_loop) -> None:
    ws = console_loop.ws
    name, primary = ws.config.model.name, ws.config.promotion.primary_metric
    response = client_for(ws).get("/ui/models")
    assert response.status_code == 200
    page = response.text
    text = text_of(page)
    for v in (1, 2, 3):
        assert f'href="{html.escape(LINKS.version(name, v))}"' in page
        assert fmt(primary_value(ws, v)) in text  # 4 significant digits, as the store holds it
        run_id = f"demo-run-{v}"
        assert f'href="{LINKS.airflow_run("ct_train", run_id)}" target="_top">{run_id}</a>' in page
    for snapshot_id in console_loop.snapshots:
        assert f'href="{LINKS.snapshot(snapshot_id)}"' in page
    champion_row = re.search(r'<tr class="champion">(.*?)</tr>', page, re.S)
    assert champion_row and ">v3</a>" in champion_row.group(1)
    assert '<span class="badge champion">champion</span>' in champion_row.group(1)
    assert "Champion since" in text
    # the ledger, newest first: v2 -> v3, v1 -> v2, first champion v1
    ledger = page[page.index("Promotion ledger") :]
    rows = re.findall(r"<tr><td>.*?</tr>", ledger, re.S)
    assert len(rows) == 3
    assert ">v2</a>" in rows[0] and ">v3</a>" in rows[0]
    assert "first model" in rows[2]
    # the metric history chart, the compare picker and the moves
    assert f'aria-label="{primary} by version, with 95% intervals"' in page
    assert f'action="{LINKS.compare(name)}"' in page
    assert f'data-ct-action action="{LINKS.promote(name)}" method="post"' in page
    assert re.search(r'<input id="promote-reason" type="text" name="reason" required', page)
    assert '<select id="promote-version" name="version" required>' in page
    promotable = re.search(r'<select id="promote-version".*?</select>', page, re.S)
    assert promotable and re.findall(r'<option value="(\d+)"', promotable.group(0)) == ["2", "1"]
    assert f'action="{LINKS.rollback(name)}"' in page and ">Roll back</button>" in page
    assert "to v2" in text  # what the rollback would do


def test_models_json_matches_the_store(console_loop) -> None:
    ws = console_loop.ws
    name, primary = ws.config.model.name, ws.config.promotion.primary_metric
    data = client_for(ws).get("/api/models").json()
    assert data["model"] == name and data["primary_metric"] == primary
    assert [v["version"] for v in data["versions"]] == [3, 2, 1]
    for row in data["versions"]:
        stored = ws.meta.get_model_version(name, row["version"])
        assert row["primary"]["value"] == pytest.approx(stored.metrics[primary]["value"])
        assert row["primary"]["lower"] == pytest.approx(stored.metrics[primary]["lower"])
        assert row["trigger"]["run_id"] == f"demo-run-{row['version']}"
        assert row["trigger"]["kind"] == "new_data"
        assert row["snapshot_id"] == stored.snapshot_id
    assert data["champion"]["version"] == 3
    history = ws.meta.promotion_history(name)
    assert data["champion"]["since"] == history[-1].created_at
    assert [r["to_version"] for r in data["ledger"]] == [3, 2, 1]
    assert data["rollback"] == {"undoes": history[-1].id, "from_version": 3, "to_version": 2}


def test_an_empty_store_says_there_are_no_versions_yet(tmp_path: Path) -> None:
    ws = open_workspace(demo_settings(tmp_path))
    client = client_for(ws)
    response = client.get("/ui/models")
    assert response.status_code == 200
    text = text_of(response.text)
    assert f"{ws.config.model.name} has no versions yet" in text
    assert "ct demo" in text and "ct_train" in text
    view = models_page.build_models(ws, ws.config.model.name)
    assert view.champion is None and view.versions == () and view.rollback is None
    compare = client.get(f"/ui/models/{ws.config.model.name}/compare")
    assert compare.status_code == 200 and "has no versions yet" in text_of(compare.text)


# -- one version ------------------------------------------------------------------------------


def test_version_page_shows_the_lineage_chain(console_loop) -> None:
    ws = console_loop.ws
    name = ws.config.model.name
    mv = ws.meta.get_model_version(name, 3)
    response = client_for(ws).get(LINKS.version(name, 3))
    assert response.status_code == 200
    page = response.text
    chain = re.search(r'<ul class="chain">(.*?)</ul>\s*(?:<details>|<h2>)', page, re.S)
    assert chain, "the lineage chain is missing"
    steps = chain.group(1)
    order = ["Trigger", "Airflow run", "Snapshot", "Parts", "Landing files", "Validation"]
    positions = [steps.index(f'<span class="label">{label}</span>') for label in order]
    assert positions == sorted(positions)
    assert f'<a href="{LINKS.airflow_run("ct_train", "demo-run-3")}" target="_top">demo-run-3</a>' in steps
    assert f'href="{LINKS.snapshot(console_loop.snapshots[2])}"' in steps
    assert mv.validation_id is not None
    assert f'href="{LINKS.validation(mv.validation_id)}">validation #{mv.validation_id}</a>' in steps
    assert "customers-3a.csv" in steps and "6 parts" in steps
    text = text_of(page)
    assert "label contract broken" in text and "monthly_charges" in text  # batch 3's validation
    assert f'href="{LINKS.report(name, 3)}">Full model report</a>' in page
    assert mv.config_hash in text and mv.artifact_sha256 in text and mv.code_version in text
    assert "<td>max_iter</td>" in page  # parameters as a table, not JSON
    assert fmt(primary_value(ws, 3)) in text
    assert f'href="{html.escape(LINKS.compare(name, 2, 3))}"' in page  # the champion: compare with v2

    view = models_page.build_version(ws, name, 2)
    assert view.champion_version == 3 and view.trigger.run_id == "demo-run-2"
    assert view.validation is not None and view.snapshot.id == console_loop.snapshots[1]
    assert view.metrics[0].name == ws.config.promotion.primary_metric


def test_version_report_is_served_over_http(console_loop) -> None:
    ws = console_loop.ws
    name = ws.config.model.name
    response = client_for(ws).get(LINKS.report(name, 3))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert f"{name} v3" in response.text
    assert "champion" in response.text  # the aliases as they are now


def test_unknown_version_is_a_404_that_names_it(console_loop) -> None:
    ws = console_loop.ws
    name = ws.config.model.name
    client = client_for(ws)
    for path in (LINKS.version(name, 99), LINKS.report(name, 99), LINKS.compare(name, 99, 1)):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "no version 99" in text_of(response.text)
    api = client.get(f"/api/models/{name}/versions/99")
    assert api.status_code == 404 and "no version 99" in api.json()["detail"]


# -- two versions side by side ------------------------------------------------------------------


def test_compare_defaults_to_the_champion_and_shows_the_paired_difference(console_loop) -> None:
    ws = console_loop.ws
    name = ws.config.model.name
    client = client_for(ws)
    response = client.get(LINKS.compare(name))
    assert response.status_code == 200
    page = response.text
    text = text_of(page)
    assert f'href="{LINKS.version(name, 3)}">v3</a>' in page and f'href="{LINKS.version(name, 2)}">v2</a>' in page
    assert "Paired difference" in text
    # v3 was evaluated against the then champion v2 on v3's holdout: that is the difference shown
    recorded = ws.meta.get_model_version(name, 3).evaluation["champion"]["comparison"]
    data = client.get(f"/api/models/{name}/compare").json()
    assert (data["a"]["version"], data["b"]["version"]) == (3, 2)
    paired = data["paired"]
    assert paired["difference"] == pytest.approx(-recorded["difference"])  # b (v2) against a (v3)
    assert paired["lower"] == pytest.approx(-recorded["upper"])
    assert paired["holdout_rows"] == ws.meta.get_model_version(name, 3).evaluation["holdout_rows"]
    assert f"{-recorded['difference']:+.4g}" in text
    assert "different snapshots" in data["paired_unavailable"]
    assert fmt(primary_value(ws, 3)) in text and fmt(primary_value(ws, 2)) in text
    # an explicit pair, the other way round
    flipped = client.get(f"/api/models/{name}/compare?a=2&b=3").json()
    assert flipped["paired"]["difference"] == pytest.approx(recorded["difference"])
    # two versions not evaluated against each other: separate intervals only, and why
    apart = client.get(f"/api/models/{name}/compare?a=1&b=3").json()
    assert apart["paired"] is None and "different snapshots" in apart["paired_unavailable"]
    assert "No paired difference" in text_of(client.get(LINKS.compare(name, 1, 3)).text)


# -- moving the champion ------------------------------------------------------------------------


def test_promote_and_roll_back_through_the_api(tmp_path: Path) -> None:
    from tests.console_loop import run_console_loop

    loop = run_console_loop(tmp_path)
    ws = loop.ws
    name = ws.config.model.name
    client = client_for(ws)

    refused = client.post(LINKS.promote(name), data={"version": "1", "reason": "form post"})
    assert refused.status_code == 415
    empty = client.post(LINKS.promote(name), json={"version": 1, "reason": ""})
    assert empty.status_code == 422 and "reason" in str(empty.json()["detail"])
    blank = client.post(LINKS.promote(name), json={"version": 1, "reason": "   "})
    assert blank.status_code == 409 and "needs a reason" in blank.json()["detail"]
    assert ws.meta.get_alias(name, CHAMPION).version == 3  # nothing moved

    moved = client.post(LINKS.promote(name), json={"version": "1", "reason": "v1 held up better live"})
    assert moved.status_code == 200, moved.text
    assert ws.meta.get_alias(name, CHAMPION).version == 1
    row = ws.meta.promotion_history(name)[-1]
    assert (row.kind, row.from_version, row.to_version, row.actor, row.reason) == (
        "promotion",
        3,
        1,
        "tester",
        "v1 held up better live",
    )
    page = client.get("/ui/models").text
    champion_row = re.search(r'<tr class="champion">(.*?)</tr>', page, re.S)
    assert champion_row and ">v1</a>" in champion_row.group(1)
    assert "v1 held up better live" in page
    assert "to v3" in text_of(page)  # the rollback now goes back to v3

    reason = "promoted by mistake <script>"
    back = client.post(LINKS.rollback(name), json={"reason": reason})
    assert back.status_code == 200, back.text
    assert ws.meta.get_alias(name, CHAMPION).version == 3
    row = ws.meta.promotion_history(name)[-1]
    assert (row.kind, row.to_version, row.actor, row.reason) == ("rollback", 3, "tester", reason)
    data = client.get("/api/models").json()
    assert data["ledger"][0]["kind"] == "rollback" and data["champion"]["since_kind"] == "rollback"
    page = client.get("/ui/models").text
    assert "promoted by mistake &lt;script&gt;" in page and "<script>" not in page.split("</head>")[1]


def test_a_retired_challenger_shows_in_the_ledger_as_a_retirement_with_no_target(tmp_path: Path) -> None:
    from tests.console_loop import run_console_loop

    ws = run_console_loop(tmp_path).ws
    name = ws.config.model.name
    ws.meta.set_alias(name, CHALLENGER, 2, "live confirmation asked", {}, "tester")
    assert ws.meta.clear_alias(name, CHALLENGER, "worse on live labels", {}, "tester") is not None
    page = client_for(ws).get("/ui/models").text
    ledger = page[page.index("Promotion ledger") :]
    newest = [html.unescape(re.sub(r"<[^>]+>", "|", c)).strip("|") for c in re.findall(r"<td>(.*?)</td>", ledger)][:7]
    assert newest[1:6] == ["retirement", "challenger", "v2", "—", "tester"]
    assert ws.meta.get_alias(name, CHALLENGER) is None and ws.meta.get_alias(name, CHAMPION).version == 3


# -- speed ----------------------------------------------------------------------------------------


class CountingStore:
    """A metadata store that counts the calls made to it."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.calls = inner, {}

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            return attr(*args, **kwargs)

        return counted


def test_models_page_with_200_versions_is_fast_and_reads_the_store_twice(console_loop, tmp_path: Path) -> None:
    template = console_loop.ws.meta.get_model_version(console_loop.ws.config.model.name, 3)
    ws = open_workspace(demo_settings(tmp_path))
    name = ws.config.model.name
    for i in range(200):
        ws.meta.register_model(
            NewModelVersion(
                name=name,
                snapshot_id=template.snapshot_id,
                config_hash=f"hash{i:04d}",
                spec_name=template.spec_name,
                params=template.params,
                metrics=template.metrics,
                evaluation=template.evaluation,  # full evidence (curves, slices): realistic rows to read
                artifact_uri=template.artifact_uri,
                artifact_sha256=template.artifact_sha256,
                validation_id=None,
                trigger={**template.trigger, "run_id": f"run-{i}"},
                code_version=template.code_version,
                lineage=template.lineage,
            )
        )
        if i % 10 == 0:
            ws.meta.set_alias(name, CHAMPION, i + 1, f"move {i}", {}, "tester")
    counting = CountingStore(ws.meta)
    ws.__dict__["meta"] = counting  # the cached property, replaced for this workspace only
    models_page.render_models(models_page.build_models(ws, name), LINKS)  # warm: templates compiled
    counting.calls.clear()
    view = models_page.build_models(ws, name)
    page = models_page.render_models(view, LINKS)
    assert counting.calls == {"list_model_versions": 1, "promotion_history": 1}
    assert len(view.versions) == 200 and view.champion is not None and view.champion.version == 191
    assert page.count('<tr class="champion">') == 1


def test_a_version_left_undecided_by_a_killed_run_shows_as_undecided_and_can_be_promoted(tmp_path: Path) -> None:
    """A ct_train run killed between register and promote leaves a version with no decision (until the
    next run settles it): the pages show it as undecided, the champion is unchanged, and an operator
    can promote it by hand from the console."""
    from pipeline.app.demo_data import BatchSpec, generate_batch
    from pipeline.app.stages.ingest import ingest_landing
    from pipeline.app.training_flow import run_training
    from tests.console_loop import run_console_loop

    loop = run_console_loop(tmp_path)
    ws, name = loop.ws, loop.ws.config.model.name
    batch = ws.settings.landing / "batch-004"
    batch.mkdir(parents=True)
    generate_batch(BatchSpec(rows=2000, seed=99, first_id=900_000)).to_csv(batch / "customers-4.csv", index=False)
    (batch / "_SUCCESS").touch()
    snapshot_id = ingest_landing(ws).snapshot_id
    assert snapshot_id not in loop.snapshots
    run = run_training(
        ws, snapshot_id=snapshot_id, trigger={"kind": "manual", "run_id": "killed-run"}, until="register"
    )
    assert run.registration is not None and run.promotion is None
    version = ws.meta.get_alias(name, CHAMPION)
    assert version is not None and version.version == 3

    client = client_for(ws)
    rows = {r["version"]: r for r in client.get("/api/models").json()["versions"]}
    assert rows[4]["promoted"] is None and rows[3]["promoted"] is True
    page = client.get(f"/ui/models/{name}/versions/4")
    assert page.status_code == 200 and "killed-run" in page.text
    moved = client.post(
        f"/api/models/{name}/promote", json={"version": 4, "reason": "the run died; evidence read by hand"}
    )
    assert moved.status_code == 200 and ws.meta.get_alias(name, CHAMPION).version == 4
    assert ws.meta.promotion_history(name)[-1].actor == "tester"
