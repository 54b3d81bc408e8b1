"""The demo's own data directory: ``ct demo`` never reads, writes or deletes a user's data.

The demo starts afresh each run, which means deleting what the last run left. It therefore runs
in a home of its own (default ``$CT_HOME/demo``) that it creates and marks with ``.ct-demo-home``,
with its own registry (SQLite in that home), object store and Airflow home. Starting afresh
deletes only inside a marked home; a directory holding anything without the mark is refused with
the files named, so a mistyped ``--home`` is never wiped, and the user's ``CT_HOME`` (its
``archive/``, ``ct.db``, ``snapshots/``) is never the demo's.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.core.errors import CTError
from pipeline.core.settings import BUNDLED_CONFIG, Settings

MARKER = ".ct-demo-home"
"""Marks a directory as created by ``ct demo``: everything in it may be deleted by the next run."""

KEPT_WHEN_FRESH = (MARKER, "airflow")  # Airflow's migrated metadata DB is the demo's own and slow to recreate
KEPT_PREFIXES = ("airflow-",)  # the other demo projects' Airflow homes (see pipeline/cli/demo_run.py)
MAX_NAMED = 10


class DemoHomeError(CTError):
    """The demo would run where it might delete data it did not create."""


def default_demo_home(settings: Settings) -> Path:
    """``$CT_HOME/demo``: beside the user's data, never in it."""
    return settings.home / "demo"


def prepare_demo_home(home: Path, user_home: Path, *, fresh: bool) -> Path:
    """Create (or reuse) the demo's home and, when ``fresh``, empty it of the last run's data.

    Refuses, naming the files, when ``home`` holds anything without the demo's mark, or when it
    is (or contains) ``user_home``, where the user's own data lives.
    """
    home, user_home = home.expanduser().resolve(), user_home.expanduser().resolve()
    if home == user_home or user_home.is_relative_to(home):
        raise DemoHomeError(
            f"refusing to run the demo in {home}: that is (or contains) your data directory "
            f"CT_HOME={user_home}. The demo deletes its earlier data each run; give it a directory "
            f"of its own with --home (default: {user_home / 'demo'})"
        )
    if home.exists() and not home.is_dir():
        raise DemoHomeError(f"refusing to run the demo in {home}: it is a file, not a directory; pass --home NEW_DIR")
    entries = sorted(p.name for p in home.iterdir()) if home.exists() else []
    if entries and MARKER not in entries:
        more = len(entries) - MAX_NAMED
        named = ", ".join(entries[:MAX_NAMED]) + (f" and {more} more" if more > 0 else "")
        raise DemoHomeError(
            f"refusing to run the demo in {home}: it holds files the demo did not create ({named}). "
            f"The demo deletes its earlier data each run, so it runs only in a new or empty directory "
            f"or in one it marked as its own ({MARKER}). Pass --home NEW_DIR, or move these away"
        )
    home.mkdir(parents=True, exist_ok=True)
    marker = home / MARKER
    if not marker.exists():
        marker.write_text(
            "Created by `ct demo`. Everything in this directory belongs to the demo and is deleted "
            "when the demo starts afresh: keep no data of your own here.\n",
            encoding="utf-8",
        )
    if fresh:
        for entry in home.iterdir():
            if entry.name in KEPT_WHEN_FRESH or entry.name.startswith(KEPT_PREFIXES):
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()  # a symlink is removed, never followed
    return home


def demo_settings(home: Path) -> Settings:
    """Settings confined to ``home``: the bundled churn config, a SQLite registry and a file store there.

    ``CT_DATABASE_URL``, ``CT_DATA_URL`` and ``CT_ALERT_WEBHOOK_URL`` are deliberately not used:
    they point at the user's registry, store and alert channel.
    """
    return Settings(
        home=home,
        config_path=BUNDLED_CONFIG,
        database_url=f"sqlite:///{home / 'ct.db'}",
        data_url=home.as_uri(),
        alert_webhook_url=None,
    )


_USER_ONLY = ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "CT_ALERT_WEBHOOK_URL")


@contextmanager
def demo_environment(home: Path) -> Iterator[None]:
    """While the demo runs, Airflow subprocesses use the demo's Airflow home and SQLite metadata DB.

    The Airflow runs inherit this process's environment, so a user's ``AIRFLOW_HOME``, Airflow
    database connection or alert webhook would otherwise receive the demo's runs and alerts.
    """
    saved = {k: os.environ.get(k) for k in ("AIRFLOW_HOME", *_USER_ONLY)}
    os.environ["AIRFLOW_HOME"] = str(home / "airflow")
    for key in _USER_ONLY:
        os.environ.pop(key, None)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
