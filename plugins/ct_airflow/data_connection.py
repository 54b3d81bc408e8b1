"""The data root's credentials from an Airflow connection, for tasks and the console.

``CT_DATA_CONN_ID`` names an ``aws``-type connection (login = access key id, password = secret
access key, extra ``endpoint_url``/``region_name``/``aws_session_token``). When it is set,
:func:`data_root_settings` reads the connection through the Task SDK (Airflow's secrets backends,
``AIRFLOW_CONN_*`` variables included) and hands its fields to ``pipeline.app.data_root``, so
``pipeline/`` never imports Airflow and the secret is in no config file. Unset (the default), the
environment's AWS variables are used (``pipeline/core/s3.py``) and no connection is looked up.
"""

from __future__ import annotations

import os
from typing import Any

CONN_ID_VAR = "CT_DATA_CONN_ID"


def data_root_settings() -> Any:
    """The environment's settings, with the data root's connection applied when one is named."""
    from pipeline.app.data_root import settings_with_connection
    from pipeline.app.workspace import load_settings

    conn_id = os.environ.get(CONN_ID_VAR, "").strip()
    if not conn_id:
        return load_settings()
    from airflow.sdk import Connection

    from pipeline.core.errors import ConfigError

    try:
        conn = Connection.get(conn_id)
    except Exception as err:  # the SDK raises its own "not found" types; the message says what to do
        raise ConfigError(
            f"{CONN_ID_VAR}={conn_id!r}: no such Airflow connection ({type(err).__name__}); create it "
            "(type aws: login = access key id, password = secret, extra endpoint_url) or unset the variable"
        ) from err
    return settings_with_connection(conn.login, conn.password, conn.extra_dejson or {})
