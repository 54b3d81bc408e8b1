"""The service's Prometheus metrics, in a registry of its own (never the process-global one).

Requests and errors by endpoint and status, a request latency histogram, predictions by version,
role and whether they were returned, the distribution of scores (or predictions) per version, the
share of rows each version answers, and one info series per served version. ``/metrics`` renders
them as Prometheus text, or as OpenMetrics when the scraper asks for it in ``Accept``.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

from pipeline.serving.served_models import ServedModels

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
SCORE_BUCKETS = tuple(round(0.1 * k, 1) for k in range(1, 11))
PREDICTION_BUCKETS = (-1000.0, -100.0, -10.0, -1.0, 0.0, 1.0, 10.0, 100.0, 1000.0, 10_000.0, 100_000.0)


class ServiceMetrics:
    """Counters, histograms and gauges of one scoring service."""

    def __init__(self, model_name: str, regression: bool = False) -> None:
        self.model_name = model_name
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "ct_serve_requests", "HTTP requests by endpoint and status code", ["endpoint", "status"], registry=r
        )
        self.errors = Counter(
            "ct_serve_errors", "Refused or failed requests by endpoint and kind", ["endpoint", "kind"], registry=r
        )
        self.latency = Histogram(
            "ct_serve_request_seconds", "Request latency in seconds", ["endpoint"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.predictions = Counter(
            "ct_serve_predictions",
            "Rows scored by model version, role and whether the answer was returned",
            ["model", "version", "role", "served"],
            registry=r,
        )
        self.scores = Histogram(
            "ct_serve_prediction" if regression else "ct_serve_score",
            "Predicted values by model version"
            if regression
            else "Scores (probability of the predicted or positive class) by model version",
            ["model", "version"],
            buckets=PREDICTION_BUCKETS if regression else SCORE_BUCKETS,
            registry=r,
        )
        self.share = Gauge(
            "ct_serve_served_share",
            "Configured share of entities each version answers",
            ["model", "version"],
            registry=r,
        )
        self.info = Gauge(
            "ct_serve_model_info",
            "1 for each served version (role, semver, artifact checksum)",
            ["model", "version", "role", "semver", "artifact_sha256"],
            registry=r,
        )
        self.ready = Gauge("ct_serve_ready", "1 when a champion is loaded and verified", registry=r)

    def observe_request(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)

    def observe_error(self, endpoint: str, kind: str) -> None:
        self.errors.labels(endpoint, kind).inc()

    def observe_predictions(self, version: int, role: str, served: Sequence[bool], values: Sequence[float]) -> None:
        """Count rows scored by one version and add their scores (or predictions) to its histogram."""
        returned = sum(1 for s in served if s)
        v = str(version)
        if returned:
            self.predictions.labels(self.model_name, v, role, "true").inc(returned)
        if len(served) - returned:
            self.predictions.labels(self.model_name, v, role, "false").inc(len(served) - returned)
        histogram = self.scores.labels(self.model_name, v)
        for value in values:
            histogram.observe(float(value))

    def set_models(self, served: ServedModels) -> None:
        """Point the info, share and ready gauges at the models now served."""
        self.info.clear()
        self.share.clear()
        self.ready.set(1 if served.ready else 0)
        if served.champion is None:
            return
        canary = served.challenger is not None and served.mode == "canary"
        for loaded, role in ((served.champion, "champion"), (served.challenger, "challenger")):
            if loaded is None:
                continue
            mv = loaded.version
            self.info.labels(self.model_name, str(mv.version), role, mv.semver, mv.artifact_sha256).set(1)
        self.share.labels(self.model_name, str(served.champion.number)).set(1 - served.share if canary else 1.0)
        if served.challenger is not None:
            self.share.labels(self.model_name, str(served.challenger.number)).set(served.share if canary else 0.0)

    def render(self, accept: str | None) -> tuple[bytes, str]:
        """The exposition text and its content type (OpenMetrics when ``accept`` asks for it)."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type
