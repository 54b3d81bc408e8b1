"""Live performance of the champion: test-then-train on every new labelled batch.

Before a new batch is used for training, the current champion scores it. Each part of the
snapshot that this champion has not scored yet becomes one *live window*: the champion's metric
with a bootstrap interval, plus drift of the batch's features against the champion's training
data. Windows are stored once per (champion version, part), so a rerun scores nothing twice.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.core.progress import progress
from pipeline.core.thread_budget import limit_threads
from pipeline.data.snapshots import load_parts, read_manifest
from pipeline.modeling.metric_suites import metric_suite
from pipeline.modeling.prediction_columns import recorded_threshold
from pipeline.modeling.resampling import MetricEstimate
from pipeline.modeling.training import predict_scores, target_values
from pipeline.monitoring.alerts import AlertingContext, retrain_alert
from pipeline.monitoring.retrain_policy import LiveWindow, RetrainDecision, RetrainPolicy, decide_retrain
from pipeline.quality.drift import DriftReport, detect_drift, profile_frame
from pipeline.registry.base import CHAMPION, ModelVersion
from pipeline.registry.context import StoreContext

log = logging.getLogger(__name__)


def unreliable_note(reliable: bool | None, n: int | None) -> str:
    """`` (unreliable, n=…)`` after a live interval from too few rows; nothing otherwise."""
    return f" (unreliable, n={n})" if reliable is False else ""


def _window_prefix(champion: ModelVersion) -> str:
    return f"monitoring/{champion.name}/v{champion.version}"


def window_key(model_name: str, version: int, window_id: str) -> str:
    """Where one live window of ``model_name`` v``version`` is stored (read back by :func:`live_windows`)."""
    return f"monitoring/{model_name}/v{version}/{window_id}.json"


def joined_file_key(model_name: str, version: int, sha256: str) -> str:
    """Marks a labelled file written by the late-label join whose rows already gave v``version`` a window.

    Once that file is ingested, :func:`score_new_batches` does not score its parts again for the
    same champion (the rows would count twice).
    """
    return f"monitoring/{model_name}/joined-files/v{version}/{sha256}.json"


def live_window(
    window_id: str, version: int, rows: int, estimate: MetricEstimate, drift: DriftReport | None
) -> LiveWindow:
    """One live window observed now: a version's metric on ``rows`` live rows with its interval, and their
    drift (None: the rows' features are unknown, e.g. served predictions logged with a feature hash)."""
    return LiveWindow(
        window_id=window_id,
        model_version=version,
        rows=rows,
        value=estimate.value,
        lower=estimate.lower,
        upper=estimate.upper,
        drift_share=drift.drift_share if drift is not None else None,
        drifted_features=tuple(drift.drifted_features) if drift is not None else (),
        observed_at=datetime.now(UTC).isoformat(timespec="microseconds"),
        reliable=estimate.reliable,
    )


def store_window(ws: StoreContext, model_name: str, window: LiveWindow, source: str) -> None:
    """Store a live window where :func:`live_windows` reads it, with the name of the data behind it."""
    ws.store.put(
        window_key(model_name, window.model_version, window.window_id),
        json.dumps({**window.to_dict(), "source": source}).encode(),
    )


def policy_from(ws: StoreContext) -> RetrainPolicy:
    m = ws.config.monitoring
    return RetrainPolicy(
        metric=ws.config.promotion.primary_metric,
        max_drop=m.max_drop,
        min_samples=m.min_samples,
        consecutive_windows=m.consecutive_windows,
        cooldown=timedelta(hours=m.cooldown_hours),
        drift_share=m.drift_share,
    )


def score_new_batches(ws: StoreContext, snapshot_id: str) -> list[LiveWindow]:
    """Score every part of ``snapshot_id`` the champion has not seen with that champion.

    Parts the champion was trained on are skipped (they are not live data for it), and so are parts
    of files the late-label join wrote from rows this champion already has a window for. Returns
    the windows written by this call; with no champion yet there is nothing to monitor.
    """
    champion = ws.meta.get_alias(ws.config.model.name, CHAMPION)
    if champion is None:
        progress("monitor", "no champion yet; nothing to score")
        return []
    snapshot = read_manifest(ws.store, snapshot_id)
    trained_on = {p.id for p in read_manifest(ws.store, champion.snapshot_id).parts}
    prefix = _window_prefix(champion)
    todo = [
        p
        for p in snapshot.parts
        if p.id not in trained_on
        and not ws.store.exists(f"{prefix}/{p.id}.json")
        and not ws.store.exists(joined_file_key(champion.name, champion.version, p.source.sha256))
    ]
    if not todo:
        return []
    model = ws.artifacts.load(champion.artifact_uri, champion.artifact_sha256)
    dataset = ws.config.dataset
    reference = profile_frame(
        load_parts(ws.store, read_manifest(ws.store, champion.snapshot_id).parts),
        dataset.numeric_names,
        dataset.categorical_names,
    )
    metric = ws.config.promotion.primary_metric
    suite = metric_suite(dataset, recorded_threshold(champion.evaluation, ws.config.evaluation.decision_threshold))
    written = []
    for part in todo:
        frame = load_parts(ws.store, [part])
        with limit_threads(ws.thread_budget) as cap:  # predict and bootstrap share the task's cores
            est = suite.bootstrap(
                target_values(frame, dataset),
                predict_scores(model, frame, dataset, cap),
                metrics=[metric],
                n_resamples=ws.config.monitoring.bootstrap_resamples,
                seed=ws.config.evaluation.seed,
                confidence=0.95,
            )[metric]
        drift = detect_drift(reference, frame)
        window = live_window(part.id, champion.version, len(frame), est, drift)
        store_window(ws, champion.name, window, part.source.name)  # the key checked above
        written.append(window)
        progress(
            "monitor",
            f"champion v{champion.version} on {part.source.name} ({len(frame)} rows): {metric} "
            f"{est.value:.3f} [{est.lower:.3f}, {est.upper:.3f}]{unreliable_note(est.reliable, est.n)} "
            f"vs {champion.metrics[metric]['value']:.3f} "
            f"at training; drift share {drift.drift_share:.0%}",
        )
    return written


def live_windows(ws: StoreContext, champion: ModelVersion) -> list[LiveWindow]:
    """The champion's live windows, oldest first."""
    windows = []
    for key in ws.store.list(_window_prefix(champion)):
        d = json.loads(ws.store.get(key))
        d.pop("source", None)
        d["drifted_features"] = tuple(d.get("drifted_features") or ())
        windows.append(LiveWindow(**d))
    return sorted(windows, key=lambda w: (w.observed_at, w.window_id))


def check_for_retrain(ws: AlertingContext, now: datetime | None = None) -> dict[str, Any]:
    """Decide from the champion's live windows whether to request a retrain, and why."""
    champion = ws.meta.get_alias(ws.config.model.name, CHAMPION)
    if champion is None:
        return RetrainDecision(False, None, "no champion yet").to_dict()
    latest = ws.meta.latest_snapshot(ws.config.dataset.name)
    if latest is not None:
        # The champion may have moved since this run's scoring step (a ct_train run finished meanwhile):
        # the one that decides has first seen every part it was not trained on (a no-op otherwise).
        score_new_batches(ws, latest.id)
    policy = policy_from(ws)
    history = ws.meta.promotion_history(champion.name, CHAMPION)
    last = datetime.fromisoformat(history[-1].created_at) if history else None
    decision = decide_retrain(
        live_windows(ws, champion), champion.metrics[policy.metric]["value"], policy, last, now or datetime.now(UTC)
    )
    progress("monitor", f"{'RETRAIN requested' if decision.retrain else 'no retrain'}: {decision.reason}")
    result = {**decision.to_dict(), "champion_version": champion.version}
    alert = retrain_alert(result, champion.name, champion.version)  # a drop or drift, requested or held
    if alert is not None:
        ws.notifier.notify(alert)
    return result
