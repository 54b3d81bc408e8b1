"""No champion on thin evidence: a tiny holdout registers a version but never crowns it.

The stages run for real (ingest, validate, train, evaluate, register, promote) on a 20-row
dataset with the bundled policy (at least 200 holdout rows and 20 of each class); the refusal must
show in the stored decision, the model report, ``ct models show``/``list`` and one alert. A manual
override still promotes. The per-class minimum and the old-evidence fallback are checked on the
pure policy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipeline.app import stages
from pipeline.app.demo_data import BatchSpec, generate_batch
from pipeline.app.stages.register import Registration
from pipeline.app.training_flow import run_training
from pipeline.app.workspace import Workspace
from pipeline.cli import main as ct_main
from pipeline.cli.output import fmt_metric
from pipeline.core.config import PipelineConfig, PromotionConfig
from pipeline.core.settings import Settings
from pipeline.modeling.metrics import bootstrap_metrics
from pipeline.modeling.promotion import decide_promotion
from pipeline.modeling.resampling import RELIABLE_MIN_ROWS
from pipeline.registry.base import CHAMPION
from pipeline.reporting.pages import model_report_key

MODEL = "churn-classifier"


@pytest.fixture
def ws(settings: Settings, config: PipelineConfig, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setattr(stages.register, "code_version", lambda: "test:0")
    assert (config.promotion.min_holdout_rows, config.promotion.min_class_rows) == (200, 20)  # the bundled policy
    fast = config.model_copy(
        update={
            "evaluation": config.evaluation.model_copy(update={"bootstrap_resamples": 200, "folds": 3}),
            "ingest": config.ingest.model_copy(update={"stable_seconds": 0}),
        }
    )
    return Workspace(settings=settings, config=fast)


def _register_tiny(ws: Workspace, rows: int = 20) -> Registration:
    """Land ``rows`` demo rows, train on them and register the model (promotion not yet decided)."""
    batch = ws.settings.landing / "tiny"
    batch.mkdir(parents=True)
    generate_batch(BatchSpec(rows=rows, seed=11)).to_csv(batch / "tiny.csv", index=False)
    (batch / "_SUCCESS").touch()
    snapshot_id = stages.ingest_landing(ws).snapshot_id
    registered = run_training(ws, snapshot_id=snapshot_id, trigger={"kind": "test"}, until="register").registration
    assert registered is not None
    return registered


def _ct(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, settings: Settings, *argv: str) -> str:
    monkeypatch.setenv("CT_HOME", str(settings.home))
    monkeypatch.setenv("CT_DATABASE_URL", settings.database_url)
    for var in ("CT_CONFIG", "CT_DATA_URL"):
        monkeypatch.delenv(var, raising=False)
    capsys.readouterr()
    assert ct_main(list(argv)) == 0
    return capsys.readouterr().out


def test_a_20_row_dataset_registers_a_version_that_is_not_champion(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    registered = _register_tiny(ws)
    assert (registered.version, registered.created) == (1, True)

    result = stages.promote_if_better(ws, MODEL, 1)

    mv = ws.meta.get_model_version(MODEL, 1)
    rows = mv.evaluation["holdout_rows"]
    assert rows < 20 and sum(mv.evaluation["holdout_classes"].values()) == rows
    expected = f"holdout has {rows} rows, at least 200 needed"
    assert (result.promoted, result.moved, result.champion) == (False, False, None)
    assert ws.meta.get_alias(MODEL, CHAMPION) is None and ws.meta.promotion_history(MODEL) == []
    # the stored decision says why, in plain words, and names every shortfall
    assert mv.decision["promote"] is False and mv.decision["forced"] is False
    assert mv.decision["reason"].startswith(f"too little evidence to promote: {expected}")
    assert mv.decision["thin_evidence"][0] == expected
    assert any(
        t.startswith("class ") and t.endswith("holdout rows, at least 20 needed") for t in mv.decision["thin_evidence"]
    )
    failed = {c["check"] for c in mv.decision["checks"] if c["passed"] is False}
    assert "holdout_rows" in failed
    # the metrics behind it are marked unreliable
    assert mv.metrics["roc_auc"]["reliable"] is False and mv.metrics["roc_auc"]["n"] == rows

    page = ws.store.get(model_report_key(MODEL, 1)).decode()
    assert "not promoted" in page and expected in page and "Thin evidence" in page
    assert f"(unreliable, n={rows})" in page

    shown = _ct(monkeypatch, capsys, ws.settings, "models", "show", "1")
    assert f"decision: not promoted — too little evidence to promote: {expected}" in shown
    assert f"(unreliable, n={rows})" in shown
    listed = _ct(monkeypatch, capsys, ws.settings, "models", "list")
    assert f"not promoted: {expected}" in listed and f"(unreliable, n={rows})" in listed


def test_the_refusal_is_alerted_once(ws: Workspace) -> None:
    _register_tiny(ws)
    stages.promote_if_better(ws, MODEL, 1)
    stages.promote_if_better(ws, MODEL, 1)  # a task retry / rerun decides on the same evidence again

    alerts = [a for a in ws.meta.list_alerts() if not a.kind.startswith("validation")]  # 20 rows also warn there
    assert [a.kind for a in alerts] == ["thin_evidence"]
    rows = ws.meta.get_model_version(MODEL, 1).evaluation["holdout_rows"]
    [alert] = alerts
    assert alert.severity == "warning"
    assert alert.title == (
        f"{MODEL} v1 not promoted: too little holdout evidence (holdout has {rows} rows, at least 200 needed)"
    )
    assert alert.details["version"] == 1
    assert alert.details["problems"][0] == f"holdout has {rows} rows, at least 200 needed"
    assert alert.dedupe_key.startswith(f"thin_evidence:{MODEL}:v1:")


def test_force_still_promotes_thin_evidence_and_records_it(ws: Workspace) -> None:
    _register_tiny(ws)

    result = stages.promote_if_better(ws, MODEL, 1, force=True, reason="pilot on a tiny sample", actor="carol")

    assert (result.promoted, result.moved, result.champion) == (True, True, 1)
    mv = ws.meta.get_model_version(MODEL, 1)
    assert mv.decision["forced"] is True and mv.decision["reason"] == "manual override: pilot on a tiny sample"
    assert mv.decision["thin_evidence"]  # what was overridden stays on record
    [move] = ws.meta.promotion_history(MODEL)
    assert (move.to_version, move.actor, move.reason) == (1, "carol", "manual override: pilot on a tiny sample")
    kinds = [a.kind for a in ws.meta.list_alerts() if not a.kind.startswith("validation")]
    assert kinds == ["promoted"]  # a move, not a refusal


def _evaluation(rows: int, classes: dict[str, int] | None) -> dict[str, Any]:
    est = {"value": 0.8, "lower": 0.75, "upper": 0.85, "std": 0.02}
    ev: dict[str, Any] = {
        "train_rows": 4 * rows,
        "holdout_rows": rows,
        "holdout": {"roc_auc": est},
        "cross_validation": {},
        "champion": None,
        "seconds": 0.1,
    }
    if classes is not None:
        ev["holdout_classes"] = classes
    return ev


def test_a_class_below_its_minimum_blocks_promotion() -> None:
    policy = PromotionConfig(floors={"roc_auc": 0.6})

    d = decide_promotion(_evaluation(500, {"no": 497, "yes": 3}), policy)

    assert d.promote is False
    assert d.thin_evidence == ("class 'yes' has 3 holdout rows, at least 20 needed",)
    assert d.reason == "too little evidence to promote: class 'yes' has 3 holdout rows, at least 20 needed"
    assert decide_promotion(_evaluation(500, {"no": 480, "yes": 20}), policy).promote is True
    # the minimum is the policy's: a config may lower it knowingly
    lowered = PromotionConfig(floors={"roc_auc": 0.6}, min_class_rows=3)
    assert decide_promotion(_evaluation(500, {"no": 497, "yes": 3}), lowered).promote is True


def test_older_evidence_is_judged_from_its_confusion_matrix_and_missing_evidence_never_passes() -> None:
    policy = PromotionConfig()
    old = _evaluation(300, None)
    old["curves"] = {"confusion": {"tp": 5, "fn": 5, "tn": 250, "fp": 40}}
    assert decide_promotion(old, policy).thin_evidence == (
        "class 'positive class' has 10 holdout rows, at least 20 needed",
    )
    unknown = decide_promotion(_evaluation(300, None), policy)
    assert unknown.promote is False
    assert unknown.thin_evidence == ("the evaluation does not record its holdout rows per class",)


def test_intervals_from_few_rows_are_marked_unreliable() -> None:
    rng = np.random.default_rng(3)
    few_y = np.array([0, 1] * 15)
    many_y = rng.integers(0, 2, 4 * RELIABLE_MIN_ROWS)
    few = bootstrap_metrics(few_y, rng.random(few_y.size), n_resamples=200, metrics=["roc_auc"])["roc_auc"]
    many = bootstrap_metrics(many_y, rng.random(many_y.size), n_resamples=200, metrics=["roc_auc"])["roc_auc"]
    assert (few.n, few.minority, few.reliable) == (30, 15, False)
    assert many.reliable is True
    assert fmt_metric(few.to_dict()).endswith("(unreliable, n=30)")
    assert "unreliable" not in fmt_metric(many.to_dict())
    # a skewed sample: plenty of rows, too few of one class
    skewed_y = np.r_[np.zeros(500, dtype=int), np.ones(5, dtype=int)]
    skewed = bootstrap_metrics(skewed_y, rng.random(skewed_y.size), n_resamples=200, metrics=["roc_auc"])["roc_auc"]
    assert (skewed.n, skewed.minority, skewed.reliable) == (505, 5, False)


def test_the_bundled_demo_holdout_clears_the_minimum(config: PipelineConfig, tmp_path: Path) -> None:
    """The demo's first batch (4000 rows) must still crown a champion under the bundled policy."""
    from pipeline.app.demo_data import DEMO_BATCHES
    from pipeline.modeling.evaluation import holdout_split

    frame = generate_batch(DEMO_BATCHES[0])
    split = holdout_split(frame, config)
    counts = frame["churned"].iloc[split.holdout_index].value_counts()
    assert split.n_holdout >= config.promotion.min_holdout_rows
    assert counts.min() >= config.promotion.min_class_rows
