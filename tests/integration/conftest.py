"""Fixtures shared by the integration tests: the metadata store on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator

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
