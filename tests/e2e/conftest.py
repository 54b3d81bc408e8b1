"""Shared e2e fixtures: one real Airflow for the modules that can share it, and its first batch.

``airflow_loop`` is an ``airflow standalone`` on the bundled config (plus one spec for the trigger
form, see shared_airflow.py), started on first use and shared by every test that asks for it
(test_loop_in_airflow.py, test_trigger_form.py), so those modules pay for one start, not one each.
It is stopped right after the last test that uses it rather than at the end of the session: an idle
Airflow (scheduler, dag-processor, per-minute ingest) would otherwise keep the two cores busy under
the integration and unit tests that run after it. If a later test asks for it again, a fresh one is
started. Modules that need a differently configured Airflow keep a module fixture of their own
(under another name).

``first_batch`` lands the first batch (2000 rows) into that Airflow's landing area once, whichever
test asks first, so each of these tests also runs on its own (``pytest -k``).
"""

from __future__ import annotations

import pytest
from airflow_server import AirflowServer
from browser import browser_page  # noqa: F401 (the headless chromium page fixture, for every e2e module)
from shared_airflow import LandedBatch, SharedAirflow

SHARED_FIXTURE = "airflow_loop"
_SHARED = pytest.StashKey[SharedAirflow]()


@pytest.fixture(scope="session")
def _shared_airflow(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    shared = SharedAirflow(tmp_path_factory)
    request.session.stash[_SHARED] = shared
    yield shared
    shared.stop()


@pytest.fixture
def airflow_loop(_shared_airflow: SharedAirflow) -> AirflowServer:
    """The shared real Airflow on the bundled config (started on first use)."""
    return _shared_airflow.get()


@pytest.fixture
def first_batch(_shared_airflow: SharedAirflow, airflow_loop: AirflowServer) -> LandedBatch:
    """The first batch, landed once into ``airflow_loop``."""
    return _shared_airflow.land_first_batch()


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    shared = item.session.stash.get(_SHARED, None)
    if shared is not None and (nextitem is None or SHARED_FIXTURE not in getattr(nextitem, "fixturenames", ())):
        shared.stop()
