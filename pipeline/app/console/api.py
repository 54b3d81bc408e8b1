"""The console as an HTTP app: every page as HTML under ``/ui`` and as JSON under ``/api``.

The host decides who may do what: ``ConsoleAccess`` holds two FastAPI dependencies, one that lets a
reader through and one for an operator (promote, roll back); each returns the user's name or
raises 401/403. The reader check guards every route of the app, the static files and redirects
included, and the app has no OpenAPI or docs routes, so nothing here answers an anonymous request.
Moves need a JSON body, which a form on another site cannot send, and record the user as the
actor in the promotion ledger.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from markupsafe import escape
from pydantic import BaseModel, Field

from pipeline.app.console import models_page, monitoring_page, run_links, snapshots_page, validation_page
from pipeline.app.console.html import to_json
from pipeline.app.console.links import Links
from pipeline.app.stages.register import promote_version, rollback_alias
from pipeline.app.workspace import Workspace
from pipeline.core.errors import CTError, NotFound
from pipeline.registry.base import CHAMPION

log = logging.getLogger(__name__)

STATIC_FILES = {"console.css": "text/css", "console.js": "text/javascript"}


@dataclass(frozen=True)
class ConsoleAccess:
    """FastAPI dependencies that authorise a request and return the user's name (or raise 401/403)."""

    reader: Callable[..., str]
    operator: Callable[..., str]


class Promotion(BaseModel):
    version: int = Field(ge=1)
    reason: str = Field(min_length=1)


class Rollback(BaseModel):
    reason: str = ""


def links_for(request: Request) -> Links:
    """Links relative to where the app is mounted (``/ct`` in Airflow) and to Airflow's own root."""
    base = str(request.scope.get("root_path", "")).rstrip("/")
    return Links(base=base, airflow=base.rsplit("/", 1)[0] if base else "")


def _json_body(request: Request) -> None:
    if not request.headers.get("content-type", "").startswith("application/json"):
        raise HTTPException(415, "send the fields as JSON (Content-Type: application/json)")


