"""The training-row cap: above ``model.max_train_rows`` the fit takes a stratified sample.

The sampling is checked on its own (shares kept per class and per target bin, a rare class never
sampled away, the same rows for the same seed, the holdout untouched), then through the real
stages: a run on 3,000 landed rows with a cap of 1,000 fits, cross-validates and records exactly
the sampled rows, and says so in the progress log, the stored evaluation and the model report.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from pipeline.app import stages
from pipeline.app.demo_data import BatchSpec, generate_batch
from pipeline.app.training_flow import run_training
from pipeline.app.workspace import Workspace
from pipeline.core.config import PipelineConfig
from pipeline.core.settings import Settings
from pipeline.modeling.evaluation import holdout_split, training_split
from pipeline.modeling.splits import Split
from pipeline.modeling.training_sample import allocate, sample_training_rows
from pipeline.reporting.pages import model_report_key

MODEL = "churn-classifier"


def _split(n_train: int, n_holdout: int = 100) -> Split:
    everything = np.random.default_rng(0).permutation(n_train + n_holdout)
    return Split(train_index=np.sort(everything[:n_train]), holdout_index=np.sort(everything[n_train:]))


def test_allocation_is_proportional_sums_to_the_cap_and_keeps_every_group() -> None:
    quota = allocate(np.array([9_000, 990, 10]), 1_000)
    assert quota.sum() == 1_000
    assert list(quota) == [900, 99, 1]
    rare = allocate(np.array([99_997, 1, 1, 1]), 100)
    assert rare.sum() == 100 and list(rare[1:]) == [1, 1, 1]
    assert list(allocate(np.array([5, 0, 3]), 100)) == [5, 0, 3]  # under the cap: everything


def test_a_capped_split_keeps_class_shares_and_the_holdout() -> None:
    split = _split(50_000)
    rng = np.random.default_rng(1)
    label = pd.Series(rng.choice(["no", "yes", "maybe"], p=[0.85, 0.14, 0.01], size=50_100))
    capped = sample_training_rows(split, label, 2_000, seed=7, classification=True)

    assert capped.n_train == 2_000 and capped.sample is not None
    assert (capped.sample.from_rows, capped.sample.rows, capped.sample.stratified_on) == (50_000, 2_000, "label")
    assert np.array_equal(capped.holdout_index, split.holdout_index)
    assert set(capped.train_index) <= set(split.train_index)
    assert np.all(np.diff(capped.train_index) > 0)  # original order, no repeats (time folds rely on it)
    before = label.iloc[split.train_index].value_counts(normalize=True)
    after = label.iloc[capped.train_index].value_counts(normalize=True)
    for cls in ("no", "yes", "maybe"):
        assert abs(after[cls] - before[cls]) <= 1 / 2_000 + 1e-12, cls


def test_the_same_seed_draws_the_same_rows_and_another_seed_others() -> None:
    split = _split(10_000)
    label = pd.Series(np.random.default_rng(2).integers(0, 2, size=10_100)).astype(str)
    a = sample_training_rows(split, label, 1_000, seed=42, classification=True)
    b = sample_training_rows(split, label, 1_000, seed=42, classification=True)
    c = sample_training_rows(split, label, 1_000, seed=43, classification=True)
    assert np.array_equal(a.train_index, b.train_index)
    assert not np.array_equal(a.train_index, c.train_index)


def test_a_regression_sample_keeps_the_target_distribution() -> None:
    split = _split(40_000)
    target = pd.Series(np.random.default_rng(3).lognormal(size=40_100))
    capped = sample_training_rows(split, target, 1_000, seed=1, classification=False)
    assert capped.sample is not None and capped.sample.stratified_on == "target quantile bins"
    full, sample = target.iloc[split.train_index], target.iloc[capped.train_index]
    for q in (0.1, 0.5, 0.9):
        assert abs(sample.quantile(q) - full.quantile(q)) / full.quantile(q) < 0.1, q


def test_under_the_cap_the_split_is_unchanged() -> None:
    split = _split(500)
    assert sample_training_rows(split, pd.Series(["a"] * 600), 500, seed=1, classification=True) is split


def test_the_cap_is_validated(config: PipelineConfig) -> None:
    with pytest.raises(Exception, match="max_train_rows"):
        PipelineConfig.model_validate(
            {**config.model_dump(), "model": {**config.model.model_dump(), "max_train_rows": 10}}
        )
    assert "max_train_rows" not in config.model.model_dump()  # unset: config hashes unchanged


@pytest.fixture
def capped_ws(settings: Settings, config: PipelineConfig, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setattr(stages.register, "code_version", lambda: "test:0")
    capped = config.model_copy(
        update={
            "model": config.model.model_copy(update={"max_train_rows": 1_000}),
            "evaluation": config.evaluation.model_copy(update={"bootstrap_resamples": 200, "folds": 3}),
            "ingest": config.ingest.model_copy(update={"stable_seconds": 0}),
        }
    )
    return Workspace(settings=settings, config=capped)


def test_a_capped_run_fits_and_records_the_sample(capped_ws: Workspace, caplog: pytest.LogCaptureFixture) -> None:
    ws = capped_ws
    batch = ws.settings.landing / "big"
    batch.mkdir(parents=True)
    generate_batch(BatchSpec(rows=3_000, seed=5)).to_csv(batch / "big.csv", index=False)
    (batch / "_SUCCESS").touch()
    snapshot_id = stages.ingest_landing(ws).snapshot_id

    with caplog.at_level(logging.INFO):
        registered = run_training(ws, snapshot_id=snapshot_id, trigger={"kind": "test"}, until="register").registration
    assert registered is not None

    frame = stages.data.training_data(ws, snapshot_id)[1]
    whole = holdout_split(frame, ws.config)
    assert whole.n_train > 1_000  # the cap bites
    mv = ws.meta.get_model_version(MODEL, registered.version)
    ev = mv.evaluation
    assert ev["train_rows"] == 1_000
    assert ev["holdout_rows"] == whole.n_holdout  # the holdout is never sampled
    assert ev["split"]["training_sample"] == {
        "from_rows": whole.n_train,
        "rows": 1_000,
        "stratified_on": "label",
        "seed": ws.config.evaluation.seed,
        "setting": "model.max_train_rows",
    }
    assert training_split(frame, ws.config).n_train == 1_000
    logged = [r.getMessage() for r in caplog.records]
    assert any(m.startswith(f"Training on a sample: 1000 of {whole.n_train} training rows") for m in logged)
    assert any(f"fitted on 1000 rows (a sample of {whole.n_train} stratified on the label" in m for m in logged)
    report = ws.store.get(model_report_key(MODEL, registered.version)).decode()
    assert f"a sample of {whole.n_train} stratified on the label" in report
