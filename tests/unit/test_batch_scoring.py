"""Batch scoring of unlabelled batches and the late-label join, on a real store and a real champion.

One champion is trained per module (the slow part); each test gets its own copy of that data
directory, so tests stay independent.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from pipeline.app import stages
from pipeline.app.demo_data import BatchSpec, generate_batch, split_labels
from pipeline.app.training_flow import run_training
from pipeline.app.workspace import Workspace
from pipeline.core.config import PipelineConfig
from pipeline.core.errors import IngestError
from pipeline.core.settings import Settings
from pipeline.monitoring.batch_scoring import (
    list_scored,
    load_predictions,
    score_file,
    score_pending_batches,
)
from pipeline.monitoring.label_join import join_pending_labels, labelled_rows, list_joins
from pipeline.monitoring.live_performance import check_for_retrain, live_windows, score_new_batches
from pipeline.registry.base import CHAMPION

MODEL = "churn-classifier"


def _fast(config: PipelineConfig) -> PipelineConfig:
    return config.model_copy(
        update={
            "evaluation": config.evaluation.model_copy(update={"bootstrap_resamples": 200, "folds": 3}),
            "ingest": config.ingest.model_copy(update={"stable_seconds": 0}),
            "monitoring": config.monitoring.model_copy(
                update={"min_samples": 300, "consecutive_windows": 2, "cooldown_hours": 0, "bootstrap_resamples": 200}
            ),
        }
    )


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with one snapshot and a promoted champion v1 (built once per module)."""
    import yaml

    from pipeline.core.config import parse_config
    from pipeline.core.settings import BUNDLED_CONFIG

    home = tmp_path_factory.mktemp("trained") / "ct_home"
    home.mkdir()
    settings = Settings(
        home=home, config_path=BUNDLED_CONFIG, database_url=f"sqlite:///{home / 'ct.db'}", data_url=home.as_uri()
    )
    data = yaml.safe_load(BUNDLED_CONFIG.read_text())
    data["model"].pop("candidates", None)
    ws = Workspace(settings=settings, config=_fast(parse_config(data, BUNDLED_CONFIG)))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(stages.register, "code_version", lambda: "test:0")
        settings.landing.mkdir(parents=True)
        generate_batch(BatchSpec(rows=1200, seed=1)).to_csv(settings.landing / "first.csv", index=False)
        sid = stages.ingest_landing(ws).snapshot_id
        assert run_training(ws, snapshot_id=sid, trigger={"kind": "test"}).promotion.promoted
    return home


@pytest.fixture
def ws(trained_home: Path, tmp_path: Path, config: PipelineConfig) -> Workspace:
    home = tmp_path / "ct_home"
    shutil.copytree(trained_home, home)
    settings = Settings(
        home=home, config_path=Path("unused"), database_url=f"sqlite:///{home / 'ct.db'}", data_url=home.as_uri()
    )
    return Workspace(settings=settings, config=_fast(config))


def _drop(area: Path, name: str, frame: pd.DataFrame) -> Path:
    folder = area / Path(name).stem
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if name.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    (folder / "_SUCCESS").touch()
    return path


def _batch(seed: int, first_id: int, rows: int = 800, flip: bool = False) -> pd.DataFrame:
    frame = generate_batch(BatchSpec(rows=rows, seed=seed, first_id=first_id))
    if flip:  # a changed concept: the same customers now behave the other way round
        frame["churned"] = frame["churned"].map({"yes": "no", "no": "yes"})
    return frame


def _files(root: Path, pattern: str) -> list[Path]:
    return sorted(root.rglob(pattern)) if root.exists() else []


