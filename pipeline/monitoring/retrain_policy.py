"""Retrain decisions from live evidence: a performance drop or drift, with hysteresis.

A single noisy window must never start a retrain. A drop is declared only when the live metric is
*significantly* worse than what the champion promised (the whole bootstrap interval of a window lies
beyond the tolerated level: below it for a higher-is-better metric, above it for an error such as
RMSE, where a rise is the drop), on enough rows, for several consecutive windows, and not within
the cooldown after the last retrain. Drift follows the same rules with the dataset drift verdict.
``max_drop`` is an amount of the metric, or a share of the champion's value for metrics in the
label's units (see ``pipeline.core.metric_names.tolerance``).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from pipeline.core.metric_names import higher_is_better, tolerance

log = logging.getLogger(__name__)

Kind = Literal["performance_drop", "drift"]


@dataclass(frozen=True)
class RetrainPolicy:
    """Hysteresis settings shared by the performance and drift triggers."""

    metric: str = "roc_auc"
    max_drop: float = 0.03
    min_samples: int = 500
    consecutive_windows: int = 2
    cooldown: timedelta = timedelta(hours=24)
    drift_share: float = 0.5


@dataclass(frozen=True)
class LiveWindow:
    """The champion's score on one batch of labelled live data, with its 95% interval."""

    window_id: str
    model_version: int
    rows: int
    value: float
    lower: float
    upper: float
    drift_share: float | None = None
    drifted_features: tuple[str, ...] = ()
    observed_at: str = ""
    reliable: bool | None = None
    """False: too few rows (or of a class) for the interval to mean much; None: not recorded (older windows)."""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["drifted_features"] = list(self.drifted_features)
        return d


@dataclass(frozen=True)
class RetrainDecision:
    retrain: bool
    kind: Kind | None
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _streak(flags: list[bool]) -> int:
    """Length of the run of True at the end of ``flags``."""
    n = 0
    for flag in reversed(flags):
        if not flag:
            break
        n += 1
    return n


def decide_retrain(
    windows: list[LiveWindow], baseline: float, policy: RetrainPolicy, last_retrain_at: datetime | None, now: datetime
) -> RetrainDecision:
    """Whether the live evidence (oldest window first) warrants a retrain now, and why.

    ``baseline`` is the champion's holdout value of ``policy.metric``. Windows with fewer than
    ``min_samples`` rows are ignored: they neither count towards nor break a streak.
    """
    eligible = [w for w in windows if w.rows >= policy.min_samples]
    higher = higher_is_better(policy.metric)
    drop = tolerance(policy.metric, policy.max_drop, baseline)
    floor = baseline - drop if higher else baseline + drop
    degraded = [(w.upper < floor) if higher else (w.lower > floor) for w in eligible]
    drifted = [w.drift_share is not None and w.drift_share >= policy.drift_share for w in eligible]
    need = policy.consecutive_windows
    evidence: dict[str, Any] = {
        "baseline": baseline,
        "tolerated_floor": floor,  # a ceiling when lower is better (see "higher_is_better")
        "metric": policy.metric,
        "higher_is_better": higher,
        "windows": [w.to_dict() for w in eligible[-max(need, 1) :]],
        "ignored_small_windows": len(windows) - len(eligible),
    }
    kind: Kind | None = None
    if _streak(degraded) >= need:
        kind = "performance_drop"
        recent = eligible[-need:]
        moved = (
            f"fell below {floor:.3f} (champion {baseline:.3f} − {drop:.4g})"
            if higher
            else (f"rose above {floor:.3f} (champion {baseline:.3f} + {drop:.4g})")
        )
        shown = ", ".join(f"{w.value:.3f} [{w.lower:.3f}, {w.upper:.3f}] n={w.rows}" for w in recent)
        reason = f"{policy.metric} {moved} in the last {need} windows: {shown}"
    elif _streak(drifted) >= need:
        kind = "drift"
        recent = eligible[-need:]
        features = sorted({f for w in recent for f in w.drifted_features})
        reason = (
            f"drift in {need} consecutive windows (share ≥ {policy.drift_share:.0%}); features: {', '.join(features)}"
        )
        evidence["drifted_features"] = features
    else:
        streak = max(_streak(degraded), _streak(drifted))
        return RetrainDecision(
            False,
            None,
            f"no sustained drop or drift ({streak} of {need} windows so far, "
            f"{len(eligible)} windows with ≥ {policy.min_samples} rows)",
            evidence,
        )
    if last_retrain_at is not None and now - last_retrain_at < policy.cooldown:
        wait = policy.cooldown - (now - last_retrain_at)
        return RetrainDecision(
            False,
            kind,
            f"{reason}; but within the cooldown ({wait} left since the last retrain at {last_retrain_at.isoformat()})",
            evidence,
        )
    return RetrainDecision(True, kind, reason, evidence)