def build_console_app(open_workspace: Callable[[], Workspace], access: ConsoleAccess) -> FastAPI:
    """The console app; ``open_workspace`` gives the stores to read, ``access`` who may do what."""
    app = FastAPI(
        title="Continuous-training console",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(access.reader)],
    )

    def ws() -> Workspace:
        return open_workspace()

    def page(path: str, render: Callable[[Any, Links], str]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Serve ``build`` (``request`` plus path and query parameters -> a read model) at both
        ``/ui<path>`` (rendered) and ``/api<path>`` (JSON)."""

        def register(build: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(build)
            def as_html(*args: Any, **kwargs: Any) -> HTMLResponse:
                return HTMLResponse(render(build(*args, **kwargs), links_for(kwargs["request"])))

            @functools.wraps(build)
            def as_json(*args: Any, **kwargs: Any) -> JSONResponse:
                return JSONResponse(to_json(build(*args, **kwargs)))

            app.add_api_route(f"/ui{path}", as_html, methods=["GET"], response_model=None)
            app.add_api_route(f"/api{path}", as_json, methods=["GET"], response_model=None)
            return build

        return register

    @app.exception_handler(NotFound)
    def not_found(request: Request, err: NotFound) -> Response:
        return _error(request, 404, str(err))

    @app.exception_handler(CTError)
    def refused(request: Request, err: CTError) -> Response:
        return _error(request, 409, str(err))

    @app.get("/", include_in_schema=False)
    @app.get("/ui", include_in_schema=False)
    @app.get("/ui/", include_in_schema=False)
    def home(request: Request) -> RedirectResponse:
        return RedirectResponse(links_for(request).models(), status_code=302)

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name not in STATIC_FILES:
            raise HTTPException(404, f"no static file {name!r}")
        body = files("pipeline.reporting").joinpath("static", name).read_bytes()
        return Response(body, media_type=STATIC_FILES[name], headers={"Cache-Control": "private, max-age=300"})

    @page("/models", models_page.render_models)
    def models(request: Request, model: str | None = None) -> models_page.ModelsView:
        w = ws()
        return models_page.build_models(w, model or w.config.model.name)

    @page("/models/{name}/versions/{version}", models_page.render_version)
    def version(request: Request, name: str, version: int) -> models_page.VersionView:
        return models_page.build_version(ws(), name, version)

    @page("/models/{name}/compare", models_page.render_compare)
    def compare(request: Request, name: str, a: int | None = None, b: int | None = None) -> models_page.CompareView:
        return models_page.build_compare(ws(), name, a, b)

    @app.get("/ui/models/{name}/versions/{version}/report", response_class=HTMLResponse)
    def report(name: str, version: int) -> HTMLResponse:
        return HTMLResponse(models_page.report_html(ws(), name, version))

    @page("/snapshots", snapshots_page.render_snapshots)
    def snapshots(request: Request, dataset: str | None = None, page: int = 1) -> snapshots_page.SnapshotsView:
        return snapshots_page.build_snapshots(ws(), dataset, page)

    @page("/snapshots/{snapshot_id}", snapshots_page.render_snapshot)
    def snapshot(request: Request, snapshot_id: str) -> snapshots_page.SnapshotView:
        return snapshots_page.build_snapshot(ws(), snapshot_id)

    @page("/snapshot-diff", snapshots_page.render_snapshot_diff)
    def snapshot_diff(request: Request, a: str | None = None, b: str | None = None) -> snapshots_page.SnapshotDiffView:
        return snapshots_page.build_snapshot_diff(ws(), a, b)

    @page("/validations", validation_page.render_validations)
    def validations(request: Request) -> validation_page.ValidationsView:
        return validation_page.build_validations(ws())

    @page("/validations/{validation_id}", validation_page.render_validation)
    def validation(request: Request, validation_id: int) -> validation_page.ValidationView:
        return validation_page.build_validation(ws(), validation_id)

    @app.get("/ui/validations/{validation_id}/data-docs/{path:path}")
    def data_docs(validation_id: int, path: str) -> Response:
        body, media_type = validation_page.data_docs_file(ws(), validation_id, path)
        return Response(body, media_type=media_type)

    @page("/monitoring", monitoring_page.render_monitoring)
    def monitoring(request: Request, model: str | None = None) -> monitoring_page.MonitoringView:
        w = ws()
        return monitoring_page.build_monitoring(w, model or w.config.model.name)

    @app.get("/ui/runs/{dag_id}/{run_id}")
    @app.get("/ui/runs/{dag_id}/{run_id}/tasks/{task_id}")
    def run_page(request: Request, dag_id: str, run_id: str, task_id: str | None = None) -> Response:
        links = links_for(request)
        target = run_links.resolve(ws(), links, dag_id, run_id, task_id)
        if target.url:
            return RedirectResponse(target.url, status_code=302)
        return HTMLResponse(run_links.render_unlinked(target, links), status_code=200)

    @app.post("/api/models/{name}/promote", dependencies=[Depends(_json_body)])  # 415 before the body is read
    def promote(request: Request, name: str, body: Promotion, actor: str = Depends(access.operator)) -> JSONResponse:
        out = promote_version(ws(), name, body.version, reason=body.reason, actor=actor, alias=CHAMPION)
        message = (
            f"{name}: champion -> v{body.version} by {actor}"
            if out["moved"]
            else f"{name}: champion already points to v{body.version}; nothing moved"
        )
        return JSONResponse({**to_json(out), "message": message})

    @app.post("/api/models/{name}/rollback", dependencies=[Depends(_json_body)])  # 415 before the body is read
    def rollback(request: Request, name: str, body: Rollback, actor: str = Depends(access.operator)) -> JSONResponse:
        out = rollback_alias(ws(), name, reason=body.reason, actor=actor, alias=CHAMPION)
        ledger = out["ledger"]
        message = f"{name}: champion v{ledger['from_version']} -> v{ledger['to_version']} (rollback by {actor})"
        return JSONResponse({**to_json(out), "message": message})

    return app


def _error(request: Request, status: int, message: str) -> Response:
    """The error as JSON for the API, as a short page for the UI."""
    if "/ui/" not in request.url.path:
        return JSONResponse({"detail": message}, status_code=status)
    links = links_for(request)
    body = (
        f"<!doctype html><meta charset='utf-8'><link rel='stylesheet' href='{escape(links.static('console.css'))}'>"
        f"<main><h1>{status}</h1><p class='message bad'>{escape(message)}</p>"
        f"<p><a href='{escape(links.models())}'>Back to the models</a></p></main>"
    )
    return HTMLResponse(body, status_code=status)
