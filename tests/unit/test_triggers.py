"""Retrain decisions: sustained, significant evidence only, and never inside the cooldown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from pipeline.modeling.metrics import bootstrap_metrics
from pipeline.monitoring.retrain_policy import LiveWindow, RetrainPolicy, decide_retrain

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
POLICY = RetrainPolicy(max_drop=0.03, min_samples=500, consecutive_windows=2, cooldown=timedelta(hours=24))


def window(i: int, value: float, half_width: float = 0.02, rows: int = 1000, **kw) -> LiveWindow:
    return LiveWindow(f"w{i}", 1, rows, value, value - half_width, value + half_width, **kw)


def test_sustained_significant_drop_triggers_with_its_evidence() -> None:
    windows = [window(0, 0.82), window(1, 0.70), window(2, 0.71)]
    decision = decide_retrain(windows, baseline=0.82, policy=POLICY, last_retrain_at=None, now=NOW)
    assert decision.retrain and decision.kind == "performance_drop"
    assert "0.700" in decision.reason and "0.710" in decision.reason
    assert [w["window_id"] for w in decision.evidence["windows"]] == ["w1", "w2"]


def test_one_bad_window_is_not_enough() -> None:
    windows = [window(0, 0.82), window(1, 0.82), window(2, 0.70)]
    decision = decide_retrain(windows, 0.82, POLICY, None, NOW)
    assert not decision.retrain and "1 of 2" in decision.reason


def test_a_dip_inside_the_noise_does_not_trigger() -> None:
    # Point values below the floor, but the intervals reach above it: not significant.
    windows = [window(1, 0.78, half_width=0.05), window(2, 0.775, half_width=0.05)]
    assert not decide_retrain(windows, 0.82, POLICY, None, NOW).retrain


def test_small_windows_neither_count_nor_break_the_streak() -> None:
    windows = [window(1, 0.70), window(2, 0.50, rows=20), window(3, 0.70)]
    decision = decide_retrain(windows, 0.82, POLICY, None, NOW)
    assert decision.retrain and decision.evidence["ignored_small_windows"] == 1
    only_small = [window(1, 0.5, rows=100), window(2, 0.5, rows=100)]
    assert not decide_retrain(only_small, 0.82, POLICY, None, NOW).retrain


def test_cooldown_holds_back_a_real_drop_and_says_so() -> None:
    windows = [window(1, 0.70), window(2, 0.70)]
    recent = decide_retrain(windows, 0.82, POLICY, NOW - timedelta(hours=3), NOW)
    assert not recent.retrain and recent.kind == "performance_drop" and "cooldown" in recent.reason
    assert decide_retrain(windows, 0.82, POLICY, NOW - timedelta(hours=25), NOW).retrain


def test_sustained_drift_triggers_and_names_the_features() -> None:
    windows = [
        window(1, 0.82, drift_share=0.6, drifted_features=("age", "plan")),
        window(2, 0.82, drift_share=0.7, drifted_features=("age",)),
    ]
    decision = decide_retrain(windows, 0.82, POLICY, None, NOW)
    assert decision.retrain and decision.kind == "drift"
    assert decision.evidence["drifted_features"] == ["age", "plan"]


@pytest.mark.parametrize("seed", range(10))
def test_noisy_windows_from_an_unchanged_model_never_trigger(seed: int) -> None:
    """Real bootstrap intervals on simulated live batches of a model that did not get worse."""
    rng = np.random.default_rng(seed)
    windows = []
    for i in range(6):
        y = rng.integers(0, 2, 800)
        proba = np.clip(0.5 + (y - 0.5) * 0.5 + rng.normal(0, 0.35, 800), 0, 1)
        est = bootstrap_metrics(y, proba, n_resamples=300, seed=i, metrics=["roc_auc"])["roc_auc"]
        windows.append(LiveWindow(f"w{i}", 1, 800, est.value, est.lower, est.upper))
    baseline = float(np.median([w.value for w in windows]))
    assert not decide_retrain(windows, baseline, POLICY, None, NOW).retrain