def test_scoring_writes_predictions_with_the_model_version_once(ws: Workspace) -> None:
    features, _ = split_labels(_batch(2, 10_000))
    _drop(ws.settings.scoring, "week1.csv", features)
    champion = ws.meta.get_alias(MODEL, CHAMPION)

    out = score_pending_batches(ws)

    assert len(out["scored"]) == 1 and out["quarantined"] == []
    scored = list_scored(ws)[0]
    assert scored.model_version == champion.version and scored.artifact_sha256 == champion.artifact_sha256
    key = f"predictions/{scored.batch_id}/{MODEL}-v{champion.version}.parquet"
    assert scored.predictions_key == key and ws.store.exists(key)
    assert ws.store.exists(f"predictions/{scored.batch_id}/{MODEL}-v{champion.version}.json")
    preds = load_predictions(ws, scored)
    assert list(preds.columns) == [
        "customer_id",
        "score",
        "predicted_label",
        "model_name",
        "model_version",
        "artifact_sha256",
        "batch_id",
        "source_file",
        "source_sha256",
        "scored_at",
    ]
    assert len(preds) == 800 and preds["customer_id"].tolist() == features["customer_id"].tolist()
    assert set(preds["model_version"]) == {champion.version} and set(preds["model_name"]) == {MODEL}
    assert preds["score"].between(0, 1).all()
    assert (preds["predicted_label"] == "yes").tolist() == (preds["score"] >= 0.5).tolist()
    assert set(preds["source_file"]) == {"week1.csv"} and set(preds["source_sha256"]) == {scored.source_sha256}
    # processed input is archived, nothing is left in scoring/
    assert _files(ws.settings.archive / "scoring", "week1.csv") and not _files(ws.settings.scoring, "*.csv")

    # a rerun writes nothing new; the same content dropped again is a duplicate, kept in quarantine
    before = ws.store.list("predictions")
    assert score_pending_batches(ws)["scored"] == []
    _drop(ws.settings.scoring, "week1-again.csv", features)
    again = score_pending_batches(ws)
    assert again["scored"] == [] and [q["code"] for q in again["quarantined"]] == ["duplicate_file"]
    assert ws.store.list("predictions") == before
    assert score_file(ws, _files(ws.settings.quarantine, "week1-again.csv")[0]) == (scored, False)


def test_bad_unlabelled_files_and_rows_are_quarantined_with_reasons(ws: Workspace) -> None:
    features, _ = split_labels(_batch(3, 20_000, rows=300))
    _drop(ws.settings.scoring, "no_age.csv", features.drop(columns=["age"]))
    messy = features.astype({"tenure_months": object})
    messy.loc[5, "tenure_months"] = "lots"
    messy.loc[7, "customer_id"] = messy.loc[6, "customer_id"]
    _drop(ws.settings.scoring, "messy.csv", messy)

    out = score_pending_batches(ws)

    [whole] = out["quarantined"]
    reason = json.loads(_files(ws.settings.quarantine, "no_age.csv.reason.json")[0].read_text())
    assert whole["code"] == reason["code"] == "wrong_columns" and "age" in reason["message"]
    assert "no_age.csv" in reason["message"]
    [scored] = out["scored"]
    assert scored["rows"] == 298 and scored["rejected_rows"] == 2
    rows = pd.read_csv(scored["rejected_rows_path"])
    reasons = dict(zip(rows["_ct_source_row"], rows["_ct_reject_reason"]))
    assert reasons[7] == "tenure_months: not a number"  # CSV line 7 = data row 5
    assert reasons[9].startswith(f"customer_id={messy.loc[6, 'customer_id']}: duplicate identifier")
    assert "first at row 8" in reasons[9]


