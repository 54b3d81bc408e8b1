"""Shared fixtures: an isolated data directory per test, and the real PostgreSQL server.

PostgreSQL tests use ``CT_TEST_POSTGRES_URL`` (default: this machine's server, database ``test``)
and run in a schema of their own that is dropped afterwards. Without a reachable server they are
skipped with the reason shown; with ``CT_REQUIRE_POSTGRES=1`` (set by .ci/run) that skip becomes
a failure, so CI always exercises the real database.
"""

from __future__ import annotations

import os
import random
import shutil
import uuid
from pathlib import Path

import pytest

from pipeline.core.settings import BUNDLED_CONFIG, Settings
from tests.s3_server import s3_data_url, s3_server  # noqa: F401  (fixtures: a moto S3 server, an s3:// root)

DEFAULT_PG_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--ct-order",
        default="file",
        help="run the collected tests in file order (default), 'reverse', or 'random:SEED': "
        "a check that no test depends on another having run first",
    )


def pytest_report_header(config: pytest.Config) -> str | None:
    order = config.getoption("--ct-order")
    return None if order == "file" else f"test order: {order}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = str(item.fspath)
        for layer in ("unit", "integration", "e2e", "faults"):
            if f"{os.sep}{layer}{os.sep}" in path:
                item.add_marker(getattr(pytest.mark, layer))
    order = config.getoption("--ct-order")
    if order == "reverse":
        items.reverse()
    elif order.startswith("random:"):
        random.Random(order.removeprefix("random:")).shuffle(items)
    elif order != "file":
        raise pytest.UsageError(f"--ct-order={order!r}: expected file, reverse or random:SEED")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for a fresh data directory with the bundled (demo) config and a SQLite store."""
    home = tmp_path / "ct_home"
    home.mkdir()
    return Settings(
        home=home, config_path=BUNDLED_CONFIG, database_url=f"sqlite:///{home / 'ct.db'}", data_url=home.as_uri()
    )


def _postgres_base_url() -> str | None:
    url = os.environ.get("CT_TEST_POSTGRES_URL", DEFAULT_PG_URL)
    try:
        import sqlalchemy as sa

        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return url
    except Exception as err:  # any failure to connect means "no server" for the purpose of skipping
        reason = f"PostgreSQL not reachable at {url} ({type(err).__name__}); set CT_TEST_POSTGRES_URL"
        if os.environ.get("CT_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"CT_REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(reason)
    return None


@pytest.fixture
def postgres_url() -> str:
    """A URL on the real PostgreSQL server, confined to a fresh schema dropped after the test."""
    import sqlalchemy as sa

    base = _postgres_base_url()
    assert base is not None
    schema = f"ct_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = sa.engine.make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Runs a test once on SQLite and once on the real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meta.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def demo_frame():
    """A small, deterministic batch of the demo churn data."""
    from pipeline.app.demo_data import BatchSpec, generate_batch

    return generate_batch(BatchSpec(rows=600, seed=7))


@pytest.fixture
def config():
    """The bundled config with a single model spec (no candidate search), re-validated.

    Tests that drive the stages by hand train one spec; tests about candidate search declare
    their own candidates.
    """
    import yaml

    from pipeline.core.config import parse_config

    data = yaml.safe_load(BUNDLED_CONFIG.read_text())
    data["model"].pop("candidates", None)
    return parse_config(data, BUNDLED_CONFIG)


@pytest.fixture
def clean_dir(tmp_path: Path):
    d = tmp_path / "work"
    d.mkdir()
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def fixed_code_version(monkeypatch: pytest.MonkeyPatch) -> None:
    """register_model records the code version (the git commit); a fixed one keeps tests independent
    of the checkout's git state. Modules that register versions use it for every test
    (``pytestmark = pytest.mark.usefixtures("fixed_code_version")``)."""
    from pipeline.app.stages import register

    monkeypatch.setattr(register, "code_version", lambda: "test:0")


@pytest.fixture
def run_ct(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """``run_ct(settings, *argv) -> (exit code, stdout, stderr)``: the ``ct`` command in this process,
    on the stores of ``settings`` and the bundled config."""
    from pipeline.cli import main

    def run(settings: Settings, *argv: str) -> tuple[int, str, str]:
        for name, value in {
            "CT_HOME": str(settings.home),
            "CT_CONFIG": str(BUNDLED_CONFIG),
            "CT_DATABASE_URL": settings.database_url,
            "CT_DATA_URL": settings.data_url,
        }.items():
            monkeypatch.setenv(name, value)
        capsys.readouterr()
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture(scope="session")
def console_loop(tmp_path_factory: pytest.TempPathFactory):
    """The churn demo's three batches run in process (tests/console_loop.py), once per session.

    Shared: tests must only read it. A test that moves an alias builds its own with
    ``run_console_loop``.
    """
    from tests.console_loop import run_console_loop

    return run_console_loop(tmp_path_factory.mktemp("console"))
