"""The HTTP scoring service of ``ct serve``: FastAPI routes over the served models, the traffic split,
the prediction log and the metrics.

``POST /predict`` takes one row (a JSON object) or a batch (an array of objects), checks it against
the request schema (422 with one message per field), lets the champion answer (and in canary mode
the challenger for its share of entities, the champion scoring those rows in shadow; in shadow mode
the challenger scores every row, logged and never returned), logs every scored row and returns the
answers with the request id. ``GET /health`` says the process is up, ``GET /ready`` whether a
verified champion is loaded, ``GET /metadata`` what is served and what a request looks like,
``GET /metrics`` the Prometheus/OpenMetrics text. Every route but the two probes needs
``Authorization: Bearer <token>``. The hot path reads no store: models are swapped in by the
follower thread, log rows are written by the log thread, and scoring runs in one thread
(threadpoolctl caps OpenMP/BLAS at 1 when the service starts), so small requests stay fast on a
busy machine.
"""

from __future__ import annotations

import gc
import hmac
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import sklearn
from fastapi import FastAPI, Request, Response
from threadpoolctl import threadpool_limits

from pipeline.core.config import PipelineConfig, ServingConfig
from pipeline.core.errors import ConfigError
from pipeline.modeling.training import scores_from_model
from pipeline.monitoring.served_log import ROLE_CHALLENGER, ROLE_CHAMPION
from pipeline.serving.prediction_log import LogEntry, PredictionLog
from pipeline.serving.request_schema import (
    FieldError,
    InvalidRequest,
    RequestSchema,
    ValidRows,
    as_rows,
    example_record,
    validate_rows,
)
from pipeline.serving.served_models import LoadedModel, ModelFollower, ServedModels
from pipeline.serving.service_metrics import ServiceMetrics
from pipeline.serving.traffic import EntityRule, entity_rule, to_challenger

log = logging.getLogger(__name__)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
JSON = "application/json"


def resolve_token(serving: ServingConfig, environ: Mapping[str, str]) -> str | None:
    """The bearer token from ``serving.token_env``; None only with ``serving.open_access: true``."""
    token = environ.get(serving.token_env, "").strip()
    if token:
        return token
    if serving.open_access:
        log.warning("serving.open_access is true: requests need no token")
        return None
    raise ConfigError(
        f"ct serve needs a bearer token: set the environment variable {serving.token_env} (serving.token_env) "
        "to a long random secret, e.g. `export "
        f"{serving.token_env}=$(python -c 'import secrets; print(secrets.token_urlsafe(32))')`; "
        "or set serving.open_access: true to serve without authentication"
    )


