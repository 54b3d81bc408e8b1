"""The console plugin inside a real Airflow: logged in through Airflow, refused to anyone else.

One ``airflow standalone`` for the module, on a data directory where the churn demo's three batches
ran through the real DAGs first (``airflow dags test`` in the same Airflow home, as ``ct demo``
does), so its DAG runs exist in Airflow and the console links to them. The DAGs stay paused: the
scheduler adds nothing while the pages are checked.

- every route of the plugin answers 401 without credentials and 403 with a forged token;
- headless Debian chromium logs in on Airflow's own page, opens each console page from Airflow's
  menu and finds the demo's three versions, the champion, batch 3's drifted features and its broken
  label contract; each page's screenshot is kept (``CT_SCREENSHOTS_DIR`` also copies them, which is
  how docs/img/ is refreshed);
- promote and roll back are clicked in the console and found in the ledger with the user's name;
- a viewer (read-only role) reads every page but is refused a move (403);
- the tab Airflow shows on a ``ct_train`` run and on its ``validate`` task opens that run's version
  and validation.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow_server import AirflowServer
from browser import UI_TIMEOUT_MS, evidence_on_failure, log_in

from pipeline.app.console.api import ConsoleAccess, build_console_app
from pipeline.app.demo_churn import BATCH_NOTES, drop_churn_batch
from pipeline.app.local_runner import run_landing
from pipeline.core.settings import BUNDLED_CONFIG, Settings
from pipeline.registry.base import CHAMPION
from pipeline.registry.sql import SqlMetadataStore
from scripts.airflow_rest import AirflowClient

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MODEL = "churn-classifier"
VIEWER = "viewer"
DRIFTED = ("monthly_charges", "total_charges", "support_calls", "contract")
"""Batch 3's drifted features (pipeline/app/demo_data.py shifts these)."""
SAMPLE_PARAMS = {
    "name": MODEL,
    "version": "1",
    "snapshot_id": "0000000000000000",
    "validation_id": "1",
    "path": "index.html",
    "dag_id": "ct_train",
    "run_id": "manual__2026-01-01T00:00:00+00:00",
    "task_id": "validate",
}


def _settings(server: AirflowServer) -> Settings:
    home = server.ct_home
    return Settings(
        home=home,
        config_path=BUNDLED_CONFIG,
        database_url=f"sqlite:///{home / 'ct.db'}",
        data_url=home.as_uri(),
    )


@pytest.fixture(scope="module")
def console_airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowServer]:
    """The churn demo's batches through the real DAGs, then an Airflow (DAGs paused) to look at them."""
    server = AirflowServer(
        root=tmp_path_factory.mktemp("console"),
        extra_env={
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"admin:admin,{VIEWER}:viewer",
        },
    )
    settings = _settings(server)
    settings.landing.mkdir(parents=True, exist_ok=True)
    with pytest.MonkeyPatch.context() as env:
        for key in [k for k in os.environ if k.startswith(("AIRFLOW", "CT_"))]:
            env.delenv(key)
        for key, value in server.env().items():
            env.setenv(key, value)
        for index, note in enumerate(BATCH_NOTES):
            drop_churn_batch(settings, index)
            outcome = run_landing(settings, echo=lambda line: None)
            assert outcome.ok, f"demo batch {index + 1} ({note}) failed: {outcome.errors}"
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _store(server: AirflowServer) -> SqlMetadataStore:
    return SqlMetadataStore(f"sqlite:///{server.ct_home / 'ct.db'}")


def _passwords(server: AirflowServer) -> dict[str, str]:
    return json.loads((server.airflow_home / "simple_auth_manager_passwords.json.generated").read_text())


def _request(
    server: AirflowServer, method: str, path: str, token: str | None = None, body: Any = None
) -> tuple[int, str]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{server.url}{path}", data=data, method=method, headers=headers)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=60) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")


def _console_routes() -> list[tuple[str, str]]:
    """(method, path under /ct) of every route of the console app, with sample path parameters."""
    app = build_console_app(lambda: None, ConsoleAccess(reader=lambda: "x", operator=lambda: "x"))  # type: ignore[arg-type,return-value]
    routes = []
    for route in app.routes:
        path = re.sub(
            r"\{(\w+)(?::\w+)?\}", lambda m: urllib.parse.quote(SAMPLE_PARAMS[m.group(1)], safe=""), route.path
        )
        for method in sorted(getattr(route, "methods", None) or ()):
            if method != "HEAD":
                routes.append((method, f"/ct{path}"))
    return routes


