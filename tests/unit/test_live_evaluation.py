"""The live comparison of a challenger with the champion: paired bootstrap verdicts on constructed rows."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.core.config import parse_config
from pipeline.modeling.metric_suites import metric_suite
from pipeline.monitoring.live_evaluation import compare_live

N_RESAMPLES, SEED = 300, 7


def _suite(task: str):  # type: ignore[no-untyped-def]
    dataset: dict = {"name": "d", "label": "y", "id_columns": ["id"], "features": {"numeric": [{"name": "x"}]}}
    if task == "binary":
        dataset.update(classes=["no", "yes"], positive_class="yes")
    else:
        dataset.update(task="regression")
    config = parse_config(
        {"dataset": dataset, "model": {"name": "m", "specs": {"default": {"estimator": "random_forest"}}}}
    )
    return metric_suite(config.dataset)


def _binary(n: int, noise_challenger: float, noise_champion: float, seed: int = 0):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    signal = np.where(y == 1, 1.0, -1.0)

    def score(noise: float) -> np.ndarray:
        return 1 / (1 + np.exp(-(signal + rng.normal(scale=noise, size=n))))

    return y, score(noise_challenger), score(noise_champion)


def _judge(y, challenger, champion, task="binary", metric="roc_auc", margin=0.01, min_samples=100):  # type: ignore[no-untyped-def]
    return compare_live(
        y,
        challenger,
        champion,
        suite=_suite(task),
        metric=metric,
        margin=margin,
        min_samples=min_samples,
        n_resamples=N_RESAMPLES,
        seed=SEED,
    )


def test_fewer_paired_rows_than_min_samples_wait_and_say_how_many() -> None:
    y, challenger, champion = _binary(80, 0.5, 2.0)
    result = _judge(y, challenger, champion, min_samples=100)
    assert result.verdict == "waiting" and result.rows == 80 and result.min_samples == 100
    assert result.difference is None and "80 paired labelled rows of 100" in result.reason


def test_a_clearly_better_challenger_is_promoted_with_a_positive_interval() -> None:
    y, challenger, champion = _binary(600, 0.5, 2.5)
    result = _judge(y, challenger, champion)
    assert result.verdict == "promote"
    assert result.difference is not None and result.difference > 0 and result.lower > 0  # type: ignore[operator]
    assert result.challenger > result.champion  # type: ignore[operator]
    assert result.n_resamples == N_RESAMPLES


def test_a_clearly_worse_challenger_is_retired() -> None:
    y, challenger, champion = _binary(600, 2.5, 0.5)
    result = _judge(y, challenger, champion)
    assert result.verdict == "retire"
    assert result.upper is not None and result.upper < -result.margin


def test_an_interval_straddling_minus_margin_is_undecided() -> None:
    # equally good models on few rows: the interval is wide around 0, so it reaches below -margin
    y, challenger, champion = _binary(120, 1.5, 1.5, seed=3)
    result = _judge(y, challenger, champion, margin=0.0)
    assert result.verdict == "undecided"
    assert result.lower < 0 < result.upper  # type: ignore[operator]


def test_one_class_only_waits_instead_of_judging_an_undefined_metric() -> None:
    y = np.ones(200, dtype=int)
    result = _judge(y, np.full(200, 0.9), np.full(200, 0.8))
    assert result.verdict == "waiting" and "one class" in result.reason


@pytest.mark.parametrize(
    ("challenger_noise", "champion_noise", "verdict"), [(1.0, 6.0, "promote"), (6.0, 1.0, "retire")]
)
def test_lower_is_better_metrics_are_oriented_so_positive_means_better(
    challenger_noise: float, champion_noise: float, verdict: str
) -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(100.0, 20.0, size=500)
    challenger = y + rng.normal(scale=challenger_noise, size=500)
    champion = y + rng.normal(scale=champion_noise, size=500)
    result = _judge(y, challenger, champion, task="regression", metric="rmse", margin=0.02)
    assert result.verdict == verdict and not result.higher_is_better
    assert (result.difference > 0) == (verdict == "promote")  # type: ignore[operator]
    assert result.margin == pytest.approx(0.02 * result.champion)  # a share of the champion's RMSE
