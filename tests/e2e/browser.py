"""Debian's chromium driven by Playwright for the e2e tests: the page fixture, logging in, evidence.

Never a downloaded browser: ``/usr/bin/chromium`` (``make test`` installs it). Without it a test that
asks for ``browser_page`` skips and says why; ``CT_REQUIRE_BROWSER=1`` (set by .ci/run) makes that a
failure. A failing test keeps a screenshot and the page's HTML in its tmp dir and prints where.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from airflow_server import AirflowServer

CHROMIUM = Path("/usr/bin/chromium")
UI_TIMEOUT_MS = 60_000  # generous: on a busy machine the api-server can take many seconds per request


@pytest.fixture
def browser_page() -> Iterator[Any]:
    """A page in headless Debian chromium; skips (or fails under CT_REQUIRE_BROWSER=1) without it."""
    if not CHROMIUM.exists():
        reason = (
            f"no browser at {CHROMIUM}: install Debian's chromium (`make test` does it with "
            "apt-get install chromium chromium-driver)"
        )
        if os.environ.get("CT_REQUIRE_BROWSER") == "1":
            pytest.fail(f"CT_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1500})  # tall enough for the whole form
            page.set_default_timeout(UI_TIMEOUT_MS)
            yield page
        finally:
            browser.close()


@contextmanager
def evidence_on_failure(page: Any, directory: Path) -> Iterator[None]:
    """On any failure inside, keep a screenshot and the HTML of the page and print where they are."""
    try:
        yield
    except Exception:
        shot, html = directory / "failure.png", directory / "failure.html"
        try:
            page.screenshot(path=shot, full_page=True)
            html.write_text(page.content())
            print(f"\nbrowser state at the failure: {shot} and {html}")
        except Exception as err:  # the page itself may be gone; the original error matters more
            print(f"\ncould not keep the browser state: {err}")
        raise


def log_in(page: Any, server: AirflowServer) -> str:
    """Sign in on the simple auth manager's login page; return the user name."""
    passwords = json.loads((server.airflow_home / "simple_auth_manager_passwords.json.generated").read_text())
    user, password = next(iter(passwords.items()))
    page.goto(f"{server.url}/dags/ct_train")  # not signed in yet: the UI sends us to its login page
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/dags/ct_train")
    return user
