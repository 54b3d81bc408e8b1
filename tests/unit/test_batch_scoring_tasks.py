"""Batch scoring of a multiclass and a regression champion: the prediction columns and the summary.

Each test builds a small workspace by hand: a snapshot of a toy frame (the drift reference), a
model fitted with ``fit_model`` and registered as champion, and a parsed batch handed to the same
step ``score_file`` runs after reading a file (``_ScoringInbox.consume``).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from pipeline.app.workspace import Workspace
from pipeline.cli.scoring import _print_scored
from pipeline.core.config import PipelineConfig, parse_config
from pipeline.core.settings import Settings
from pipeline.data.ingestion import SOURCE_ROW_COLUMN, LandingFile, sha256_file
from pipeline.data.live_inputs import ParsedInput
from pipeline.data.snapshots import SourceFile, arrow_schema, create_snapshot, write_part
from pipeline.modeling.training import feature_frame, fit_model
from pipeline.monitoring.batch_scoring import (
    ScoredBatch,
    _ScoringInbox,
    list_scored,
    load_predictions,
    parquet_bytes,
    read_scored,
    scored_manifest_key,
    summary_line,
)
from pipeline.registry.base import CHAMPION, ModelVersion, NewModelVersion

CLASSES = ("a", "b", "c")
META_COLUMNS = [
    "model_name",
    "model_version",
    "artifact_sha256",
    "batch_id",
    "source_file",
    "source_sha256",
    "scored_at",
]
BINARY_MANIFEST_KEYS = [  # the manifest of a binary scoring as it was stored before task types
    "batch_id",
    "source_file",
    "source_sha256",
    "source_size",
    "rows",
    "rejected_rows",
    "model_name",
    "model_version",
    "artifact_sha256",
    "predictions_key",
    "predictions_sha256",
    "inputs_key",
    "positive_class",
    "threshold",
    "mean_score",
    "predicted_positive_share",
    "scored_at",
    "drift_share",
    "drifted_features",
]


def _config(task: str) -> PipelineConfig:
    dataset: dict[str, Any] = {
        "name": f"toy-{task}",
        "label": "target",
        "task": task,
        "id_columns": ["row_id"],
        "features": {
            "numeric": [{"name": "x1"}, {"name": "x2"}],
            "categorical": [{"name": "color", "levels": ["red", "green", "blue"]}],
        },
    }
    model: dict[str, Any] = {"name": f"toy-{task}", "specs": {"default": {"estimator": "logistic_regression"}}}
    if task == "multiclass":
        dataset["classes"] = list(CLASSES)
    elif task == "binary":
        dataset.update(classes=["no", "yes"], positive_class="yes")
    else:
        model["specs"]["default"] = {"estimator": "ridge", "params": {"alpha": 1.0}}
        model["output"] = {"clip_min": 0.0}  # part of the model: some raw predictions are negative
    return parse_config({"dataset": dataset, "model": model, "ingest": {"stable_seconds": 0}}, "<test>")


def _frame(task: str, rows: int, seed: int, first_id: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=rows), rng.normal(size=rows)
    color = rng.choice(["red", "green", "blue"], rows)
    frame = pd.DataFrame({"row_id": [f"r{first_id + i}" for i in range(rows)], "x1": x1, "x2": x2, "color": color})
    if task == "multiclass":
        logits = np.column_stack([2 * x1, 2 * x2, (color == "blue") * 2.0]) + rng.gumbel(size=(rows, 3))
        frame["target"] = np.asarray(CLASSES, dtype=object)[logits.argmax(axis=1)]
    elif task == "binary":
        frame["target"] = np.where(x1 + rng.normal(size=rows) > 0, "yes", "no")
    else:
        frame["target"] = 3.0 + 4.0 * x1 - 2.0 * x2 + (color == "red") * 1.5 + rng.normal(0, 0.5, rows)
    return frame


def _champion(ws: Workspace, task: str) -> tuple[ModelVersion, Any]:
    """A snapshot of a training frame and a model fitted on it, registered and made champion."""
    config, dataset = ws.config, ws.config.dataset
    train = _frame(task, 400, seed=1)
    stored = train.copy()
    if arrow_schema(dataset).field(dataset.label).type == pa.string():
        stored[dataset.label] = stored[dataset.label].astype(str)
    part = write_part(ws.store, stored, dataset, SourceFile("train.csv", "0" * 64, 1))
    snapshot = create_snapshot(ws.store, dataset, None, [part])
    model = fit_model(train, dataset, config.model_spec(), seed=0, output=config.model.output)
    key, sha = ws.artifacts.save(model, config.model.name)
    mv, _ = ws.meta.register_model(
        NewModelVersion(
            name=config.model.name,
            snapshot_id=snapshot.id,
            config_hash=config.content_hash(),
            spec_name="default",
            params={"estimator": config.model_spec().estimator},
            metrics={},
            evaluation={"task": task},
            artifact_uri=key,
            artifact_sha256=sha,
            validation_id=None,
            trigger={"kind": "test"},
            code_version="test",
        )
    )
    ws.meta.set_alias(config.model.name, CHAMPION, mv.version, reason="test", evidence={}, actor="test")
    champion = ws.meta.get_alias(config.model.name, CHAMPION)
    assert champion is not None
    return champion, model


@pytest.fixture
def workspace(tmp_path: Path, request: pytest.FixtureRequest) -> Workspace:
    home = tmp_path / "ct_home"
    home.mkdir()
    settings = Settings(
        home=home, config_path=Path("unused"), database_url=f"sqlite:///{home / 'ct.db'}", data_url=home.as_uri()
    )
    return Workspace(settings=settings, config=_config(request.param))


def _score(ws: Workspace, champion: ModelVersion, batch: pd.DataFrame, name: str = "batch.csv") -> ScoredBatch:
    """What ``score_file`` does once the file is read: score the parsed rows with the champion."""
    path = ws.settings.home / name
    batch.to_csv(path, index=False)
    source = LandingFile(path=path, size=path.stat().st_size, sha256=sha256_file(path))
    frame = batch.reset_index(drop=True)
    frame.insert(0, SOURCE_ROW_COLUMN, frame.index)
    parsed = ParsedInput(source=source, frame=frame, rejected=pd.DataFrame(), rows=len(batch))
    scored, rejected = _ScoringInbox(ws, champion).consume(source, parsed)
    assert rejected is None
    return scored


def _manifest(ws: Workspace, scored: ScoredBatch) -> dict[str, Any]:
    return json.loads(ws.store.get(scored_manifest_key(scored.batch_id, scored.model_name, scored.model_version)))


@pytest.mark.parametrize("workspace", ["multiclass"], indirect=True)
def test_multiclass_batch_holds_each_class_probability_and_the_predicted_shares(workspace: Workspace) -> None:
    ws = workspace
    champion, model = _champion(ws, "multiclass")
    batch = _frame("multiclass", 300, seed=2, first_id=10_000).drop(columns=["target"])

    scored = _score(ws, champion, batch)

    preds = load_predictions(ws, scored)
    assert list(preds.columns) == ["row_id", "proba_a", "proba_b", "proba_c", "score", "predicted_label", *META_COLUMNS]
    assert preds["row_id"].tolist() == batch["row_id"].tolist()
    expected = model.predict_proba(feature_frame(batch, ws.config.dataset))  # classes 0, 1, 2 = a, b, c
    np.testing.assert_allclose(preds[["proba_a", "proba_b", "proba_c"]].to_numpy(), expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(preds["score"], expected.max(axis=1), rtol=0, atol=1e-12)
    labels = np.asarray(CLASSES)[expected.argmax(axis=1)]
    assert preds["predicted_label"].tolist() == labels.tolist()

    shares = {c: float(np.mean(labels == c)) for c in CLASSES}
    assert len(set(labels)) == 3  # every class is predicted somewhere, so the shares are all tested
    assert scored.task == "multiclass" and scored.predicted_shares == pytest.approx(shares, abs=1e-12)
    assert scored.mean_score == pytest.approx(expected.max(axis=1).mean(), abs=1e-12)
    assert (scored.positive_class, scored.threshold, scored.predicted_positive_share) == (None, None, None)
    stored = _manifest(ws, scored)
    assert stored["task"] == "multiclass" and stored["predicted_shares"] == pytest.approx(shares, abs=1e-12)
    assert "mean_prediction" not in stored  # a regression field, at its default
    assert read_scored(ws, scored.batch_id, champion.name, champion.version) == scored == list_scored(ws)[0]
    line = summary_line(scored.to_dict())
    assert line.startswith(f"predicted a {shares['a']:.0%}, b {shares['b']:.0%}, c {shares['c']:.0%}")


@pytest.mark.parametrize("workspace", ["regression"], indirect=True)
def test_regression_batch_holds_the_post_processed_prediction_and_its_range(workspace: Workspace) -> None:
    ws = workspace
    champion, model = _champion(ws, "regression")
    batch = _frame("regression", 300, seed=3, first_id=20_000).drop(columns=["target"])

    scored = _score(ws, champion, batch)

    preds = load_predictions(ws, scored)
    assert list(preds.columns) == ["row_id", "prediction", *META_COLUMNS]
    expected = model.predict(feature_frame(batch, ws.config.dataset))
    np.testing.assert_allclose(preds["prediction"], expected, rtol=0, atol=1e-12)
    assert (expected == 0.0).any() and (expected >= 0.0).all()  # clip_min 0 applied, and it mattered

    assert scored.task == "regression" and scored.predicted_shares == {}
    assert scored.mean_prediction == pytest.approx(expected.mean(), abs=1e-12)
    assert (scored.min_prediction, scored.max_prediction) == (0.0, pytest.approx(expected.max(), abs=1e-12))
    assert (scored.mean_score, scored.predicted_positive_share, scored.positive_class) == (None, None, None)
    stored = _manifest(ws, scored)
    assert stored["task"] == "regression" and "predicted_shares" not in stored and stored["mean_score"] is None
    assert summary_line(stored) == (f"mean prediction {expected.mean():.4g} (min 0, max {expected.max():.4g})")


@pytest.mark.parametrize("workspace", ["regression"], indirect=True)
def test_an_adopted_predictions_file_is_read_back_through_its_prediction_columns(workspace: Workspace) -> None:
    ws = workspace
    champion, _ = _champion(ws, "regression")
    batch = _frame("regression", 200, seed=4, first_id=30_000).drop(columns=["target"])
    first = _score(ws, champion, batch)
    # an interrupted run left a predictions file (here with doubled predictions) but no manifest
    preds = load_predictions(ws, first)
    preds["prediction"] = preds["prediction"] * 2
    ws.store.replace(first.predictions_key, parquet_bytes(preds))
    Path(ws.store.path(scored_manifest_key(first.batch_id, first.model_name, first.model_version))).unlink()

    again = _score(ws, champion, batch)

    assert again.scored_at == first.scored_at  # adopted, not scored anew
    assert again.mean_prediction == pytest.approx(2 * first.mean_prediction, abs=1e-9)
    assert again.max_prediction == pytest.approx(2 * first.max_prediction, abs=1e-9)


@pytest.mark.parametrize("workspace", ["multiclass"], indirect=True)
def test_an_adopted_file_without_the_task_columns_is_refused(workspace: Workspace) -> None:
    from pipeline.core.errors import ScoringError

    ws = workspace
    champion, _ = _champion(ws, "multiclass")
    batch = _frame("multiclass", 100, seed=5, first_id=40_000).drop(columns=["target"])
    first = _score(ws, champion, batch)
    preds = load_predictions(ws, first).drop(columns=["proba_b"])  # as if written under another class list
    ws.store.replace(first.predictions_key, parquet_bytes(preds))
    Path(ws.store.path(scored_manifest_key(first.batch_id, first.model_name, first.model_version))).unlink()
    with pytest.raises(ScoringError, match=r"lack columns \['proba_b'\]"):
        _score(ws, champion, batch)


@pytest.mark.parametrize("workspace", ["binary"], indirect=True)
def test_binary_manifest_is_stored_as_before_and_old_manifests_read_back(workspace: Workspace) -> None:
    ws = workspace
    champion, model = _champion(ws, "binary")
    batch = _frame("binary", 200, seed=6, first_id=50_000).drop(columns=["target"])

    scored = _score(ws, champion, batch)

    preds = load_predictions(ws, scored)
    assert list(preds.columns) == ["row_id", "score", "predicted_label", *META_COLUMNS]
    proba = model.predict_proba(feature_frame(batch, ws.config.dataset))[:, 1]
    np.testing.assert_allclose(preds["score"], proba, rtol=0, atol=1e-12)
    assert preds["predicted_label"].tolist() == np.where(proba >= 0.5, "yes", "no").tolist()
    stored = _manifest(ws, scored)
    assert list(stored) == BINARY_MANIFEST_KEYS
    assert (stored["positive_class"], stored["threshold"]) == ("yes", 0.5)
    assert stored["predicted_positive_share"] == pytest.approx(float((proba >= 0.5).mean()), abs=1e-12)
    old = ScoredBatch.from_dict({k: stored[k] for k in BINARY_MANIFEST_KEYS})
    assert old == scored and old.task == "binary" and old.to_dict() == stored
    assert summary_line(stored) == (f"mean score {proba.mean():.3f}, {(proba >= 0.5).mean():.0%} predicted yes")


def test_ct_score_prints_one_summary_line_per_task(capsys: pytest.CaptureFixture[str]) -> None:
    base = {"source_file": "f.csv", "batch_id": "b1", "model_name": "m", "model_version": 2, "rows": 10}
    _print_scored({**base, "mean_score": 0.3125, "predicted_positive_share": 0.25, "positive_class": "yes"})
    _print_scored({**base, "task": "multiclass", "mean_score": 0.7, "predicted_shares": {"a": 0.5, "b": 0.3, "c": 0.2}})
    _print_scored(
        {
            **base,
            "task": "regression",
            "mean_score": None,
            "mean_prediction": 15234.5,
            "min_prediction": 12.5,
            "max_prediction": 230.0,
        }
    )
    assert capsys.readouterr().out.splitlines() == [
        "scored f.csv as batch b1 with m v2: 10 rows, mean score 0.312, 25% predicted yes",
        "scored f.csv as batch b1 with m v2: 10 rows, predicted a 50%, b 30%, c 20% "
        "(mean probability of the predicted class 0.7)",
        "scored f.csv as batch b1 with m v2: 10 rows, mean prediction 15234 (min 12.5, max 230)",
    ]


def test_predictions_parquet_of_each_task_reads_back_as_its_scores() -> None:
    """The written columns are the ones ``scores_from_predictions`` reads (the late-label join's way in)."""
    from pipeline.modeling.prediction_columns import prediction_frame, scores_from_predictions

    proba = np.array([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]])
    dataset = _config("multiclass").dataset
    frame = pd.read_parquet(io.BytesIO(parquet_bytes(prediction_frame(proba, dataset))))
    np.testing.assert_array_equal(scores_from_predictions(frame, dataset), proba)
