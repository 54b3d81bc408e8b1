"""The console's access checks, made of Airflow's own auth manager, and the app built with them.

Airflow does not authenticate a plugin's FastAPI app: every request must prove itself here. The
identity comes from ``get_user`` (the UI's session cookie or an ``Authorization: Bearer`` JWT from
``POST /auth/token``), the permission from the auth manager: reading any page needs read access to
``ct_train``; promoting or rolling back needs the right to trigger it (create a ``ct_train`` run).
Anonymous requests get 401, a user without the permission 403.

Everything is imported on the console's first request, in the api-server: the scheduler,
dag-processor and task processes load plugins too, and must not pay for FastAPI, Airflow's API
models or the console (tests/integration/test_dag_parse_budget.py imports this module bare).
There is no ``from __future__ import annotations`` here on purpose: FastAPI reads the checks'
annotations, which name objects imported inside :func:`access_checks`.
"""

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

TRAIN_DAG = "ct_train"
MOUNT = "/ct"
"""Where Airflow's api-server mounts the console."""

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def access_checks() -> tuple[Callable[..., str], Callable[..., str]]:
    """(reader, operator): FastAPI dependencies that authorise a request and return the user's name."""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
    from fastapi import Request

    def reader(request: Request, user: GetUserDep) -> str:
        """Let a user with read access to ``ct_train`` through."""
        requires_access_dag("GET", param_dag_id=TRAIN_DAG)(request, user)
        return user.get_name()

    def operator(request: Request, user: GetUserDep) -> str:
        """Let a user who may trigger ``ct_train`` through (moving the champion is that kind of act)."""
        requires_access_dag("POST", DagAccessEntity.RUN, param_dag_id=TRAIN_DAG)(request, user)
        return user.get_name()

    return reader, operator


def build_app() -> Any:
    """The console on the workspace of the api-server's environment (``CT_HOME``, ``CT_CONFIG``)."""
    from ct_airflow.data_connection import data_root_settings
    from pipeline.app.console.api import ConsoleAccess, build_console_app
    from pipeline.app.workspace import open_workspace

    reader, operator = access_checks()
    return build_console_app(
        lambda: open_workspace(data_root_settings()), ConsoleAccess(reader=reader, operator=operator)
    )


class LazyConsole:
    """An ASGI app that builds the console on its first request and hands every request to it."""

    def __init__(self, build: Callable[[], Any] = build_app) -> None:
        self._build = build
        self._app: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            self._app = self._build()
        await self._app(scope, receive, send)