def test_every_console_route_refuses_anonymous_and_forged_requests(console_airflow: AirflowServer) -> None:
    routes = _console_routes()
    assert len(routes) >= 28 and ("POST", f"/ct/api/models/{MODEL}/promote") in routes
    body = {"version": 1, "reason": "anonymous"}
    anonymous = {(m, p): _request(console_airflow, m, p, body=body if m == "POST" else None)[0] for m, p in routes}
    assert {k: v for k, v in anonymous.items() if v != 401} == {}, "answered without credentials"
    forged = {
        (m, p): _request(console_airflow, m, p, token="not.a.jwt", body=body if m == "POST" else None)[0]
        for m, p in routes
    }
    assert {k: v for k, v in forged.items() if v not in (401, 403)} == {}, "answered a forged token"
    champion = _store(console_airflow).get_alias(MODEL, CHAMPION)
    assert champion is not None and champion.version == 3  # nothing moved


def _token(server: AirflowServer, user: str) -> str:
    return AirflowClient(server.url, user, _passwords(server)[user]).login()


def test_a_viewer_reads_the_console_but_cannot_move_the_champion(console_airflow: AirflowServer) -> None:
    viewer, admin = _token(console_airflow, VIEWER), _token(console_airflow, "admin")
    for path in ("/ct/api/models", "/ct/api/snapshots", "/ct/api/validations", "/ct/api/monitoring"):
        status, _ = _request(console_airflow, "GET", path, token=viewer)
        assert status == 200, f"{path} refused a viewer"
    status, text = _request(
        console_airflow, "POST", f"/ct/api/models/{MODEL}/promote", token=viewer, body={"version": 1, "reason": "x"}
    )
    assert status == 403, text
    status, text = _request(console_airflow, "POST", f"/ct/api/models/{MODEL}/rollback", token=viewer, body={})
    assert status == 403, text
    champion = _store(console_airflow).get_alias(MODEL, CHAMPION)
    assert champion is not None and champion.version == 3
    status, _ = _request(console_airflow, "GET", "/ct/api/models", token=admin)
    assert status == 200


def test_airflow_runs_and_tasks_link_to_what_they_produced(console_airflow: AirflowServer) -> None:
    plugins = console_airflow.get("/api/v2/plugins")["plugins"]
    views = {(v["destination"], v["href"]) for p in plugins for v in p.get("external_views", [])}
    assert ("dag_run", "/ct/ui/runs/{DAG_ID}/{RUN_ID}") in views
    assert ("task_instance", "/ct/ui/runs/{DAG_ID}/{RUN_ID}/tasks/{TASK_ID}") in views
    assert {("nav", f"/ct/ui/{page}") for page in ("models", "snapshots", "validations", "monitoring")} <= views

    token = _token(console_airflow, "admin")
    store = _store(console_airflow)
    versions = store.list_model_versions(MODEL)
    assert sorted(mv.version for mv in versions) == [1, 2, 3]
    for mv in versions:
        run_id = mv.trigger["run_id"]
        assert any(r["dag_run_id"] == run_id for r in console_airflow.dag_runs("ct_train"))  # a real Airflow run
        base = f"/ct/ui/runs/ct_train/{urllib.parse.quote(run_id, safe='')}"
        status, _ = _request(console_airflow, "GET", base, token=token)
        assert status == 302
        assert _location(console_airflow, base, token).endswith(f"/ct/ui/models/{MODEL}/versions/{mv.version}")
        validate = f"{base}/tasks/validate"
        assert _location(console_airflow, validate, token).endswith(f"/ct/ui/validations/{mv.validation_id}")


def _location(server: AirflowServer, path: str, token: str) -> str:
    req = urllib.request.Request(f"{server.url}{path}", headers={"Authorization": f"Bearer {token}"})

    class Keep(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    try:
        urllib.request.build_opener(Keep).open(req, timeout=60)
    except urllib.error.HTTPError as err:
        assert err.code == 302, f"{path}: HTTP {err.code}"
        return err.headers["Location"]
    raise AssertionError(f"{path} did not redirect")


PROMOTE_REASON = "e2e: v1 back as champion, from the console"
ROLLBACK_REASON = "e2e: undo that, from the console"
PAGES = (
    "models",
    "version",
    "report",
    "snapshots",
    "snapshot",
    "snapshot-diff",
    "validations",
    "validation",
    "monitoring",
)


class Shots:
    """Full-page screenshots into the test's tmp dir, and into ``CT_SCREENSHOTS_DIR`` when set (docs/img)."""

    def __init__(self, page: Any, directory: Path) -> None:
        self.page, self.directory = page, directory
        self.keep = Path(os.environ["CT_SCREENSHOTS_DIR"]) if os.environ.get("CT_SCREENSHOTS_DIR") else None
        self.taken: list[Path] = []

    def __call__(self, name: str) -> None:
        path = self.directory / f"console-{name}.png"
        self.page.screenshot(path=path, full_page=True)
        self.taken.append(path)
        if self.keep is not None:
            self.keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, self.keep / path.name)


