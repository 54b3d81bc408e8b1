"""Fixtures shared by the integration tests: the metadata store on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.registry.sql import SqlMetadataStore


@pytest.fixture
def store(database_url: str) -> Iterator[SqlMetadataStore]:
    """A metadata store on ``database_url`` (each test runs on SQLite and on PostgreSQL), disposed afterwards."""
    s = SqlMetadataStore(database_url)
    try:
        yield s
    finally:
        s.dispose()


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated Airflow metadata DB for the session's ``airflow dags test`` runs (migration is the slow part)."""
    return tmp_path_factory.mktemp("airflow_home")