def test_late_labels_join_partial_unknown_duplicate_and_bad(ws: Workspace) -> None:
    champion = ws.meta.get_alias(MODEL, CHAMPION)
    f1, l1 = split_labels(_batch(4, 30_000))
    f2, l2 = split_labels(_batch(5, 40_000))
    _drop(ws.settings.scoring, "a.csv", f1)
    _drop(ws.settings.scoring, "b.csv", f2)
    score_pending_batches(ws)
    batch_a, batch_b = (s.batch_id for s in list_scored(ws))

    # one file covering all of batch a and half of batch b, plus 5 ids nobody scored
    unknown = pd.DataFrame({"customer_id": [f"X{i}" for i in range(5)], "churned": "yes"})
    first = pd.concat([l1, l2.iloc[:400], unknown], ignore_index=True)
    _drop(ws.settings.labels, "labels-1.csv", first)
    out = join_pending_labels(ws)

    [join] = out["joined"]
    assert (join["matched"], join["unmatched"], join["already_labelled"]) == (1200, 5, 0)
    assert join["batches"] == {batch_a: 800, batch_b: 400}
    [window] = join["windows"]
    assert window["model_version"] == champion.version and window["rows"] == 1200 and window["counted"]
    assert window["lower"] <= window["value"] <= window["upper"]
    stored = {w.window_id: w for w in live_windows(ws, champion)}
    assert stored[window["window_id"]].rows == 1200
    assert labelled_rows(ws, batch_a) == 800 and labelled_rows(ws, batch_b) == 400
    unmatched = pd.read_csv(join["rejected_rows_path"])
    assert len(unmatched) == 5 and unmatched["_ct_reject_reason"].str.contains("no scored batch holds").all()
    # the joined rows land as a complete labelled file for ct_ingest
    training = pd.read_parquet(join["training_file"]["path"])
    assert len(training) == 1200 and list(training.columns) == ws.config.dataset.columns
    assert (Path(join["training_file"]["path"]).parent / "_SUCCESS").exists()
    assert _files(ws.settings.archive / "labels", "labels-1.csv")

    # the rest of batch b arrives later, with 10 ids already labelled (one of them with another label)
    again = l2.iloc[390:].copy()
    again.loc[again.index[0], "churned"] = "no" if again.iloc[0]["churned"] == "yes" else "yes"
    _drop(ws.settings.labels, "labels-2.csv", again)
    [second] = join_pending_labels(ws)["joined"]
    assert (second["matched"], second["already_labelled"], second["conflicting"]) == (400, 10, 1)
    assert labelled_rows(ws, batch_b) == 800, "labels for the same ids are not counted twice"
    assert second["windows"][0]["rows"] == 400
    reasons = pd.read_csv(second["rejected_rows_path"])["_ct_reject_reason"]
    assert reasons.str.contains("conflict; the first label is kept").sum() == 1
    assert reasons.str.contains("not counted twice").sum() == 9

    # a file of nothing new is quarantined whole, and a bad file with its reason
    _drop(ws.settings.labels, "labels-3.csv", l1.iloc[:50])
    _drop(ws.settings.labels, "labels-4.csv", l1.rename(columns={"churned": "outcome"}))
    out = join_pending_labels(ws)
    assert sorted(q["code"] for q in out["quarantined"]) == ["no_new_labels", "wrong_columns"]
    reason = json.loads(_files(ws.settings.quarantine, "labels-4.csv.reason.json")[0].read_text())
    assert "labels-4.csv" in reason["message"] and "churned" in reason["message"]
    assert len(list_joins(ws)) == 2 and join_pending_labels(ws)["joined"] == []


def test_flipped_concept_in_late_labels_is_a_sustained_drop(ws: Workspace) -> None:
    champion = ws.meta.get_alias(MODEL, CHAMPION)
    baseline = champion.metrics["roc_auc"]["value"]
    for i, seed in enumerate((6, 7)):
        features, labels = split_labels(_batch(seed, 50_000 + i * 10_000, flip=True))
        _drop(ws.settings.scoring, f"s{i}.csv", features)
        score_pending_batches(ws)
        _drop(ws.settings.labels, f"l{i}.csv", labels)
        [join] = join_pending_labels(ws)["joined"]
        assert join["windows"][0]["upper"] < baseline - ws.config.monitoring.max_drop
        decision = check_for_retrain(ws)
        assert decision["retrain"] is (i == 1), decision["reason"]
    assert decision["kind"] == "performance_drop"
    assert [w["window_id"] for w in decision["evidence"]["windows"]] == [
        f"labels-{j['sha256'][:16]}" for j in list_joins(ws)
    ]


def test_joined_rows_are_ingested_but_not_scored_twice_by_the_same_champion(ws: Workspace) -> None:
    champion = ws.meta.get_alias(MODEL, CHAMPION)
    features, labels = split_labels(_batch(8, 70_000))
    _drop(ws.settings.scoring, "s.csv", features)
    score_pending_batches(ws)
    _drop(ws.settings.labels, "l.csv", labels)
    join_pending_labels(ws)
    windows_before = live_windows(ws, champion)

    outcome = stages.ingest_landing(ws)

    assert outcome.created and outcome.new_rows == 800
    assert score_new_batches(ws, outcome.snapshot_id) == [], "those rows already gave this champion a window"
    assert live_windows(ws, champion) == windows_before
    # ordinary new labelled data is still scored first
    _drop(ws.settings.landing, "plain.csv", _batch(9, 80_000))
    assert len(score_new_batches(ws, stages.ingest_landing(ws).snapshot_id)) == 1


