"""Where things live: the data directory, the config file and the metadata database.

Resolved from environment variables (prefix ``CT_``) so the same code runs on a laptop, in CI and
in docker-compose without edits. Secrets never live in config files; a database URL with a
password comes from the environment only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
"""The checkout this package was installed from (editable install) — home of dags/, config/."""

BUNDLED_CONFIG = PROJECT_ROOT / "config" / "pipeline.yaml"


@dataclass(frozen=True)
class Settings:
    """Resolved locations for one process; build it with :func:`load_settings`."""

    home: Path
    config_path: Path
    database_url: str
    data_url: str
    alert_webhook_url: str | None = None
    """``CT_ALERT_WEBHOOK_URL``: overrides ``alerts.webhook_url`` of the config (it may carry a token)."""
    storage_options: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)
    """fsspec options of the data root when they come from elsewhere than the environment (an Airflow
    connection, see ``plugins/ct_airflow/data_connection.py``); None: built from the environment
    (:mod:`pipeline.core.s3`). Holds credentials, so it is never shown."""

    @property
    def landing(self) -> Path:
        return self.home / "landing"

    @property
    def quarantine(self) -> Path:
        return self.home / "quarantine"

    @property
    def archive(self) -> Path:
        return self.home / "archive"

    @property
    def scoring(self) -> Path:
        """Unlabelled batches to be scored by the champion (same completeness rules as ``landing``)."""
        return self.home / "scoring"

    @property
    def labels(self) -> Path:
        """Late labels (id columns + label) joined to earlier batch predictions."""
        return self.home / "labels"

    @property
    def reports(self) -> Path:
        return self.home / "reports"

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"


def default_home() -> Path:
    """The data directory when ``CT_HOME`` is unset: ``data/`` inside the project."""
    return PROJECT_ROOT / "data"


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Read ``CT_HOME``, ``CT_CONFIG``, ``CT_DATABASE_URL``, ``CT_DATA_URL`` and ``CT_ALERT_WEBHOOK_URL``.

    ``CT_CONFIG`` defaults to ``$CT_HOME/pipeline.yaml`` when that file exists (written by
    ``ct init``), else to the project's bundled ``config/pipeline.yaml``.
    """
    env = dict(os.environ if env is None else env)
    home = Path(env.get("CT_HOME") or default_home()).expanduser().resolve()
    if env.get("CT_CONFIG"):
        config_path = Path(env["CT_CONFIG"]).expanduser().resolve()
    elif (home / "pipeline.yaml").exists():
        config_path = home / "pipeline.yaml"
    else:
        config_path = BUNDLED_CONFIG
    database_url = env.get("CT_DATABASE_URL") or f"sqlite:///{home / 'ct.db'}"
    data_url = env.get("CT_DATA_URL") or home.as_uri()
    return Settings(
        home=home,
        config_path=config_path,
        database_url=database_url,
        data_url=data_url,
        alert_webhook_url=env.get("CT_ALERT_WEBHOOK_URL") or None,
    )
