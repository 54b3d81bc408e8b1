"""``ct serve``: run the HTTP scoring service (``pipeline/serving/``) on uvicorn for the configured model.

The workspace of ``CT_HOME`` (config, metadata store, object store) is wired into the service
here: the served models follow the registry's aliases, the prediction log goes to the object
store. ``--host``/``--port`` override ``serving.host``/``serving.port``; ``--workers N`` runs N
processes (each follows the registry and writes its own log files). The bearer token comes from
the environment variable named by ``serving.token_env``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
from typing import Any

from pipeline.core.settings import Settings, load_settings

log = logging.getLogger(__name__)


def scoring_app_for(ws: Any, token: str | None = None, *, environ: dict[str, str] | None = None) -> Any:
    """The FastAPI app of ``ct serve`` over workspace ``ws``; ``token`` None reads it from the environment."""
    from pipeline.serving.app import ScoringParts, build_scoring_app, resolve_token
    from pipeline.serving.prediction_log import PredictionLog
    from pipeline.serving.request_schema import build_request_schema, example_record
    from pipeline.serving.served_models import ModelFollower
    from pipeline.serving.service_metrics import ServiceMetrics

    config = ws.config
    dataset = config.dataset
    if token is None:
        token = resolve_token(config.serving, os.environ if environ is None else environ)
    schema = build_request_schema(dataset)
    parts = ScoringParts(
        config=config,
        schema=schema,
        follower=ModelFollower(ws.meta, ws.artifacts, config, schema, example_record(schema, dataset)),
        prediction_log=PredictionLog(
            ws.store, config.model.name, dataset, schema.id_columns, schema.feature_columns, config.serving.log
        ),
        metrics=ServiceMetrics(config.model.name, regression=dataset.task == "regression"),
        token=token,
    )
    return build_scoring_app(parts)


def app_from_environment() -> Any:
    """The app for one uvicorn worker process (``--workers``): settings and token from the environment."""
    from pipeline.app.workspace import open_workspace

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("pipeline.serving").setLevel(logging.INFO)
    return scoring_app_for(open_workspace(load_settings()))


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from pipeline.app.workspace import open_workspace
    from pipeline.serving.app import resolve_token

    os.environ.setdefault("OMP_NUM_THREADS", "1")  # before the model's libraries start their pools
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    if not args.verbose:  # model swaps and log flush failures are worth seeing in the service's output
        logging.getLogger("pipeline.serving").setLevel(logging.INFO)
    ws = open_workspace(settings)
    serving = ws.config.serving
    host = args.host or serving.host
    port = args.port if args.port is not None else serving.port
    resolve_token(serving, os.environ)  # refuse to start without a token before binding the port
    common: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "debug" if args.verbose else "info",
        "access_log": args.access_log,
        "timeout_graceful_shutdown": 10,
    }
    print(
        f"serving {ws.config.model.name} (POST /predict, GET /health /ready /metadata /metrics); "
        f"prediction log under {ws.store.uri('prediction-logs')}",
        flush=True,
    )
    app = None if args.workers > 1 else scoring_app_for(ws)
    # uvicorn shuts down gracefully on SIGTERM/SIGINT (lifespan: the prediction log is flushed), then
    # re-raises the signal; ours turns it into a normal exit instead of a death by signal or a traceback
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _stopped)
    try:
        if app is None:
            uvicorn.run("pipeline.cli.serve:app_from_environment", factory=True, workers=args.workers, **common)
        else:
            uvicorn.run(app, **common)
    except _Stopped:
        pass
    return 0


class _Stopped(Exception):
    """The service was asked to stop (SIGTERM/SIGINT) and has shut down cleanly."""


def _stopped(signum: int, frame: Any) -> None:
    raise _Stopped(signal.Signals(signum).name)


def register(sub: Any) -> None:
    """Add ``ct serve`` to the ``ct`` parser."""
    p = sub.add_parser("serve", help="serve the champion (and a challenger) over HTTP: POST /predict, /metrics")
    p.add_argument("--host", help="address to listen on (default: serving.host, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to listen on (default: serving.port, 8080; 0: any free port)")
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (default 1)")
    p.add_argument("--access-log", action="store_true", help="log every request (off by default: it costs latency)")
    p.set_defaults(func=cmd_serve)