class _Refused(Exception):
    """A request answered with an error status (never a server fault)."""

    def __init__(self, status: int, kind: str, detail: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(str(detail))
        self.status, self.kind, self.detail, self.headers = status, kind, detail, headers or {}


@dataclass(frozen=True)
class ScoringParts:
    """Everything the service uses; built once per process (see ``pipeline/cli/serve.py``)."""

    config: PipelineConfig
    schema: RequestSchema
    follower: ModelFollower
    prediction_log: PredictionLog
    metrics: ServiceMetrics
    token: str | None


def _answers(scores: np.ndarray, config: PipelineConfig, threshold: float) -> dict[str, list[Any]]:
    """The prediction columns of ``scores``, column by column (the same values ``prediction_frame``
    makes, without building a DataFrame on the request path)."""
    dataset = config.dataset
    if dataset.task == "regression":
        return {"prediction": [float(v) for v in scores]}
    if dataset.task == "multiclass":
        best = scores.argmax(axis=1)
        out: dict[str, list[Any]] = {f"proba_{c}": scores[:, k].tolist() for k, c in enumerate(dataset.classes)}
        out["score"] = scores[np.arange(len(scores)), best].tolist()
        out["predicted_label"] = [dataset.classes[k] for k in best]
        return out
    positive = str(dataset.positive_class)
    negative = next(c for c in dataset.classes if c != positive)
    values = scores.tolist()
    return {"score": values, "predicted_label": [positive if v >= threshold else negative for v in values]}


@dataclass(frozen=True)
class _Scored:
    """One version's part of a request: the rows it scored, which of them it answered, its values."""

    loaded: LoadedModel
    role: str
    rows: list[int]
    served: list[bool]
    values: dict[str, list[Any]]
    ms: float


def _pick(columns: Mapping[str, list[Any]], rows: Sequence[int]) -> dict[str, list[Any]]:
    return {c: [v[i] for i in rows] for c, v in columns.items()}


class ScoringService:
    """Scores validated requests with the current models and logs every scored row."""

    def __init__(self, parts: ScoringParts) -> None:
        self.parts = parts
        self.config = parts.config
        self.dataset = parts.config.dataset
        self.name = parts.config.model.name
        self.serving = parts.config.serving
        self.entities: EntityRule = entity_rule(self.serving.entity_column, self.dataset.id_columns)
        self.example = example_record(parts.schema, self.dataset)

    def _score(
        self, loaded: LoadedModel, valid: ValidRows, rows: Sequence[int] | None
    ) -> tuple[dict[str, list[Any]], float]:
        """``loaded``'s answers for the request's rows (``rows`` None: all), and the milliseconds it took."""
        started = time.perf_counter()
        if loaded.fast is not None:
            values = valid.values if rows is None else _pick(valid.values, rows)
            scores = loaded.fast(values, len(valid) if rows is None else len(rows))
        else:
            X = valid.frame if rows is None else valid.frame.iloc[list(rows)]
            # inputs are checked already (finite numbers or NaN for missing): skip sklearn's re-checks
            with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
                scores = scores_from_model(loaded.model, X, self.dataset)
        return _answers(scores, self.config, loaded.threshold), (time.perf_counter() - started) * 1000

    def predict(self, body: Any, request_id: str) -> dict[str, Any]:
        """Validate, route, score, log; the response body. Raises ``_Refused`` for bad requests."""
        served: ServedModels = self.parts.follower.current  # once: this request sees one snapshot
        champion = served.champion
        if champion is None:
            raise _Refused(503, "not_ready", served.problem or "no champion loaded")
        rows = as_rows(body)
        if len(rows) > self.serving.max_batch_rows:
            raise _Refused(
                413,
                "too_many_rows",
                f"the batch has {len(rows)} rows; at most serving.max_batch_rows={self.serving.max_batch_rows} "
                "are scored per request: split it",
            )
        valid: ValidRows = validate_rows(rows, self.parts.schema)
        logged_at = datetime.now(UTC)
        n = len(valid)
        entities = self.entities.entities(rows, valid.ids, request_id)
        challenger = served.challenger
        canary = challenger is not None and served.mode == "canary"
        assigned = (
            [to_challenger(self.name, challenger.number, e, served.share) for e in entities]
            if canary and challenger is not None
            else [False] * n
        )
        scored = self._run_models(served, valid, assigned, request_id)
        for part in scored:
            self._record(part, request_id, logged_at, entities, valid)
        # each row's answer comes from the version that served it (the challenger's rows in a canary)
        answer: list[tuple[_Scored, int]] = [(scored[0], i) for i in range(n)]
        for part in scored[1:]:
            for k, i in enumerate(part.rows):
                if part.served[k]:
                    answer[i] = (part, k)
        return {
            "request_id": request_id,
            "model_name": self.name,
            "predictions": [self._row(i, part, k) for i, (part, k) in enumerate(answer)],
        }

    def _run_models(
        self, served: ServedModels, valid: ValidRows, assigned: list[bool], request_id: str
    ) -> list[_Scored]:
        """The champion's scores on every row, then the challenger's on its rows (canary: those
        assigned to it, shadow: all); a failing challenger is dropped and the champion serves all."""
        champion, challenger, n = served.champion, served.challenger, len(valid)
        assert champion is not None  # checked by predict
        values, ms = self._score(champion, valid, None)  # a failure here is a 500 (see the route)
        canary = served.mode == "canary"
        picked = [i for i in range(n) if assigned[i]] if canary else list(range(n))
        if challenger is None or not picked:
            return [_Scored(champion, ROLE_CHAMPION, list(range(n)), [True] * n, values, ms)]
        try:
            ch_values, ch_ms = self._score(challenger, valid, None if len(picked) == n else picked)
        except Exception as err:  # the challenger never costs a request: the champion answers
            log.exception("challenger v%d failed on request %s; the champion answers", challenger.number, request_id)
            self.parts.metrics.observe_error("/predict", f"challenger_error:{type(err).__name__}")
            return [_Scored(champion, ROLE_CHAMPION, list(range(n)), [True] * n, values, ms)]
        return [
            _Scored(champion, ROLE_CHAMPION, list(range(n)), [not a for a in assigned], values, ms),
            _Scored(challenger, ROLE_CHALLENGER, picked, [canary] * len(picked), ch_values, ch_ms),
        ]

    def _record(
        self, part: _Scored, request_id: str, logged_at: datetime, entities: list[str], valid: ValidRows
    ) -> None:
        """One version's rows of a request into the prediction log and the metrics."""
        self.parts.prediction_log.append(
            LogEntry(
                request_id=request_id,
                logged_at=logged_at,
                entities=entities,
                inputs=valid.values,
                rows=part.rows,
                model_name=self.name,
                model_version=part.loaded.number,
                artifact_sha256=part.loaded.version.artifact_sha256,
                role=part.role,
                served=part.served,
                predictions=part.values,
                latency_ms=part.ms,
            )
        )
        shown = part.values["prediction" if "prediction" in part.values else "score"]
        self.parts.metrics.observe_predictions(part.loaded.number, part.role, part.served, shown)

    def _row(self, i: int, part: _Scored, k: int) -> dict[str, Any]:
        """Row ``i`` of the request as answered by ``part`` (its ``k``-th row)."""
        columns = part.values
        out: dict[str, Any] = {"row": i, "model_version": part.loaded.number, "role": part.role}
        if self.dataset.task == "regression":
            out["prediction"] = columns["prediction"][k]
            return out
        if self.dataset.task == "multiclass":
            out["probabilities"] = {c: columns[f"proba_{c}"][k] for c in self.dataset.classes}
        out["score"] = columns["score"][k]
        out["label"] = columns["predicted_label"][k]
        return out

    def metadata(self) -> dict[str, Any]:
        served = self.parts.follower.current

        def describe(loaded: LoadedModel | None) -> dict[str, Any] | None:
            if loaded is None:
                return None
            mv = loaded.version
            return {
                "version": mv.version,
                "semver": mv.semver,
                "artifact_sha256": mv.artifact_sha256,
                "snapshot_id": mv.snapshot_id,
                "created_at": mv.created_at,
                "threshold": loaded.threshold if self.dataset.task == "binary" else None,
                "scoring": "numpy" if loaded.fast is not None else "scikit-learn",
            }

        challenger = describe(served.challenger)
        if challenger is not None:
            challenger.update(mode=served.mode, share=served.share if served.mode == "canary" else None)
        return {
            "model_name": self.name,
            "task": self.dataset.task,
            "classes": list(self.dataset.classes),
            "positive_class": self.dataset.positive_class,
            "champion": describe(served.champion),
            "challenger": challenger,
            "schema": self.parts.schema.to_dict(),
            "id_columns": list(self.dataset.id_columns),
            "entity": list(self.entities.columns) or "request id",
            "unknown_fields": "ignored",
            "limits": {"max_body_bytes": self.serving.max_body_bytes, "max_batch_rows": self.serving.max_batch_rows},
            "example_request": self.example,
        }


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(json.dumps(body).encode(), status_code=status, media_type=JSON, headers=dict(headers or {}))


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused (413) as soon as it exceeds ``limit`` bytes, whether or not a length was sent."""
    declared = request.headers.get("content-length")
    too_big = _Refused(
        413, "body_too_large", f"the body exceeds serving.max_body_bytes={limit} bytes; send fewer rows per request"
    )
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_big
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


def build_scoring_app(parts: ScoringParts) -> FastAPI:
    """The FastAPI app of ``ct serve`` (no docs or OpenAPI routes). Its lifespan starts the model
    follower and the log writer and, on a clean stop, stops the follower and flushes the log."""
    if parts.token is None and not parts.config.serving.open_access:
        raise ConfigError(
            f"no bearer token and serving.open_access is false: set {parts.config.serving.token_env} "
            "or serving.open_access: true"
        )
    service = ScoringService(parts)
    metrics = parts.metrics
    token = parts.token.encode() if parts.token else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # one thread for OpenMP/BLAS: small requests, two cores, many at once (restored on the way out,
        # for a process that goes on, e.g. a test)
        limits = threadpool_limits(limits=1)
        parts.follower.on_swap = metrics.set_models
        parts.follower.start()
        metrics.set_models(parts.follower.current)
        parts.prediction_log.start()
        # what was loaded so far (libraries, the models) lives as long as the process: keep it out of
        # the collector's scans, so a full collection during a request is short
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            try:
                parts.follower.stop()
                parts.prediction_log.close()  # raises, after retries, when rows could not be written
            finally:
                gc.unfreeze()
                limits.restore_original_limits()

    app = FastAPI(
        title=f"ct serve: {parts.config.model.name}", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    app.state.service = service

    def authorized(request: Request) -> None:
        if token is None:
            return
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token):
            raise _Refused(
                401,
                "unauthorized",
                "missing or wrong bearer token: send Authorization: Bearer <token> "
                f"(the value of {parts.config.serving.token_env} where the service runs)",
                {"WWW-Authenticate": "Bearer"},
            )

    def route(
        endpoint: str, handler: Callable[[Request, str], Awaitable[Response]], *, protected: bool
    ) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            started = time.perf_counter()
            given = request.headers.get("x-request-id", "")
            request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
            try:
                if protected:
                    authorized(request)
                response = await handler(request, request_id)
            except _Refused as refused:
                metrics.observe_error(endpoint, refused.kind)
                response = _json(refused.status, {"detail": refused.detail, "request_id": request_id}, refused.headers)
            except InvalidRequest as invalid:
                metrics.observe_error(endpoint, "invalid")
                response = _json(422, {"detail": [e.to_dict() for e in invalid.errors], "request_id": request_id})
            except Exception as err:
                log.exception("%s failed for request %s", endpoint, request_id)
                metrics.observe_error(endpoint, f"server_error:{type(err).__name__}")
                response = _json(
                    500,
                    {
                        "detail": f"the model could not score this request ({type(err).__name__}); the error is "
                        f"logged under request id {request_id}",
                        "request_id": request_id,
                    },
                )
            response.headers["x-request-id"] = request_id
            metrics.observe_request(endpoint, response.status_code, time.perf_counter() - started)
            return response

        return run

    async def predict(request: Request, request_id: str) -> Response:
        raw = await _read_body(request, parts.config.serving.max_body_bytes)
        try:
            body = json.loads(raw)
        except ValueError as err:
            raise InvalidRequest(
                [FieldError(None, None, f"the body is not valid JSON: {err}", "json_invalid")]
            ) from None
        return _json(200, service.predict(body, request_id))

    async def health(request: Request, request_id: str) -> Response:
        return _json(200, {"status": "ok"})

    async def ready(request: Request, request_id: str) -> Response:
        served = parts.follower.current
        if served.champion is None:
            return _json(503, {"ready": False, "reason": served.problem or "no champion loaded"})
        body = {
            "ready": True,
            "model_name": service.name,
            "champion_version": served.champion.number,
            "artifact_sha256": served.champion.version.artifact_sha256,
            "challenger_version": served.challenger.number if served.challenger else None,
        }
        if served.problem:
            body["warning"] = served.problem
        return _json(200, body)

    async def metadata(request: Request, request_id: str) -> Response:
        return _json(200, service.metadata())

    async def metrics_text(request: Request, request_id: str) -> Response:
        data, content_type = metrics.render(request.headers.get("accept"))
        return Response(data, media_type=content_type)

    app.add_api_route("/predict", route("/predict", predict, protected=True), methods=["POST"])
    app.add_api_route("/health", route("/health", health, protected=False), methods=["GET"])
    app.add_api_route("/ready", route("/ready", ready, protected=False), methods=["GET"])
    app.add_api_route("/metadata", route("/metadata", metadata, protected=True), methods=["GET"])
    app.add_api_route("/metrics", route("/metrics", metrics_text, protected=True), methods=["GET"])
    return app
