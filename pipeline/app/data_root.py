"""Settings whose ``s3://`` data root takes its credentials from an Airflow connection's fields.

The Airflow glue (``plugins/ct_airflow/data_connection.py``) reads the connection named by
``CT_DATA_CONN_ID`` and passes its plain fields here; this layer turns them into the store's options
(:meth:`pipeline.core.s3.S3Options.from_connection`), so ``pipeline/`` stays free of Airflow and the
secret travels in memory only, never through a config file, a URL or a log line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from pipeline.core.errors import ConfigError
from pipeline.core.s3 import S3Options, is_s3_url
from pipeline.core.settings import Settings, load_settings


def settings_with_connection(
    login: str | None, password: str | None, extra: Mapping[str, Any], settings: Settings | None = None
) -> Settings:
    """``settings`` (default: from the environment) with the data root's credentials from a connection."""
    settings = settings or load_settings()
    if not is_s3_url(settings.data_url):
        raise ConfigError(
            f"CT_DATA_CONN_ID is set but the data root {settings.data_url!r} is not s3://: a connection gives "
            "credentials to an S3 data root only. Set CT_DATA_URL=s3://bucket/prefix or unset CT_DATA_CONN_ID"
        )
    options = S3Options.from_connection(login, password, extra)
    return dataclasses.replace(settings, storage_options=options.storage_options())