def test_the_console_in_the_browser(
    browser_page: Any, console_airflow: AirflowServer, tmp_path: Path, record_property: Any
) -> None:
    """Log in through Airflow, open every page, promote and roll back by clicking; all of it as the user."""
    from playwright.sync_api import expect

    page, server = browser_page, console_airflow
    store = _store(server)
    champion = store.get_alias(MODEL, CHAMPION)
    assert champion is not None and champion.version == 3
    shot = Shots(page, tmp_path)
    console = f"{server.url}/ct/ui"
    with evidence_on_failure(page, tmp_path):
        user = log_in(page, server)

        # Airflow's own menu entry opens the console inside Airflow's frame.
        page.goto(f"{server.url}/plugin/ct-models")
        framed = page.frame_locator("iframe")
        expect(framed.locator("tr.champion")).to_contain_text("v3", timeout=UI_TIMEOUT_MS)
        shot("in-airflow")

        # Models: the demo's three versions, v3 the champion, its metric with an interval.
        page.goto(f"{console}/models")
        versions = page.locator("table.versions")
        for v in (1, 2, 3):
            expect(versions.get_by_role("link", name=f"v{v}", exact=True)).to_be_visible()
        expect(page.locator("tr.champion")).to_contain_text("v3")
        expect(page.locator(".champion-card")).to_contain_text("v3")
        expect(page.locator("svg").first).to_be_visible()
        shot("models")

        # The champion's page: the lineage chain, from the trigger to its validation.
        versions.get_by_role("link", name="v3", exact=True).click()
        chain = page.locator("ul.chain")
        expect(chain).to_contain_text(champion.trigger["run_id"])
        expect(chain).to_contain_text(champion.snapshot_id[:12])
        expect(chain.get_by_role("link", name=re.compile("validation", re.I)).first).to_be_visible()
        shot("version")
        page.goto(f"{console}/models/{MODEL}/versions/3/report")
        expect(page.get_by_role("heading", name=re.compile("Feature importance"))).to_be_visible()
        expect(page.get_by_role("heading", name=re.compile("decision threshold"))).to_be_visible()
        shot("report")

        # Validation of batch 3: the drifted features and the broken label contract.
        page.goto(f"{console}/validations")
        expect(page.locator("body")).to_contain_text("monthly_charges")
        shot("validations")
        page.goto(f"{console}/validations/{champion.validation_id}")
        for feature in DRIFTED:
            expect(page.locator(f"tr#feature-{feature}")).to_contain_text("drifted")
        contract = page.locator("#label-contract + p")
        expect(contract).to_contain_text("broken")
        expect(page.locator("body")).to_contain_text("outside")
        shot("validation")

        # Snapshots: the list, the newest one, what batch 3 added.
        page.goto(f"{console}/snapshots")
        expect(page.locator("body")).to_contain_text(champion.snapshot_id[:12])
        shot("snapshots")
        page.goto(f"{console}/snapshots/{champion.snapshot_id}")
        expect(page.get_by_role("heading", name="Schema")).to_be_visible()
        expect(page.locator("body")).to_contain_text("monthly_charges")
        shot("snapshot")
        page.goto(f"{console}/snapshot-diff")
        expect(page.get_by_role("heading", name="Numeric columns")).to_be_visible()
        shot("snapshot-diff")

        page.goto(f"{console}/monitoring")
        expect(page.get_by_role("heading", name="Live windows")).to_be_visible()
        expect(page.get_by_role("heading", name="Alerts")).to_be_visible()
        shot("monitoring")

        # Promote v1 by hand, then roll back: both clicked, both in the ledger with the user's name.
        page.goto(f"{console}/models")
        page.locator("#promote-version").select_option("1")
        page.get_by_label("Reason", exact=True).fill(PROMOTE_REASON)
        page.get_by_role("button", name="Promote").click()
        expect(page.locator("tr.champion")).to_contain_text("v1", timeout=UI_TIMEOUT_MS)
        page.get_by_label("Why roll back (optional)").fill(ROLLBACK_REASON)
        page.get_by_role("button", name="Roll back").click()
        expect(page.locator("tr.champion")).to_contain_text("v3", timeout=UI_TIMEOUT_MS)
        ledger = page.locator("table.ledger")
        expect(ledger).to_contain_text(PROMOTE_REASON)
        expect(ledger).to_contain_text(ROLLBACK_REASON)
        shot("ledger")

        # The tab Airflow shows on the champion's ct_train run opens its version.
        run_id = urllib.parse.quote(champion.trigger["run_id"], safe="")
        page.goto(f"{server.url}/dags/ct_train/runs/{run_id}/plugin/ct-run")
        expect(page.frame_locator("iframe").locator("h1")).to_contain_text("v3", timeout=UI_TIMEOUT_MS)
        shot("run-tab")

    history = store.promotion_history(MODEL)
    promote, rollback = history[-2], history[-1]
    assert (promote.kind, promote.to_version, promote.actor, promote.reason) == ("promotion", 1, user, PROMOTE_REASON)
    assert (rollback.kind, rollback.to_version, rollback.actor, rollback.reason) == (
        "rollback",
        3,
        user,
        ROLLBACK_REASON,
    )
    assert store.get_alias(MODEL, CHAMPION).version == 3
    record_property("console_screenshots", len(shot.taken))
