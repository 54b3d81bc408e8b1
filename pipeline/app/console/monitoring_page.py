"""The console's monitoring page: how the champion does on live data, and what the loop does about it.

Each live window (``pipeline.monitoring.live_performance``) is the champion's metric on one labelled
batch with its 95% interval and the batch's drift share. The page shows them over time, for the
champion and the champions before it, against the level each champion was allowed to fall to (its
holdout value minus ``monitoring.max_drop``, or plus it for an error metric such as RMSE: see
``pipeline.core.metric_names``). It says what ``decide_retrain`` would decide now, computed with the
same policy ``check_for_retrain`` uses but without its side effects (it scores and alerts; this page
only reads), when the cooldown after the last champion move ends, the retrain requests ct_monitor
recorded, the drift of every scored batch, and the newest alerts with their webhook delivery.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipeline.app.console.html import render_page
from pipeline.app.console.links import Links
from pipeline.app.workspace import Workspace
from pipeline.core.metric_names import higher_is_better, tolerance
from pipeline.monitoring.batch_scoring import list_scored
from pipeline.monitoring.live_performance import policy_from, window_key
from pipeline.monitoring.retrain_policy import LiveWindow, RetrainPolicy, decide_retrain
from pipeline.registry.base import CHAMPION, ModelVersion
from pipeline.reporting import plots

log = logging.getLogger(__name__)

ALERTS_SHOWN = 100
"""The newest alerts listed; ``ct alerts --limit N`` lists more."""
EARLIER_CHAMPIONS = 5
"""Champions before the current one whose windows are shown too."""
REQUESTS_SHOWN = 20
"""Newest recorded retrain requests listed."""


@dataclass(frozen=True)
class Policy:
    """The retrain policy in force (``monitoring`` in the config)."""

    metric: str
    higher_is_better: bool
    max_drop: float
    min_samples: int
    consecutive_windows: int
    cooldown_hours: float
    drift_share: float


@dataclass(frozen=True)
class WindowRow:
    """One live window: a champion's metric on one labelled batch, and what it means for a retrain."""

    window_id: str
    source: str | None
    """The file (or late-label join) whose rows were scored."""
    model_version: int
    current: bool
    """Scored by the champion now in place (its windows are the ones that decide)."""
    rows: int
    value: float
    lower: float
    upper: float
    reliable: bool | None
    tolerated: float | None
    """The level this version may fall to (rise to, for an error metric) before a drop is declared."""
    drift_share: float | None
    drifted_features: tuple[str, ...]
    observed_at: str
    counted: bool
    """False: fewer rows than ``min_samples``, ignored by the decision."""
    beyond: bool
    """The whole interval lies beyond the tolerated level."""
    drifted: bool
    verdict: str


@dataclass(frozen=True)
class DriftRow:
    """The drift share of one batch, from a live window or from scoring an unlabelled batch."""

    label: str
    kind: str
    """``labelled`` (a live window) or ``scored`` (an unlabelled batch the champion scored)."""
    model_version: int
    at: str
    rows: int
    drift_share: float | None
    drifted_features: tuple[str, ...]


@dataclass(frozen=True)
class Decision:
    """What ``decide_retrain`` says now for the champion's windows, and the cooldown."""

    retrain: bool
    kind: str | None
    reason: str
    last_move_at: str | None
    cooldown_until: str | None
    in_cooldown: bool


@dataclass(frozen=True)
class RetrainRequest:
    """A retrain ct_monitor asked for (a ``performance_drop`` or ``drift`` work request)."""

    id: int
    kind: str
    reason: str
    created_at: str
    status: str
    champion_version: int | None
    resolved_version: int | None
    resolution: str | None


@dataclass(frozen=True)
class AlertRow:
    id: int
    created_at: str
    severity: str
    kind: str
    title: str
    delivery_status: str
    delivery_detail: str | None


@dataclass(frozen=True)
class MonitoringView:
    """The monitoring page of one model."""

    model: str
    champion: int | None
    baseline: float | None
    """The champion's holdout value of the metric."""
    tolerated: float | None
    policy: Policy
    windows: tuple[WindowRow, ...]
    """Oldest first: the current champion's and those of up to EARLIER_CHAMPIONS before it."""
    drift: tuple[DriftRow, ...]
    decision: Decision | None
    requests: tuple[RetrainRequest, ...]
    alerts: tuple[AlertRow, ...]
    more_alerts: bool
    """More than ALERTS_SHOWN alerts are stored."""


def _baseline(mv: ModelVersion, metric: str) -> float | None:
    """The version's holdout value of ``metric`` (None when it was not recorded, e.g. another primary metric)."""
    try:
        return float(mv.metrics[metric]["value"])
    except (KeyError, TypeError, ValueError):
        return None


def _tolerated(mv: ModelVersion, policy: RetrainPolicy) -> float | None:
    """``decide_retrain``'s floor (a ceiling for an error metric) for this version's holdout value."""
    baseline = _baseline(mv, policy.metric)
    if baseline is None:
        return None
    drop = tolerance(policy.metric, policy.max_drop, baseline)
    return baseline - drop if higher_is_better(policy.metric) else baseline + drop


