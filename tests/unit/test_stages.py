"""The stages of the loop driven as plain Python (no Airflow), on SQLite and a local object store."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pipeline.app import stages
from pipeline.app.demo_data import BatchSpec, generate_batch
from pipeline.app.stages.register import PromotionOutcome, Registration
from pipeline.app.stages.train import FittedCandidate, fit_candidate
from pipeline.app.stages.validate import ValidationOutcome
from pipeline.app.training_flow import TrainingRun, run_training
from pipeline.app.workspace import Workspace
from pipeline.core.config import PipelineConfig
from pipeline.core.errors import NothingToDo, SnapshotError, ValidationFailed
from pipeline.core.settings import Settings
from pipeline.data.snapshots import load_snapshot, read_manifest
from pipeline.registry.base import CHAMPION
from pipeline.reporting.pages import model_report_key

BATCH_1 = BatchSpec(rows=600, seed=101, first_id=0)
BATCH_2 = BatchSpec(rows=600, seed=202, first_id=100_000)


def _fast(config: PipelineConfig, **ingest: Any) -> PipelineConfig:
    """The bundled config with a cheap evaluation (few resamples and folds).

    These tests drive the stages on 600-row batches (about 107 holdout rows, 53 of a class), below
    the bundled minimum holdout (200 rows, 20 of a class): the minimum is lowered so they keep
    testing the mechanics; the thin-evidence refusal has its own tests (``test_thin_evidence``).
    """
    return config.model_copy(
        update={
            "evaluation": config.evaluation.model_copy(update={"bootstrap_resamples": 200, "folds": 3}),
            "ingest": config.ingest.model_copy(update={"stable_seconds": 0, **ingest}),
            "promotion": config.promotion.model_copy(update={"min_holdout_rows": 50, "min_class_rows": 10}),
        }
    )


pytestmark = pytest.mark.usefixtures("fixed_code_version")


@pytest.fixture
def ws(settings: Settings, config: PipelineConfig) -> Workspace:
    settings.landing.mkdir(parents=True, exist_ok=True)
    return Workspace(settings=settings, config=_fast(config))


def _drop(ws: Workspace, frame: pd.DataFrame, name: str) -> Path:
    path = ws.settings.landing / name
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def _landing_files(ws: Workspace) -> list[str]:
    return sorted(p.name for p in ws.settings.landing.rglob("*") if p.is_file())


def _manifests(ws: Workspace) -> list[str]:
    return ws.store.list("snapshots/manifests")


TEST = {"kind": "test"}


def _done(run: TrainingRun) -> tuple[ValidationOutcome, FittedCandidate, PromotionOutcome]:
    """The validation, the chosen candidate and the promotion of a run that went all the way."""
    assert run.validation is not None and run.evaluation is not None and run.promotion is not None
    return run.validation, run.evaluation.candidate, run.promotion


# -- ingest -------------------------------------------------------------------------------------------
def test_nothing_to_ingest(ws: Workspace) -> None:
    out = stages.ingest_landing(ws)
    assert out.snapshot_id is None and out.created is False and out.rows == 0
    with pytest.raises(NothingToDo, match="no snapshot to train on"):
        stages.plan_training(ws, None, None, {"kind": "test"})


def test_ingest_snapshots_good_file_and_quarantines_malformed(ws: Workspace) -> None:
    batch = generate_batch(BATCH_1)
    _drop(ws, batch, "customers.csv")
    _drop(ws, batch.head(50).rename(columns={"monthly_charges": "monthly_charge"}), "broken.csv")

    out = stages.ingest_landing(ws)

    assert out.created is True
    assert out.rows == out.new_rows == len(batch)
    assert out.accepted == ["customers.csv"]
    assert [(q["file"], q["code"]) for q in out.quarantined] == [("broken.csv", "wrong_columns")]
    # the snapshot exists in the store and in the metadata index
    snap = read_manifest(ws.store, out.snapshot_id)
    assert snap.rows == len(batch) and snap.parent is None
    assert [p.source.name for p in snap.parts] == ["customers.csv"]
    assert ws.meta.latest_snapshot("churn").id == out.snapshot_id
    data = load_snapshot(ws.store, snap)
    assert sorted(data["customer_id"]) == sorted(batch["customer_id"])
    # the malformed file sits in quarantine with a reason; the good one is archived
    q_path = Path(out.quarantined[0]["path"])
    assert q_path.exists() and q_path.is_relative_to(ws.settings.quarantine)
    reason = json.loads((q_path.parent / "broken.csv.reason.json").read_text())
    assert reason["code"] == "wrong_columns"
    assert "monthly_charges" in reason["message"]
    assert reason["details"]["missing"] == ["monthly_charges"]
    archived = list(ws.settings.archive.rglob("customers.csv"))
    assert len(archived) == 1 and archived[0].parent.name == snap.parts[0].source.sha256
    assert _landing_files(ws) == []


def test_success_marker_ingests_fresh_files(settings: Settings, config: PipelineConfig) -> None:
    ws = Workspace(settings=settings, config=_fast(config, stable_seconds=3600))
    batch = generate_batch(BATCH_1)
    _drop(ws, batch, "batch-001/customers.csv")
    assert stages.ready_landing_files(ws) == []
    assert stages.ingest_landing(ws).snapshot_id is None
    (settings.landing / "batch-001" / "_SUCCESS").touch()
    assert stages.ready_landing_files(ws) == ["customers.csv"]
    out = stages.ingest_landing(ws)
    assert out.created is True and out.rows == len(batch)


def test_row_rejects_are_counted_and_kept(ws: Workspace) -> None:
    batch = generate_batch(BATCH_1).astype({"age": object})
    batch.loc[[3, 9], "age"] = "unknown"
    _drop(ws, batch, "rows.csv")
    out = stages.ingest_landing(ws)
    assert out.rejected_rows == 2
    assert out.rows == len(batch) - 2
    rejected = list(ws.settings.quarantine.rglob("rows.rejected_rows.csv"))
    assert len(rejected) == 1
    assert pd.read_csv(rejected[0])["_ct_reject_reason"].tolist() == ["age: not a number"] * 2


def test_reingesting_same_content_is_a_duplicate(ws: Workspace) -> None:
    _drop(ws, generate_batch(BATCH_1), "customers.csv")
    first = stages.ingest_landing(ws)
    manifests = _manifests(ws)
    archived = next(ws.settings.archive.rglob("customers.csv"))
    shutil.copy(archived, ws.settings.landing / "customers-again.csv")

    again = stages.ingest_landing(ws)

    assert again.created is False
    assert again.snapshot_id == first.snapshot_id
    assert again.new_rows == 0 and again.rows == first.rows
    assert [(q["file"], q["code"]) for q in again.quarantined] == [("customers-again.csv", "duplicate_file")]
    assert first.snapshot_id in again.quarantined[0]["message"]
    assert _manifests(ws) == manifests
    assert len(ws.meta.list_snapshots("churn")) == 1
    assert _landing_files(ws) == []


def test_identical_files_in_one_batch_are_taken_once(ws: Workspace) -> None:
    batch = generate_batch(BATCH_1)
    _drop(ws, batch, "customers.csv")
    _drop(ws, batch, "customers-resent.csv")
    out = stages.ingest_landing(ws)
    assert out.rows == len(batch)


def test_consumed_marker_does_not_mark_later_files(settings: Settings, config: PipelineConfig) -> None:
    ws = Workspace(settings=settings, config=_fast(config, stable_seconds=3600))
    _drop(ws, generate_batch(BATCH_1), "customers.csv")
    (settings.landing / "_SUCCESS").touch()
    assert stages.ingest_landing(ws).created is True
    in_progress = _drop(ws, generate_batch(BATCH_2).head(10), "next.csv")  # a producer starts the next batch
    os.utime(in_progress, (time.time(), time.time()))
    assert stages.ready_landing_files(ws) == []


# -- the training loop --------------------------------------------------------------------------------
def test_first_run_registers_and_promotes_v1(ws: Workspace) -> None:
    _drop(ws, generate_batch(BATCH_1), "customers.csv")
    snapshot_id = stages.ingest_landing(ws).snapshot_id

    run = run_training(ws, trigger=TEST)

    plan = run.plan
    assert plan.snapshot_id == snapshot_id
    assert plan.spec_name == "default"
    assert plan.config_hash == ws.config.content_hash()
    assert plan.existing_version is None
    assert plan.trigger == {
        "kind": "test",
        "snapshot_id": snapshot_id,
        "reason": "",
        "evidence": None,
        "covers": [],
        "kinds": ["test"],
    }
    validation, cand, promoted = _done(run)
    assert validation.passed is True
    assert validation.label_contract_held is True
    assert ws.store.exists(validation.report_uri[len(ws.store.root_url) + 1 :])
    assert cand.train_rows + cand.holdout_rows == 600
    assert ws.store.exists(cand.artifact_key)
    assert run.registration == Registration(name="churn-classifier", version=1, created=True)
    assert promoted.promoted is True and promoted.moved is True
    assert promoted.champion == 1
    assert promoted.reason.startswith("first model")

    mv = ws.meta.get_model_version("churn-classifier", 1)
    assert mv.snapshot_id == snapshot_id
    assert mv.aliases == (CHAMPION,)
    assert mv.code_version == "test:0"
    assert mv.validation_id == validation.validation_id
    assert mv.evaluation["champion"] is None
    assert mv.evaluation["cross_validation"]["roc_auc"]["folds"] == 3
    assert mv.decision["promote"] is True
    assert mv.lineage["source_files"][0]["name"] == "customers.csv"
    assert mv.metrics["roc_auc"]["lower"] <= mv.metrics["roc_auc"]["value"] <= mv.metrics["roc_auc"]["upper"]
    page = ws.store.get(model_report_key("churn-classifier", 1)).decode()
    assert "promoted" in page and snapshot_id in page


def test_reruns_are_idempotent(ws: Workspace) -> None:
    _drop(ws, generate_batch(BATCH_1), "customers.csv")
    stages.ingest_landing(ws)
    run = run_training(ws, trigger=TEST)
    plan, (validation, cand, _) = run.plan, _done(run)

    # planning the same inputs again notices the existing version
    again = stages.plan_training(ws, None, None, {"kind": "test"})
    assert again.existing_version == 1
    assert run_training(ws, trigger=TEST).already_trained
    # re-registering the same plan gives the same version
    assert run.evaluation is not None
    reg = stages.register_model(ws, plan, cand, run.evaluation.evaluation_key, validation.validation_id)
    assert reg == Registration(name="churn-classifier", version=1, created=False)
    assert len(ws.meta.list_model_versions("churn-classifier")) == 1
    # retraining with the fixed seed gives the very same artifact
    assert fit_candidate(ws, plan).artifact_sha256 == cand.artifact_sha256
    # validating the champion's own snapshot again (a forced retrain) checks it all, without a reference
    revalidated = stages.validate_snapshot(ws, plan.snapshot_id)
    assert revalidated.passed is True
    assert ws.meta.get_validation(revalidated.validation_id).summary["new_rows"] == 600
    # promoting again writes no second ledger row
    second = stages.promote_if_better(ws, "churn-classifier", 1)
    assert second.promoted is True and second.moved is False and second.champion == 1
    history = ws.meta.promotion_history("churn-classifier")
    assert len(history) == 1
    assert history[0].from_version is None and history[0].to_version == 1


def test_second_batch_makes_v2_with_champion_comparison(ws: Workspace) -> None:
    _drop(ws, generate_batch(BATCH_1), "batch1.csv")
    first = stages.ingest_landing(ws)
    run_training(ws, trigger=TEST)

    _drop(ws, generate_batch(BATCH_2), "batch2.csv")
    second = stages.ingest_landing(ws)
    assert second.created is True
    assert second.rows == 1200 and second.new_rows == 600
    snap = read_manifest(ws.store, second.snapshot_id)
    assert snap.parent == first.snapshot_id
    assert len(snap.parts) == 2

    run = run_training(ws, trigger=TEST)
    checked, _, promoted = _done(run)

    assert run.plan.snapshot_id == second.snapshot_id
    validation = ws.meta.get_validation(checked.validation_id)
    assert validation.reference_snapshot_id == first.snapshot_id
    assert validation.summary["new_rows"] == 600  # only the new part is validated
    assert run.registration == Registration(name="churn-classifier", version=2, created=True)
    assert run.evaluation is not None
    stored = json.loads(ws.store.get(run.evaluation.evaluation_key))
    assert stored["champion"]["version"] == 1
    cmp = stored["champion"]["comparison"]
    assert cmp["metric"] == "roc_auc"
    assert cmp["lower"] <= cmp["difference"] <= cmp["upper"]
    mv2 = ws.meta.get_model_version("churn-classifier", 2)
    assert mv2.evaluation["champion"]["version"] == 1
    decision = mv2.decision
    assert decision["champion_version"] == 1
    assert any(c["check"] == "non_inferiority:roc_auc" for c in decision["checks"])
    # same population, more data: non-inferior, so v2 takes over (fixed seeds make this deterministic)
    assert promoted.promoted is True
    assert promoted.reason.startswith("not worse than the champion")
    assert ws.meta.get_alias("churn-classifier", CHAMPION).version == 2
    history = ws.meta.promotion_history("churn-classifier")
    assert [(h.from_version, h.to_version) for h in history] == [(None, 1), (1, 2)]


def test_forced_promotion_is_recorded(ws: Workspace) -> None:
    _drop(ws, generate_batch(BATCH_1), "batch1.csv")
    stages.ingest_landing(ws)
    run_training(ws, trigger=TEST)
    _drop(ws, generate_batch(BATCH_2), "batch2.csv")
    stages.ingest_landing(ws)
    out = run_training(ws, trigger=TEST, override=True, reason="incident 7", actor="alice").promotion
    assert out is not None
    assert out.promoted is True and out.champion == 2
    assert out.reason == "manual override: incident 7"
    last = ws.meta.promotion_history("churn-classifier")[-1]
    assert (last.from_version, last.to_version, last.actor) == (1, 2, "alice")
    assert ws.meta.get_model_version("churn-classifier", 2).decision["forced"] is True


def test_schema_breaking_batch_fails_validation(ws: Workspace) -> None:
    assert ws.config.validation.expectations.severity == "fail"
    _drop(ws, generate_batch(BATCH_1), "batch1.csv")
    stages.ingest_landing(ws)
    run_training(ws, trigger=TEST)

    bad = generate_batch(BATCH_2)
    bad.loc[: int(len(bad) * 0.8), "region"] = "atlantis"  # a level the config does not declare
    _drop(ws, bad, "batch2.csv")
    out = stages.ingest_landing(ws)
    assert out.created is True  # unknown levels are a validation matter, not an ingest one

    with pytest.raises(ValidationFailed) as info:
        run_training(ws, trigger=TEST)
    msg = str(info.value)
    assert out.snapshot_id in msg
    assert "expectation:expect_column_values_to_be_in_set:region" in msg
    assert "atlantis" in msg
    assert "Full report: file://" in msg
    report_uri = msg.split("Full report: ", 1)[1].split(maxsplit=1)[0]
    assert ws.store.exists(report_uri[len(ws.store.root_url) + 1 :])
    recorded = ws.meta.latest_validation(out.snapshot_id)
    assert recorded is not None and recorded.passed is False and recorded.report_uri == report_uri
    # the champion stays where it was
    assert ws.meta.get_alias("churn-classifier", CHAMPION).version == 1


def test_warn_severity_lets_the_same_batch_through(settings: Settings, config: PipelineConfig) -> None:
    relaxed = _fast(config)
    relaxed = relaxed.model_copy(
        update={
            "validation": relaxed.validation.model_copy(
                update={"expectations": relaxed.validation.expectations.model_copy(update={"severity": "warn"})}
            )
        }
    )
    ws = Workspace(settings=settings, config=relaxed)
    bad = generate_batch(BATCH_1)
    bad.loc[: int(len(bad) * 0.8), "region"] = "atlantis"
    _drop(ws, bad, "batch1.csv")
    stages.ingest_landing(ws)
    result = run_training(ws, trigger=TEST, until="validate").validation
    assert result is not None and result.passed is True
    summary = ws.meta.get_validation(result.validation_id).summary
    failed = [c["name"] for c in summary["checks"] if not c["passed"]]
    assert "expectation:expect_column_values_to_be_in_set:region" in failed


def test_snapshot_frame_unknown_id(ws: Workspace) -> None:
    with pytest.raises(SnapshotError, match="no snapshot"):
        stages.snapshot_frame(ws, "0123456789abcdef")


def test_training_window_limits_the_rows_a_model_is_trained_and_evaluated_on(ws: Workspace) -> None:
    from pipeline.core.config import WindowConfig

    _drop(ws, generate_batch(BATCH_1), "b1.csv")
    stages.ingest_landing(ws)
    _drop(ws, generate_batch(BATCH_2), "b2.csv")
    snapshot_id = stages.ingest_landing(ws).snapshot_id
    last_only = Workspace(
        settings=ws.settings, config=ws.config.model_copy(update={"window": WindowConfig(kind="last_parts", value=1)})
    )

    result = run_training(last_only, snapshot_id=snapshot_id, trigger=TEST)

    assert result.evaluation is not None and result.registration is not None
    candidate, evaluation = (
        result.evaluation.candidate,
        json.loads(last_only.store.get(result.evaluation.evaluation_key)),
    )
    assert candidate.train_rows + candidate.holdout_rows == BATCH_2.rows
    assert evaluation["train_rows"] + evaluation["holdout_rows"] == BATCH_2.rows
    mv = last_only.meta.get_model_version("churn-classifier", result.registration.version)
    last_part = read_manifest(last_only.store, snapshot_id).parts[-1]
    assert mv.lineage["snapshot_parts"] == [last_part.id]
    assert mv.lineage["window"] == {"kind": "last_parts", "value": 1.0}
    assert [f["sha256"] for f in mv.lineage["source_files"]] == [last_part.source.sha256]


def test_a_scheduled_run_trains_only_a_snapshot_the_monitor_has_checked(ws: Workspace) -> None:
    from pipeline.app.stages.monitor import hand_over_to_training, latest_checked_snapshot, retrain_decision
    from pipeline.app.stages.monitor import score_snapshot as score

    def score_snapshot(ws: Workspace, snapshot_id: str) -> None:  # ct_monitor: score, then hand over
        scored = score(ws, snapshot_id)
        assert latest_checked_snapshot(ws) != snapshot_id, "scored but not handed over yet: not checked"
        hand_over_to_training(ws, retrain_decision({"retrain": False}, scored))

    _drop(ws, generate_batch(BATCH_1), "first.csv")
    first = stages.ingest_landing(ws).snapshot_id
    with pytest.raises(NothingToDo, match="checked by ct_monitor"):
        stages.plan_training(ws, None, None, {"kind": "schedule"})
    score_snapshot(ws, first)
    assert stages.plan_training(ws, None, None, {"kind": "schedule"}).snapshot_id == first

    _drop(ws, generate_batch(BATCH_2), "second.csv")
    second = stages.ingest_landing(ws).snapshot_id
    # ingested but not scored yet: the clock keeps to the checked one; a manual run takes the newest
    assert stages.plan_training(ws, None, None, {"kind": "schedule"}).snapshot_id == first
    assert stages.plan_training(ws, None, None, {"kind": "manual"}).snapshot_id == second
    score_snapshot(ws, second)
    assert stages.plan_training(ws, None, None, {"kind": "schedule"}).snapshot_id == second


def test_a_forced_run_on_trained_inputs_keeps_one_version_and_records_why(ws: Workspace) -> None:
    _drop(ws, generate_batch(BATCH_1), "customers.csv")
    stages.ingest_landing(ws)
    run = run_training(ws, trigger=TEST)
    validation, candidate, _ = _done(run)
    forced = replace(
        run.plan, force=True, trigger={"kind": "manual", "run_id": "manual__1", "user": "ana", "reason": "new sklearn"}
    )
    assert run.evaluation is not None
    reg = stages.register_model(ws, forced, candidate, run.evaluation.evaluation_key, validation.validation_id)
    assert reg == Registration(name="churn-classifier", version=1, created=False)
    again = stages.register_model(
        ws, forced, candidate, run.evaluation.evaluation_key, validation.validation_id
    )  # a task retry: still one tag
    assert again.created is False
    version = ws.meta.get_model_version("churn-classifier", 1)
    assert json.loads(version.tags["forced_rerun:manual__1"]) == {
        "kind": "manual",
        "user": "ana",
        "reason": "new sklearn",
        "artifact": "same artifact",
    }
    assert [k for k in version.tags if k.startswith("forced_rerun:")] == ["forced_rerun:manual__1"]
    assert version.trigger["kind"] == "test"  # the version's own provenance is untouched
