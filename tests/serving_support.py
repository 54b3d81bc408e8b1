"""Test support for ``ct serve``: a workspace with a few registered versions, and a real uvicorn
server on 127.0.0.1 (port 0) in a thread, stopped cleanly (lifespan shutdown: the log is flushed).

Versions are the cheapest real ones: logistic regressions fitted on a small demo frame with
different ``C`` (so their scores differ), saved through the artifact store and registered with the
snapshot's feature schema. No ingest or training run is needed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from pipeline.app.workspace import Workspace, open_workspace
from pipeline.core.config import ModelSpec, PipelineConfig
from pipeline.core.settings import Settings
from pipeline.data.snapshots import arrow_schema
from pipeline.modeling.training import fit_model
from pipeline.registry.base import CHAMPION, ModelVersion, NewModelVersion

TOKEN = "test-token-0123456789"


def serving_workspace(settings: Settings, **serving: Any) -> Workspace:
    """The workspace of ``settings`` with ``serving`` keys replaced (e.g. poll_seconds, challenger)."""
    ws = open_workspace(settings)
    return Workspace(settings=ws.settings, config=with_serving(ws.config, **serving))


def with_serving(config: PipelineConfig, **serving: Any) -> PipelineConfig:
    data = config.model_dump()
    data["serving"] = {**data.get("serving", {}), **serving}
    return PipelineConfig.model_validate({**data, "model": config.model.model_dump()})


def register_versions(
    ws: Workspace, frame: Any, strengths: tuple[float, ...] = (1.0, 0.001, 100.0)
) -> list[ModelVersion]:
    """One registered version per regularisation strength (v1, v2, ...: logistic regressions, ridge
    for a regression task); none is promoted."""
    dataset = ws.config.dataset
    schema = [[f.name, str(f.type)] for f in arrow_schema(dataset) if f.name != dataset.label]
    out = []
    for k, strength in enumerate(strengths, start=1):
        spec = (
            ModelSpec(estimator="ridge", params={"alpha": strength})
            if dataset.task == "regression"
            else ModelSpec(estimator="logistic_regression", params={"C": strength, "max_iter": 500})
        )
        model = fit_model(frame, dataset, spec, seed=k, threads=1, output=ws.config.model.output)
        out.append(register_artifact(ws, model, f"{k}", spec.params, schema))
    return out


def register_artifact(
    ws: Workspace, model: Any, tag: str, params: dict[str, Any], schema: list[list[str]] | None
) -> ModelVersion:
    """Store ``model`` and register it as the next version (snapshot and config named by ``tag``)."""
    key, sha = ws.artifacts.save(model, ws.config.model.name)
    mv, _ = ws.meta.register_model(
        NewModelVersion(
            name=ws.config.model.name,
            snapshot_id=f"snapshot-{tag}",
            config_hash=f"config-{tag}",
            spec_name="default",
            params=params,
            metrics={},
            evaluation={"threshold": 0.5},
            artifact_uri=key,
            artifact_sha256=sha,
            validation_id=None,
            trigger={"kind": "manual"},
            code_version="test:0",
            feature_schema=schema,
        )
    )
    return mv


def promote(ws: Workspace, version: int, alias: str = CHAMPION) -> None:
    ws.meta.set_alias(ws.config.model.name, alias, version, "test", {}, "test")


@dataclass
class RunningServer:
    url: str
    server: uvicorn.Server
    app: Any

    def client(self, token: str | None = TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


@contextmanager
def running_server(ws: Workspace, token: str | None = TOKEN) -> Iterator[RunningServer]:
    """``ct serve``'s app for ``ws`` on a real uvicorn server (127.0.0.1, a free port), in a thread."""
    from pipeline.cli.serve import scoring_app_for

    app = scoring_app_for(ws, token, environ={})
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the test server stopped while starting; see the log above")
        threading.Event().wait(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield RunningServer(url=f"http://127.0.0.1:{port}", server=server, app=app)
    finally:
        server.should_exit = True
        thread.join(timeout=60)


class PoisonedModel:
    """A real fitted model that fails on rows whose ``tenure_months`` is 99 (a bug in a model)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.classes_ = model.classes_

    def predict_proba(self, X: Any) -> Any:
        if (X["tenure_months"] == 99).any():
            raise RuntimeError("poisoned row")
        return self.model.predict_proba(X)


def register_poisoned(ws: Workspace, base: ModelVersion) -> ModelVersion:
    """A version whose model is ``base``'s wrapped in :class:`PoisonedModel`."""
    model = PoisonedModel(ws.artifacts.load(base.artifact_uri, base.artifact_sha256))
    return register_artifact(ws, model, "poisoned", {}, base.feature_schema)