def _windows(ws: Workspace, mv: ModelVersion) -> list[tuple[LiveWindow, str | None]]:
    """A version's live windows with the data behind each (what ``live_windows`` reads, source kept)."""
    prefix = window_key(mv.name, mv.version, "x").rsplit("/", 1)[0]
    found = []
    for key in ws.store.list(prefix):
        if not key.endswith(".json"):
            continue
        d = json.loads(ws.store.get(key))
        source = d.pop("source", None)
        d["drifted_features"] = tuple(d.get("drifted_features") or ())
        found.append((LiveWindow(**d), source))
    return sorted(found, key=lambda ws_: (ws_[0].observed_at, ws_[0].window_id))


def _window_row(
    w: LiveWindow, source: str | None, current: bool, tolerated: float | None, policy: RetrainPolicy
) -> WindowRow:
    higher = higher_is_better(policy.metric)
    counted = w.rows >= policy.min_samples
    beyond = tolerated is not None and ((w.upper < tolerated) if higher else (w.lower > tolerated))
    drifted = w.drift_share is not None and w.drift_share >= policy.drift_share
    if not counted:
        verdict = f"too few rows (< {policy.min_samples}): ignored"
    elif beyond:
        verdict = "below the tolerated level" if higher else "above the tolerated level"
    elif drifted:
        verdict = "drifted"
    else:
        verdict = "ok"
    return WindowRow(
        window_id=w.window_id,
        source=source,
        model_version=w.model_version,
        current=current,
        rows=w.rows,
        value=w.value,
        lower=w.lower,
        upper=w.upper,
        reliable=w.reliable,
        tolerated=tolerated,
        drift_share=w.drift_share,
        drifted_features=tuple(w.drifted_features),
        observed_at=w.observed_at,
        counted=counted,
        beyond=bool(beyond),
        drifted=drifted,
        verdict=verdict,
    )


def _decision(
    ws: Workspace, champion: ModelVersion, windows: list[LiveWindow], policy: RetrainPolicy, now: datetime
) -> Decision:
    """``check_for_retrain``'s verdict without scoring or alerting: ``decide_retrain`` on the stored windows."""
    history = ws.meta.promotion_history(champion.name, CHAMPION)
    last = datetime.fromisoformat(history[-1].created_at) if history else None
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=UTC)
    until = last + policy.cooldown if last is not None else None
    baseline = _baseline(champion, policy.metric)
    if baseline is None:
        retrain, kind, reason = False, None, f"the champion has no holdout {policy.metric} to compare live windows with"
    else:
        decided = decide_retrain(windows, baseline, policy, last, now)
        retrain, kind, reason = decided.retrain, decided.kind, decided.reason
    return Decision(
        retrain=retrain,
        kind=kind,
        reason=reason,
        last_move_at=last.isoformat() if last else None,
        cooldown_until=until.isoformat() if until else None,
        in_cooldown=until is not None and now < until,
    )


def _requests(ws: Workspace, model: str) -> tuple[RetrainRequest, ...]:
    out = []
    for r in ws.meta.list_work_requests(model, limit=5 * REQUESTS_SHOWN):
        if r.kind not in ("performance_drop", "drift"):
            continue
        champion = r.evidence.get("champion_version")
        out.append(
            RetrainRequest(
                id=r.id,
                kind=r.kind,
                reason=r.reason,
                created_at=r.created_at,
                status=r.status,
                champion_version=int(champion) if champion is not None else None,
                resolved_version=r.resolved_version,
                resolution=r.resolution,
            )
        )
    return tuple(out[:REQUESTS_SHOWN])


def _drift(ws: Workspace, model: str, windows: tuple[WindowRow, ...], shown: set[int]) -> tuple[DriftRow, ...]:
    """Drift share per batch: each live window's, and each unlabelled batch a shown champion scored."""
    rows = [
        DriftRow(
            label=w.source or w.window_id[:12],
            kind="labelled",
            model_version=w.model_version,
            at=w.observed_at,
            rows=w.rows,
            drift_share=w.drift_share,
            drifted_features=w.drifted_features,
        )
        for w in windows
    ]
    for s in list_scored(ws):
        if s.model_name == model and s.model_version in shown:
            rows.append(
                DriftRow(
                    label=s.source_file,
                    kind="scored",
                    model_version=s.model_version,
                    at=s.scored_at,
                    rows=s.rows,
                    drift_share=s.drift_share,
                    drifted_features=tuple(s.drifted_features),
                )
            )
    return tuple(sorted(rows, key=lambda r: r.at))


