"""Learned ranges do not cry wolf: batches drawn like the reference pass, real shifts still warn.

Built through the real path on a dataset the project has never seen: ``ct init``'s inference
makes the config from scikit-learn's breast-cancer data (569 rows, 30 skewed numeric features,
shipped with scikit-learn), each random third is ingested as a snapshot, the suite is generated
from the first one and the later snapshots are validated against it, as the validate stage does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.app import stages
from pipeline.app.onboarding import infer_config, read_sample
from pipeline.app.workspace import Workspace
from pipeline.core.config import dump_config, load_config
from pipeline.core.settings import Settings
from pipeline.data.snapshots import read_manifest
from pipeline.quality.snapshot_validation import ValidationRun, compute_validation

pytestmark = pytest.mark.slow

LABEL = "diagnosis"


def _breast_cancer() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    frame = data.frame.rename(columns=lambda c: c.replace(" ", "_"))
    frame[LABEL] = np.where(frame.pop("target") == 1, "benign", "malignant")
    frame.insert(0, "sample_id", np.arange(len(frame)))
    return frame


@dataclass(frozen=True)
class Thirds:
    ws: Workspace
    frame: pd.DataFrame
    parts: tuple[np.ndarray, ...]
    snapshots: tuple[str, ...]

    def validate(self, snapshot_id: str) -> ValidationRun:
        """What the validate stage computes with the first third's snapshot as the reference."""
        return compute_validation(self.ws, snapshot_id, read_manifest(self.ws.store, self.snapshots[0]))

    def ingest(self, rows: pd.DataFrame, name: str) -> str:
        rows.to_csv(self.ws.settings.landing / name, index=False)
        return stages.ingest_landing(self.ws).snapshot_id


@pytest.fixture
def thirds(tmp_path: Path) -> Thirds:
    frame = _breast_cancer()
    sample = tmp_path / "cancer.csv"
    frame.to_csv(sample, index=False)
    config_path = tmp_path / "pipeline.yaml"
    config_path.write_text(dump_config(infer_config(read_sample(sample), LABEL, "cancer")), encoding="utf-8")
    home = tmp_path / "home"
    home.mkdir()
    settings = Settings(
        home=home, config_path=config_path, database_url=f"sqlite:///{home / 'ct.db'}", data_url=home.as_uri()
    )
    config = load_config(config_path)
    config = config.model_copy(update={"ingest": config.ingest.model_copy(update={"stable_seconds": 0})})
    assert len(config.dataset.numeric_names) == 30
    ws = Workspace(settings=settings, config=config)
    settings.landing.mkdir(parents=True, exist_ok=True)
    parts = tuple(np.array_split(np.random.default_rng(7).permutation(len(frame)), 3))
    made = Thirds(ws, frame, parts, ())
    snapshots = tuple(made.ingest(frame.iloc[rows], f"third{i}.csv") for i, rows in enumerate(parts))
    return Thirds(ws, frame, parts, snapshots)


def _warned_ranges(run: ValidationRun) -> set[str]:
    return {
        c.name.split(":")[2]
        for c in run.report.failures()
        if c.name.startswith("expectation:expect_column_values_to_be_between:") and c.name.endswith(":observed")
    }


def test_random_thirds_of_one_dataset_raise_no_warning(thirds: Thirds) -> None:
    second = thirds.validate(thirds.snapshots[1])  # the second third alone (190 rows against 190)
    both = thirds.validate(thirds.snapshots[2])  # the second and third together (379 rows)

    for run, rows in ((second, 190), (both, 379)):
        report = run.report
        assert report.new_rows == rows
        assert report.failures("fail") == [] and report.failures("warn") == [], [
            c.message for c in report.failures("fail") + report.failures("warn")
        ]
        # the suite was generated from the first third, and its ranges are the learned ones
        assert run.suite.meta["ct"]["generated_from"] == thirds.snapshots[0]
        ranges = [
            e
            for e in run.suite.expectations
            if e.id.endswith(":observed") and e.type == "expect_column_values_to_be_between"
        ]
        assert len(ranges) == 30 and all(0.9 < e.kwargs["mostly"] < 1 for e in ranges)


def test_a_real_shift_still_warns(thirds: Thirds) -> None:
    shifted = thirds.frame.iloc[thirds.parts[1]].copy()
    shifted["sample_id"] += 10_000  # new rows, same distribution as the second third ...
    shifted["mean_radius"] *= 3  # ... but one feature scaled by 3
    sd = thirds.frame.iloc[thirds.parts[0]]["worst_texture"].std()
    shifted["worst_texture"] += 5 * sd  # and one shifted by five standard deviations
    snapshot = thirds.ingest(shifted, "shifted.csv")

    run = thirds.validate(snapshot)

    assert {"mean_radius", "worst_texture"} <= _warned_ranges(run), [c.message for c in run.report.failures()]
    assert {c.severity for c in run.report.failures() if c.name.startswith("expectation:")} == {"warn"}
