"""The ct_train trigger form, clicked through in a real headless browser, starts a run recorded as manual.

Debian's chromium (/usr/bin/chromium; ``make test`` installs it) driven by Playwright, never a
downloaded browser: log in on the simple auth manager's page, open ct_train, click Trigger, fill the
form Airflow builds from the DAG's Params, submit. The run is then followed through the REST API and
checked in the model registry. It runs in the shared ``airflow_loop`` (tests/e2e/conftest.py) once
the first champion exists, so it never races the landing test for that champion.

Without chromium the test skips and says why; ``CT_REQUIRE_BROWSER=1`` (set by .ci/run) makes that a
failure. A failing run keeps a screenshot and the page's HTML in the test's tmp dir and prints where.
"""

from __future__ import annotations

import re
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from airflow_server import AirflowServer, wait_for
from browser import UI_TIMEOUT_MS, evidence_on_failure, log_in
from shared_airflow import FORM_SPEC, LandedBatch

from pipeline.registry.sql import SqlMetadataStore

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SPEC = FORM_SPEC  # a spec only this test trains: its forced run registers a version of its own
REASON = "e2e: trigger form"
MODEL = "churn-classifier"


def _store(server: AirflowServer) -> SqlMetadataStore:
    return SqlMetadataStore(f"sqlite:///{server.ct_home / 'ct.db'}")


def _champion(server: AirflowServer) -> Any:
    try:
        return _store(server).get_alias(MODEL)
    except Exception:  # the store may not exist before the first ingest
        return None


def _row(page: Any, dialog: Any, title: str) -> Any:
    """The form row labelled with a Param's title (a required field's label ends in '*')."""
    label = page.locator("label").filter(has_text=re.compile(rf"^\s*{re.escape(title)}\W*$"))
    return dialog.get_by_role("group").filter(has=label)


def test_trigger_form_run_is_recorded_as_manual_with_its_parameters(
    browser_page: Any, airflow_loop: AirflowServer, first_batch: LandedBatch, tmp_path: Path, record_property
) -> None:
    from playwright.sync_api import expect

    page, airflow = browser_page, airflow_loop
    wait_for(lambda: _champion(airflow), timeout=420, what="the first champion (from the landed batch)")
    store = _store(airflow)
    snapshot = store.latest_snapshot("churn")
    assert snapshot is not None
    params = airflow.get("/api/v2/dags/ct_train/details")["params"]

    started = time.monotonic()
    with evidence_on_failure(page, tmp_path):
        user = log_in(page, airflow)
        page.get_by_role("button", name="Trigger Dag").click()
        dialog = page.get_by_role("dialog").filter(has=page.get_by_role("heading", name="Trigger Dag - ct_train"))
        submit = dialog.get_by_role("button", name="Trigger", exact=True)

        # The form shows every Param with its title and description, and the optional fields, still
        # empty, do not hold Trigger back.
        for param in params.values():
            row = _row(page, dialog, param["schema"]["title"])
            expect(row).to_contain_text(param["description"], timeout=UI_TIMEOUT_MS)
        expect(submit).to_be_enabled(timeout=UI_TIMEOUT_MS)

        _row(page, dialog, "Snapshot").get_by_role("textbox").fill(snapshot.id)
        _row(page, dialog, "Model spec").get_by_role("textbox").fill(SPEC)
        _row(page, dialog, "Reason").get_by_role("textbox").fill(REASON)
        # The switch's input is visually hidden; clicking its label toggles it, as clicking the switch does.
        _row(page, dialog, "Force retrain").locator("label").filter(has_text="Force retrain").click()
        expect(dialog.get_by_role("checkbox", name="Force retrain")).to_be_checked(timeout=UI_TIMEOUT_MS)
        form_shot = tmp_path / "trigger-form.png"
        dialog.screenshot(path=form_shot)
        print(f"\nthe filled trigger form: {form_shot}")

        submit.click()
        expect(dialog).to_be_hidden(timeout=UI_TIMEOUT_MS)  # the form closes once Airflow has accepted the run
        ui_seconds = time.monotonic() - started
        run = wait_for(
            lambda: next(
                (r for r in airflow.dag_runs("ct_train") if (r.get("conf") or {}).get("reason") == REASON), None
            ),
            timeout=30,
            interval=1,
            what="the run started from the trigger form",
        )

    run_id = run["dag_run_id"]
    quoted = urllib.parse.quote(run_id, safe="")

    def finished() -> str | None:
        state = airflow.get(f"/api/v2/dags/ct_train/dagRuns/{quoted}")["state"]
        return state if state in ("success", "failed") else None

    assert wait_for(finished, timeout=300, what="the ct_train run from the trigger form") == "success"
    run_seconds = time.monotonic() - started - ui_seconds
    record_property("trigger_form_ui_seconds", round(ui_seconds, 1))
    record_property("trigger_form_run_seconds", round(run_seconds, 1))
    print(f"trigger form: browser {ui_seconds:.1f}s (log in, fill, submit); run {run_seconds:.1f}s")

    # The DAG run carries what was typed into the form, and who triggered it.
    assert run["run_type"] == "manual" and run["triggering_user_name"] == user
    assert {k: run["conf"].get(k) for k in ("snapshot_id", "model_spec", "force", "reason")} == {
        "snapshot_id": snapshot.id,
        "model_spec": SPEC,
        "force": True,
        "reason": REASON,
    }

    # The registry records the model version as manual, with the user, the reason and the parameters.
    versions = [v for v in store.list_model_versions(MODEL) if v.trigger.get("run_id") == run_id]
    assert len(versions) == 1
    mv = versions[0]
    assert mv.spec_name == SPEC and mv.snapshot_id == snapshot.id
    assert mv.trigger["kind"] == "manual" and mv.trigger["run_type"] == "manual"
    assert mv.trigger["user"] == user and mv.trigger["reason"] == REASON
    assert mv.trigger["params"]["snapshot_id"] == snapshot.id and mv.trigger["params"]["model_spec"] == SPEC
    assert mv.trigger["params"]["force"] is True