def build_monitoring(ws: Workspace, model: str, now: datetime | None = None) -> MonitoringView:
    """The monitoring page of ``model``: live windows, drift, the retrain decision, requests and alerts."""
    policy = policy_from(ws)
    view_policy = Policy(
        metric=policy.metric,
        higher_is_better=higher_is_better(policy.metric),
        max_drop=policy.max_drop,
        min_samples=policy.min_samples,
        consecutive_windows=policy.consecutive_windows,
        cooldown_hours=policy.cooldown.total_seconds() / 3600,
        drift_share=policy.drift_share,
    )
    champion = ws.meta.get_alias(model, CHAMPION)
    alerts = ws.meta.list_alerts(limit=ALERTS_SHOWN + 1)
    alert_rows = tuple(
        AlertRow(a.id, a.created_at, a.severity, a.kind, a.title, a.delivery_status, a.delivery_detail)
        for a in alerts[:ALERTS_SHOWN]
    )
    windows: list[WindowRow] = []
    shown: set[int] = set()
    decision = None
    if champion is not None:
        earlier: list[int] = []
        for move in reversed(ws.meta.promotion_history(model, CHAMPION)):  # newest move first
            for v in (move.to_version, move.from_version):
                if v is not None and v != champion.version and v not in earlier:
                    earlier.append(v)
        versions = {mv.version: mv for mv in ws.meta.list_model_versions(model)}
        current: list[LiveWindow] = []
        for version in [*reversed(earlier[:EARLIER_CHAMPIONS]), champion.version]:
            mv = champion if version == champion.version else versions.get(version)
            if mv is None:
                continue
            shown.add(mv.version)
            level = _tolerated(mv, policy)
            for w, source in _windows(ws, mv):
                windows.append(_window_row(w, source, mv.version == champion.version, level, policy))
                if mv.version == champion.version:
                    current.append(w)
        windows.sort(key=lambda w: (w.observed_at, w.window_id))
        decision = _decision(ws, champion, current, policy, now or datetime.now(UTC))
    window_rows = tuple(windows)
    return MonitoringView(
        model=model,
        champion=champion.version if champion else None,
        baseline=_baseline(champion, policy.metric) if champion else None,
        tolerated=_tolerated(champion, policy) if champion else None,
        policy=view_policy,
        windows=window_rows,
        drift=_drift(ws, model, window_rows, shown),
        decision=decision,
        requests=_requests(ws, model),
        alerts=alert_rows,
        more_alerts=len(alerts) > ALERTS_SHOWN,
    )


def _charts(view: MonitoringView) -> dict[str, Any]:
    """The page's inline SVG charts (drawn here, from the read model, so the JSON stays data)."""
    colours: dict[int, str] = {}
    for w in view.windows:
        colours.setdefault(w.model_version, plots.PALETTE[len(colours) % len(plots.PALETTE)])
    for d in view.drift:
        colours.setdefault(d.model_version, plots.PALETTE[len(colours) % len(plots.PALETTE)])
    legend = [(f"v{version}", colour) for version, colour in colours.items()]
    window_ticks = _ticks([w.source or w.window_id for w in view.windows])
    drifts = [d for d in view.drift if d.drift_share is not None]
    drift_ticks = _ticks([d.label for d in drifts])
    windows = (
        plots.live_windows_svg(
            f"{view.policy.metric} per live window, with its 95% interval",
            view.policy.metric,
            [
                plots.WindowPoint(
                    label=f"v{w.model_version} {w.source or w.window_id[:12]}",
                    value=w.value,
                    lower=w.lower,
                    upper=w.upper,
                    level=w.tolerated,
                    color=colours[w.model_version],
                    muted=not w.counted,
                    tick=tick,
                )
                for w, tick in zip(view.windows, window_ticks, strict=True)
            ],
            view.policy.higher_is_better,
            legend=legend,
        )
        if view.windows
        else None
    )
    drift = (
        plots.share_bars_svg(
            "Share of features drifted, per batch",
            [
                plots.Bar(
                    f"v{d.model_version} {d.label}",
                    d.drift_share or 0.0,
                    colours.get(d.model_version, plots.PALETTE[0]),
                    tick=tick,
                )
                for d, tick in zip(drifts, drift_ticks, strict=True)
            ],
            view.policy.drift_share,
            legend=legend,
        )
        if drifts
        else None
    )
    return {"windows_chart": windows, "drift_chart": drift}


def _ticks(names: list[str]) -> list[str]:
    """Batch names short enough to sit under their bars: file names without their extension and
    without the prefix they all share (``customers-2a.csv`` … ``customers-4b.parquet``: ``2a`` … ``4b``)."""
    stems = [n.rsplit("/", 1)[-1].split(".", 1)[0] for n in names]
    common = 0
    if len(stems) > 1:
        while all(len(stem) > common and stem[common] == stems[0][common] for stem in stems):
            common += 1
    return [stem[common:] or stem for stem in stems]


def render_monitoring(view: MonitoringView, links: Links) -> str:
    """The monitoring page."""
    return render_page(
        "monitoring.html.j2",
        links=links,
        title=f"Monitoring · {view.model}",
        section="monitoring",
        view=view,
        **_charts(view),
    )
