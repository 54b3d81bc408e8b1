#!/usr/bin/env python
"""``airflow`` with one compatibility fix for the pinned Celery; the launcher of the native topology.

    python scripts/airflow_celery_compat.py celery worker ...   # same arguments as `airflow`

apache-airflow-providers-celery 3.26.0 and celery 5.7.0, both pinned in requirements.txt, disagree
twice about Celery's database result backend (the PostgreSQL one this topology uses):

1. the provider imports ``retry`` from ``celery.backends.database`` at module level, which celery 5.7
   removed: the scheduler cannot load the CeleryExecutor and ``airflow celery worker`` dies on start;
2. celery 5.7 stores the ``result`` column as encoded bytes (it used to be a pickled object), and the
   provider's bulk state read hands the raw row to ``meta_from_decoded``: the first task that fails
   inside Celery (e.g. its execution-API call timed out) crashes the scheduler with ``TypeError: If
   the stored exception isn't an instance of BaseException...``.

This module puts back an equivalent ``retry`` (retry a database read a few times on a transient
SQLAlchemy error) and lets ``meta_from_decoded`` decode a still-encoded result first — each only
when needed — then hands over to Airflow's own ``main()``. With a Celery and a provider that agree
(e.g. celery<5.7) both patches do nothing, and this launcher can go.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


def _retry_database_errors(fun: Callable[..., Any]) -> Callable[..., Any]:
    """Call ``fun`` up to ``max_retries`` (keyword, default 3) times while SQLAlchemy reports a
    transient database error; the last error propagates."""
    from sqlalchemy.exc import DatabaseError, InvalidRequestError
    from sqlalchemy.orm.exc import StaleDataError

    @functools.wraps(fun)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        attempts = kwargs.pop("max_retries", 3)
        for attempt in range(1, attempts + 1):
            try:
                return fun(*args, **kwargs)
            except (DatabaseError, InvalidRequestError, StaleDataError):
                if attempt >= attempts:
                    raise
                log.warning("%s failed (attempt %d of %d); retrying", fun.__name__, attempt, attempts, exc_info=True)
        return None

    return wrapper


def patch_celery_database_backend() -> bool:
    """Give ``celery.backends.database`` its ``retry`` back when it lacks one; True if patched."""
    from celery.backends import database

    if hasattr(database, "retry"):
        return False
    database.retry = _retry_database_errors
    return True


def patch_result_decoding() -> bool:
    """Let the database backend's ``meta_from_decoded`` accept a row whose ``result`` is still
    encoded (celery 5.7 storage read by an older provider); True if patched."""
    from celery.backends.database import DatabaseBackend

    decode = getattr(DatabaseBackend, "_decode_stored_result", None)
    if decode is None or getattr(DatabaseBackend.meta_from_decoded, "_ct_patched", False):
        return False
    original = DatabaseBackend.meta_from_decoded

    @functools.wraps(original)
    def meta_from_decoded(self: Any, meta: dict[str, Any]) -> dict[str, Any]:
        if isinstance(meta.get("result"), (bytes, bytearray, memoryview)):
            meta = {**meta, "result": self._decode_stored_result(meta["result"])}
        return original(self, meta)

    meta_from_decoded._ct_patched = True  # type: ignore[attr-defined]
    DatabaseBackend.meta_from_decoded = meta_from_decoded
    return True


def main() -> None:
    patch_celery_database_backend()
    patch_result_decoding()
    from airflow.__main__ import main as airflow_main

    sys.argv[0] = "airflow"
    airflow_main()


if __name__ == "__main__":
    main()