def test_label_files_wait_until_something_was_scored(ws: Workspace) -> None:
    _, labels = split_labels(_batch(10, 90_000, rows=100))
    _drop(ws.settings.labels, "early.csv", labels)
    assert join_pending_labels(ws)["waiting"] == 1
    assert _files(ws.settings.labels, "early.csv"), "left in place for a later run"


def test_score_file_raises_a_clear_error_for_a_bad_file(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("customer_id,age\nC1,40\n")
    with pytest.raises(IngestError, match=r"x.csv: missing column\(s\) \['tenure_months'"):
        score_file(ws, path)


def test_ct_score_and_ct_predictions(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipeline.cli import main as ct_main

    monkeypatch.setenv("CT_HOME", str(ws.settings.home))
    monkeypatch.setenv("CT_DATABASE_URL", ws.settings.database_url)
    for var in ("CT_CONFIG", "CT_DATA_URL"):
        monkeypatch.delenv(var, raising=False)
    features, labels = split_labels(_batch(11, 95_000, rows=600), labelled_share=0.5, seed=3)
    _drop(ws.settings.scoring, "cli.csv", features)

    assert ct_main(["score"]) == 0
    assert "scored cli.csv as batch" in capsys.readouterr().out
    assert ct_main(["score"]) == 0
    assert "nothing to score" in capsys.readouterr().out
    _drop(ws.settings.labels, "cli-labels.csv", labels)
    assert ct_main(["predictions", "join"]) == 0
    assert "joined cli-labels.csv: 300 of 300 rows to 1 batch(es)" in capsys.readouterr().out

    assert ct_main(["predictions", "--json"]) == 0
    [batch] = json.loads(capsys.readouterr().out)
    assert batch["source_file"] == "cli.csv" and batch["rows"] == 600 and batch["labelled_rows"] == 300
    assert [s["model_version"] for s in batch["scorings"]] == [1]
    assert ct_main(["predictions", "show", batch["batch_id"][:6]]) == 0
    shown = capsys.readouterr().out
    assert "churn-classifier v1" in shown and "labels cli-labels.csv" in shown
    assert ct_main(["predictions", "show", "zzz"]) == 2
    assert "no scored batch matches" in capsys.readouterr().err


def test_a_predictions_file_left_by_an_interrupted_run_is_adopted_not_overwritten(ws: Workspace) -> None:
    features, _ = split_labels(_batch(12, 96_000, rows=300))
    path = _drop(ws.settings.scoring, "crash.csv", features)
    first, _ = score_file(ws, path)
    # an interrupted run: the predictions file was written, the manifest (the commit point) was not
    manifest = f"predictions/{first.batch_id}/{MODEL}-v{first.model_version}.json"
    Path(ws.store.path(manifest)).unlink()

    out = score_pending_batches(ws)

    [scored] = out["scored"]
    assert scored["predictions_sha256"] == first.predictions_sha256 and scored["scored_at"] == first.scored_at
    assert len(load_predictions(ws, list_scored(ws)[0])) == 300


def test_ct_predictions_lists_newest_first(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipeline.cli import main as ct_main

    monkeypatch.setenv("CT_HOME", str(ws.settings.home))
    monkeypatch.setenv("CT_DATABASE_URL", ws.settings.database_url)
    for var in ("CT_CONFIG", "CT_DATA_URL"):
        monkeypatch.delenv(var, raising=False)
    for index, name in enumerate(("older.csv", "newer.csv")):
        features, _ = split_labels(_batch(20 + index, 97_000 + 1_000 * index, rows=200))
        _drop(ws.settings.scoring, name, features)
        assert ct_main(["score"]) == 0
    capsys.readouterr()
    assert ct_main(["predictions", "--json"]) == 0
    assert [b["source_file"] for b in json.loads(capsys.readouterr().out)] == ["newer.csv", "older.csv"]
    assert ct_main(["predictions"]) == 0
    text = capsys.readouterr().out
    assert text.index("newer.csv") < text.index("older.csv")
