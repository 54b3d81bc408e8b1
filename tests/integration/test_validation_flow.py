"""Validation inside the training loop, driven through the pure stages (no Airflow).

A drifted batch is flagged feature by feature while training goes on; a schema-breaking batch
stops the run with a readable error; an append reads only the new part; the suite file is made
once and then left alone; ``ct validate`` shows or computes results.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from pipeline.app import stages
from pipeline.app.demo_data import BatchSpec, generate_batch
from pipeline.app.training_flow import run_training
from pipeline.app.workspace import Workspace
from pipeline.cli import main
from pipeline.core.config import PipelineConfig
from pipeline.core.errors import ValidationFailed
from pipeline.core.settings import Settings
from pipeline.registry.base import CHAMPION

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("fixed_code_version")]

FIRST = BatchSpec(rows=800, seed=11, first_id=0)
SECOND = BatchSpec(rows=800, seed=12, first_id=100_000)
DRIFTED = BatchSpec(rows=800, seed=13, churn_share=0.7, drift=True, first_id=200_000)


@pytest.fixture
def ws(settings: Settings, config: PipelineConfig) -> Workspace:
    fast = config.model_copy(
        update={
            "evaluation": config.evaluation.model_copy(update={"bootstrap_resamples": 200, "folds": 3}),
            "ingest": config.ingest.model_copy(update={"stable_seconds": 0}),
            # 800-row batches give ~150 holdout rows, below the bundled minimum of 200: lowered, as the
            # champion here only serves as the validation reference
            "promotion": config.promotion.model_copy(update={"min_holdout_rows": 50, "min_class_rows": 10}),
        }
    )
    return Workspace(settings=settings, config=fast)


def _ingest(ws: Workspace, spec: BatchSpec, name: str, **columns: Any) -> str:
    frame = generate_batch(spec).assign(**columns)
    ws.settings.landing.mkdir(parents=True, exist_ok=True)
    frame.to_csv(ws.settings.landing / name, index=False)
    return stages.ingest_landing(ws).snapshot_id


def _key(ws: Workspace, uri: str) -> str:
    return uri[len(ws.store.root_url) + 1 :]


def _ct(run_ct: Callable[..., tuple[int, str, str]], settings: Settings, *argv: str) -> str:
    code, out, err = run_ct(settings, *argv)
    assert code == 0, err
    return out


def test_drifted_batch_is_flagged_while_training_goes_on(
    ws: Workspace,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
    run_ct: Callable[..., tuple[int, str, str]],
) -> None:
    _ingest(ws, FIRST, "first.csv")
    run_training(ws, trigger={"kind": "test"})
    drifted_snapshot = _ingest(ws, DRIFTED, "drifted.csv")

    run = run_training(ws, trigger={"kind": "test"})

    validation = run.validation
    assert validation is not None and validation.passed is True  # drift is a reason to retrain, not to stop
    assert run.registration is not None and run.registration.version == 2
    summary = ws.meta.get_validation(validation.validation_id).summary
    features = {f["feature"]: f for f in summary["drift"]["features"]}
    for shifted in ("monthly_charges", "support_calls", "contract"):
        assert features[shifted]["drifted"] is True, features[shifted]
    for stable in ("age", "region", "payment_method"):
        assert features[stable]["drifted"] is False, features[stable]
    assert {"test", "score", "p_value", "effect_size", "threshold"} <= set(features["age"])
    assert summary["label_contract_held"] is False
    assert "label_contract" in validation.warnings
    checks = {c["name"]: c for c in summary["checks"]}
    assert (checks["drift"]["severity"], checks["drift"]["outcome"]) == ("info", "failed")
    # Data Docs are published beside the summary page, which links to them relatively
    assert validation.data_docs_uri is not None
    docs_key = _key(ws, validation.data_docs_uri)
    assert docs_key.startswith("reports/validation/data_docs/validations/churn/")
    assert "values must belong to this set" in ws.store.get(docs_key).decode()
    page = ws.store.get(_key(ws, validation.report_uri)).decode()
    assert f'href="{docs_key.removeprefix("reports/validation/")}"' in page

    shown = json.loads(_ct(run_ct, ws.settings, "validate", drifted_snapshot[:10], "--json"))
    assert shown["stored"] is True and shown["validation_id"] == validation.validation_id
    assert {f["feature"]: f["drifted"] for f in shown["features"]}["monthly_charges"] is True
    assert {(c["name"], c["outcome"]) for c in shown["checks"]} >= {("drift", "failed"), ("label_contract", "failed")}


def test_schema_breaking_batch_stops_with_a_readable_error(ws: Workspace) -> None:
    _ingest(ws, FIRST, "first.csv")
    run_training(ws, trigger={"kind": "test"})
    broken = _ingest(ws, SECOND, "second.csv", contract="weekly")

    with pytest.raises(ValidationFailed) as info:
        run_training(ws, trigger={"kind": "test"})

    message = str(info.value)
    assert message.startswith(f"validation failed for snapshot {broken}: 1 check(s) with severity 'fail'")
    assert "expectation:expect_column_values_to_be_in_set:contract: " in message and "'weekly'" in message
    assert "800 unexpected (100.00%)" in message
    report_uri = message.split("Full report: ", 1)[1].split(maxsplit=1)[0]
    docs_uri = message.split("Data Docs: ", 1)[1].split(maxsplit=1)[0]
    assert ws.store.exists(_key(ws, report_uri)) and ws.store.exists(_key(ws, docs_uri))
    assert ws.meta.latest_validation(broken).passed is False
    assert ws.meta.get_alias("churn-classifier", CHAMPION).version == 1


def test_an_append_reads_only_the_new_part(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = Workspace(
        ws.settings,
        ws.config.model_copy(
            update={
                "validation": ws.config.validation.model_copy(
                    update={"expectations": ws.config.validation.expectations.model_copy(update={"data_docs": "never"})}
                )
            }
        ),
    )
    opened: list[str] = []
    original = type(ws.store).open

    def counting_open(store, key, mode="rb"):
        if key.startswith("snapshots/parts/"):
            opened.append(key)
        return original(store, key, mode)

    monkeypatch.setattr(type(ws.store), "open", counting_open)
    _ingest(ws, FIRST, "first.csv")
    run_training(ws, trigger={"kind": "test"})
    for spec, name in ((SECOND, "second.csv"), (DRIFTED, "third.csv")):
        snapshot = _ingest(ws, spec, name)
        opened.clear()
        result = stages.validate_snapshot(ws, snapshot)
        # one new part read; the champion's snapshot (a new one after the second run) is never read
        assert len(opened) == 1 and result.parts_read == 1
        stats = ws.meta.get_validation(result.validation_id).summary["statistics"]
        assert stats["new_parts"] == 1 and stats["statistics_computed"] == 1
        run_training(ws, snapshot_id=snapshot, trigger={"kind": "test"}, override=True, reason="move the reference")


def test_suite_is_made_once_then_left_alone_and_overrides_apply(
    ws: Workspace,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
    run_ct: Callable[..., tuple[int, str, str]],
) -> None:
    first = _ingest(ws, FIRST, "first.csv")
    run_training(ws, trigger={"kind": "test"})
    suite = ws.settings.home / "expectations" / "churn.json"  # bundled config: never written into the checkout
    made = suite.read_bytes()
    assert json.loads(made)["meta"]["ct"]["generated_from"] == first
    assert (ws.settings.home / "expectations" / "churn.overrides.yaml").exists()

    overrides = suite.with_name("churn.overrides.yaml")
    overrides.write_text('change: {"expect_column_values_to_be_in_set:region": {severity: warn}}\n')
    second = _ingest(ws, SECOND, "second.csv", region="atlantis")
    result = stages.validate_snapshot(ws, second)  # a fail-severity check relaxed to warn by the overrides
    assert result.passed is True
    assert "expectation:expect_column_values_to_be_in_set:region" in result.warnings
    assert suite.read_bytes() == made

    out = _ct(run_ct, ws.settings, "validate", "--suite-from", second, "--json")
    regenerated = json.loads(out)
    assert regenerated["replaced"] is True and regenerated["generated_from"] == second
    assert json.loads(suite.read_text())["meta"]["ct"]["generated_from"] == second
    assert suite.with_name("churn.json.bak").read_bytes() == made

    computed = json.loads(_ct(run_ct, ws.settings, "validate", second, "--reference", first, "--recompute", "--json"))
    assert computed["stored"] is False and computed["reference_snapshot_id"] == first
    assert {f["feature"] for f in computed["features"]} == set(ws.config.dataset.feature_names)
    text = _ct(run_ct, ws.settings, "validate", second)
    assert "stored validation #" in text and "drift (share" in text


def test_recompute_reproduces_the_stored_result_or_says_why_not(
    ws: Workspace,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
    run_ct: Callable[..., tuple[int, str, str]],
) -> None:
    first = _ingest(ws, FIRST, "first.csv")
    run_training(ws, trigger={"kind": "test"})
    drifted = _ingest(ws, DRIFTED, "drifted.csv")
    run = run_training(ws, trigger={"kind": "test"})
    if ws.meta.get_alias("churn-classifier", CHAMPION).version != 2:
        stages.promote_if_better(ws, "churn-classifier", 2, force=True, reason="make the drifted batch the reference")
    assert run.validation is not None
    stored = ws.meta.get_validation(run.validation.validation_id)
    assert stored.reference_snapshot_id == first  # and today's champion trained on `drifted` itself

    redone = json.loads(_ct(run_ct, ws.settings, "validate", drifted, "--recompute", "--json"))

    assert redone["stored"] is False and redone["reference_snapshot_id"] == first
    assert (redone["passed"], redone["new_rows"]) == (stored.passed, stored.summary["new_rows"])

    def failed(checks: list[dict[str, Any]]) -> set[tuple[str, str]]:
        return {(c["name"], c["severity"]) for c in checks if c["outcome"] == "failed"}

    assert failed(redone["checks"]) == failed(stored.summary["checks"])
    assert ("label_contract", "warn") in failed(redone["checks"])  # there is something to reproduce
    assert redone["reproduced"] is True and redone["reproduces"] == stored.id
    assert any(n.startswith(f"reproduces stored result #{stored.id}") for n in redone["notes"])

    own = json.loads(_ct(run_ct, ws.settings, "validate", drifted, "--recompute", "--reference", drifted, "--json"))
    assert own["reproduced"] is None and own["reference_snapshot_id"] is None
    assert any(f"snapshot {drifted} is its own reference" in n and "no new rows" in n for n in own["notes"])
    assert any(f"stored result #{stored.id} used reference {first}" in n for n in own["notes"])

    from pipeline.data.snapshots import manifest_key

    ws.store.delete(manifest_key(first))  # the stored reference is gone
    capsys.readouterr()
    assert main(["validate", drifted, "--recompute"]) == 2
    err = capsys.readouterr().err
    assert f"cannot recompute validation #{stored.id} of snapshot {drifted}" in err
    assert f"reference snapshot {first} no longer exists" in err and "--reference SNAPSHOT" in err


def test_data_docs_failure_does_not_stop_training(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> str:
        raise RuntimeError("renderer exploded")

    monkeypatch.setattr(stages.validate, "publish_data_docs", broken)
    snapshot = _ingest(ws, FIRST, "first.csv")
    result = stages.validate_snapshot(ws, snapshot)
    assert result.passed is True and result.data_docs_uri is None
    assert "Data Docs could not be built" in caplog.text
