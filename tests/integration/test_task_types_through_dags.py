"""Regression and multiclass through the real DAGs (``airflow dags test``, the path ``ct run`` takes).

For each task type the same story as the binary loop:

1. the first batch lands: ct_ingest, ct_monitor and ct_train run, and the first model is promoted;
2. a person trains a deliberately weak spec by hand: it is registered but held back by
   non-inferiority, judged in the metric's own direction (a higher RMSE is worse);
3. two batches arrive whose labels follow another concept: ct_monitor scores them with the
   champion before they are trained on, both live windows are significantly worse, and the retrain
   ct_train then runs records ``performance_drop`` with the windows as evidence.

The scheduler's part (an asset event starting ct_train by itself) is the same for every task and
is covered in a live Airflow by tests/e2e/test_triggers_in_airflow.py. The two stories run side by
side, each in a project and an Airflow home of its own: a run's time is mostly Airflow starting
task processes, so together they take little more than the slower one alone.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline.app.local_runner import run_landing
from pipeline.app.workspace import open_workspace
from pipeline.core.settings import Settings
from pipeline.core.storage import atomic_write_bytes
from pipeline.modeling.promotion import stored_checks

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("fixed_code_version")]

ROWS = 1200
CLASSES = ("low", "medium", "high")


def _config(task: str) -> dict[str, Any]:
    dataset: dict[str, Any] = {
        "name": f"{task}-demo",
        "label": "target",
        "id_columns": ["row_id"],
        "features": {
            "numeric": [{"name": "x1"}, {"name": "x2"}, {"name": "x3"}],
            "categorical": [{"name": "region", "levels": ["north", "south", "east"]}],
        },
        "slice_columns": ["region"],
    }
    if task == "multiclass":
        dataset.update(task="multiclass", classes=list(CLASSES))
        weak = {"estimator": "gradient_boosting", "params": {"max_iter": 1, "max_depth": 1}}
    else:
        dataset["task"] = "regression"
        weak = {"estimator": "ridge", "params": {"alpha": 100000.0}}
    config: dict[str, Any] = {
        "dataset": dataset,
        "model": {
            "name": f"{task}-model",
            "specs": {"default": {"estimator": "gradient_boosting", "params": {"max_iter": 60}}, "weak": weak},
        },
        "evaluation": {"bootstrap_resamples": 300, "folds": 3},
        "ingest": {"stable_seconds": 0},
        "monitoring": {"min_samples": 300, "consecutive_windows": 2, "cooldown_hours": 0},
        "promotion": {"min_holdout_rows": 100, "min_class_rows": 10},
    }
    if task == "regression":
        config["model"]["output"] = {"clip_min": 0.0}
    return config


def _batch(task: str, seed: int, first_id: int, reversed_concept: bool = False) -> pd.DataFrame:
    """Rows whose label follows ``signal``; with ``reversed_concept`` it follows ``-signal``."""
    rng = np.random.default_rng(seed)
    x1, x2, x3 = rng.normal(size=ROWS), rng.normal(size=ROWS), rng.uniform(0, 1, size=ROWS)
    region = rng.choice(["north", "south", "east"], size=ROWS)
    signal = 1.5 * x1 - x2 + 0.8 * (region == "south") + x3
    if reversed_concept:
        signal = -signal
    frame = pd.DataFrame({"row_id": np.arange(first_id, first_id + ROWS), "x1": x1, "x2": x2, "x3": x3})
    frame["region"] = region
    if task == "regression":
        frame["target"] = np.round(np.maximum(0.0, 50.0 + 12.0 * signal + rng.normal(scale=3.0, size=ROWS)), 2)
    else:
        noisy = signal + rng.normal(scale=0.4, size=ROWS)
        frame["target"] = np.asarray(CLASSES)[np.digitize(noisy, np.quantile(noisy, [1 / 3, 2 / 3]))]
    return frame


def _land(settings: Settings, folder: str, frames: dict[str, pd.DataFrame]) -> None:
    target = settings.landing / folder
    target.mkdir(parents=True)
    for name, frame in frames.items():
        frame.to_csv(target / name, index=False)
    (target / "_SUCCESS").touch()


def test_regression_and_multiclass_through_the_dags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_HOME", raising=False)  # each project migrates and uses its own
    with ThreadPoolExecutor(max_workers=2) as pool:
        stories = {task: pool.submit(_story, task, tmp_path / task) for task in ("regression", "multiclass")}
    for task, story in stories.items():
        try:
            story.result()
        except BaseException as err:
            raise AssertionError(f"the {task} story failed: {err}") from err


def _story(task: str, home: Path) -> None:
    home.mkdir(parents=True)
    settings = Settings(
        home=home,
        config_path=home / "pipeline.yaml",
        database_url=f"sqlite:///{home / 'ct.db'}",
        data_url=home.as_uri(),
    )
    atomic_write_bytes(settings.config_path, yaml.safe_dump(_config(task), sort_keys=False).encode())
    model = f"{task}-model"
    primary = "rmse" if task == "regression" else "roc_auc"
    lines: list[str] = []

    # 1. the first model is promoted
    _land(settings, "b1", {"first.csv": _batch(task, seed=1, first_id=0)})
    first = run_landing(settings, echo=lines.append)
    assert first.status == "trained", (first.errors, lines[-20:])
    ws = open_workspace(settings)
    champion = ws.meta.get_alias(model)
    assert champion is not None and champion.version == 1
    assert champion.evaluation["task"] == task and champion.lineage["task"] == task
    assert set(champion.metrics) >= {primary}
    decision = ws.meta.promotion_history(model)[0]
    assert decision.to_version == 1
    if task == "regression":
        assert champion.params["output"] == {"clip_min": 0.0, "clip_max": None, "round_decimals": None}
        assert set(champion.evaluation["curves"]) >= {"scatter", "residuals", "by_decile"}
        assert champion.evaluation["holdout_classes"] == {}
        assert champion.metrics["r2"]["value"] > 0.8
    else:
        assert set(champion.evaluation["holdout_classes"]) == set(CLASSES)
        assert "recall[medium]" in champion.metrics
        matrix = champion.evaluation["curves"]["confusion"]["matrix"]
        assert sum(map(sum, matrix)) == champion.evaluation["holdout_rows"]
        assert champion.metrics["roc_auc"]["value"] > 0.85

    # 2. a weak spec trained by hand is held back, in the metric's direction
    weak = run_landing(settings, spec="weak", force=True, trigger="manual", echo=lines.append)
    assert weak.status == "trained", (weak.errors, lines[-20:])
    ws = open_workspace(settings)
    held = next(v for v in ws.meta.list_model_versions(model) if v.spec_name == "weak")
    assert ws.meta.get_alias(model).version == 1
    verdict = held.decision
    assert verdict is not None and not verdict["promote"], verdict
    assert "may be worse than the champion" in verdict["reason"]
    comparison = held.evaluation["champion"]["comparison"]
    assert comparison["metric"] == primary and comparison["upper"] < 0  # worse, with confidence
    if task == "regression":
        assert comparison["challenger"] > comparison["champion"]  # a higher RMSE is the worse one
        assert "lower is better" in verdict["reason"]
    else:
        assert comparison["challenger"] < comparison["champion"]
    checks = {c.kind: c for c in stored_checks(verdict)}
    assert checks["non_inferiority"].passed is False

    # 3. a changed concept on live labels starts a retrain that records the drop
    _land(
        settings,
        "b2",
        {
            "a.csv": _batch(task, seed=2, first_id=10_000, reversed_concept=True),
            "b.csv": _batch(task, seed=3, first_id=20_000, reversed_concept=True),
        },
    )
    drop = run_landing(settings, echo=lines.append)
    assert drop.status == "trained", (drop.errors, lines[-20:])
    ws = open_workspace(settings)
    latest = max(ws.meta.list_model_versions(model), key=lambda v: v.version)
    assert latest.trigger["kind"] == "performance_drop", latest.trigger
    windows = latest.trigger["evidence"]["windows"]
    assert len(windows) == 2
    ceiling = latest.trigger["evidence"]["tolerated_floor"]
    if task == "regression":
        assert "rose above" in latest.trigger["reason"]
        assert all(w["lower"] > ceiling for w in windows)  # the whole interval above the tolerated RMSE
    else:
        assert "fell below" in latest.trigger["reason"]
        assert all(w["upper"] < ceiling for w in windows)
