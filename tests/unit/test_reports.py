"""Unit tests for pipeline.reporting.pages: HTML pages escape their values and show the key numbers."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from pipeline.core.storage import ObjectStore
from pipeline.quality.drift import DriftReport, FeatureDrift
from pipeline.quality.label_contract import LabelContractResult
from pipeline.quality.validation_report import CheckResult, ValidationReport
from pipeline.registry.base import ModelVersion
from pipeline.reporting.pages import (
    model_report_key,
    render_model_html,
    render_validation_html,
    write_model_report,
    write_validation_report,
)

EVIL = "<script>alert(1)</script>"


class _Collector(HTMLParser):
    """Collects tag names and text, to check what a browser would see."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def _parse(page: str) -> _Collector:
    c = _Collector()
    c.feed(page)
    return c


def _report(snapshot_id: str = "abc123", reference: str | None = "ref456", passed: bool = False) -> ValidationReport:
    checks = (
        CheckResult(
            "expectation:expect_column_values_to_be_in_set:region",
            "fail",
            passed,
            f"region: 12 unexpected, e.g. ['{EVIL}']",
        ),
        CheckResult("label_contract", "warn", True, "held"),
    )
    drift = DriftReport(
        features=(
            FeatureDrift("monthly_charges", "numeric", "ks", 0.3125, 0.0001234, 0.0004321, 0.42, 0.05, True),
            FeatureDrift(f"feat{EVIL}", "categorical", "chi_square", 1.5, 0.5, 0.6, 0.01, 0.05, False),
        ),
        drift_share=0.5,
        dataset_drifted=True,
    )
    label = LabelContractResult(
        observed_shares={"no": 0.7, "yes": 0.3},
        expected_shares={"no": 0.5, "yes": 0.5},
        counts={"no": 70, "yes": 30},
        max_deviation=0.2,
        tolerance=0.1,
        chi2=16.0,
        p_value=0.0001,
        held=False,
        message=f"share of 'no' is 0.70 {EVIL}",
    )
    return ValidationReport(
        snapshot_id=snapshot_id,
        reference_snapshot_id=reference,
        new_rows=1234,
        checks=checks,
        drift=drift,
        label_contract=label,
    )


def _model_version(**over) -> ModelVersion:
    est = {"value": 0.87654, "lower": 0.81234, "upper": 0.91234, "std": 0.02}
    evaluation = {
        "train_rows": 800,
        "holdout_rows": 200,
        "seconds": 1.0,
        "holdout": {"roc_auc": est},
        "cross_validation": {"roc_auc": {"mean": 0.8555, "std": 0.0123, "folds": 3}},
        "champion": {
            "version": 1,
            "holdout": {"roc_auc": 0.85},
            "comparison": {
                "metric": "roc_auc",
                "challenger": 0.87654,
                "champion": 0.85,
                "difference": 0.02654,
                "lower": -0.0042,
                "upper": 0.0571,
                "prob_challenger_better": 0.93,
                "n_resamples": 200,
            },
        },
    }
    decision = {
        "promote": False,
        "reason": f"may be worse {EVIL}",
        "forced": False,
        "champion_version": 1,
        "checks": [{"check": "floor:roc_auc", "passed": True, "value": 0.87, "floor": 0.6}],
    }
    base = {
        "name": f"churn{EVIL}",
        "version": 2,
        "snapshot_id": "snap789",
        "config_hash": "cfghash",
        "spec_name": f"spec{EVIL}",
        "params": {"estimator": "logistic_regression", "C": EVIL},
        "metrics": evaluation["holdout"],
        "evaluation": evaluation,
        "artifact_uri": "artifacts/x.joblib",
        "artifact_sha256": "f" * 64,
        "validation_id": 1,
        "trigger": {"kind": EVIL},
        "code_version": "pkg:0.1",
        "lineage": {},
        "decision": decision,
        "aliases": ("candidate",),
        "created_at": "2024-01-01T00:00:00+00:00",
    }
    return ModelVersion(**{**base, **over})


# -- validation page ----------------------------------------------------------------------------------
def test_validation_html_escapes_values() -> None:
    page = render_validation_html(_report())
    assert EVIL not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "script" not in _parse(page).tags


def test_validation_html_has_key_numbers() -> None:
    page = render_validation_html(_report())
    text = " ".join(_parse(page).text)
    assert "abc123" in text and "ref456" in text
    assert "1234 new rows" in text
    assert "expectation:expect_column_values_to_be_in_set:region" in text
    assert "failed" in text
    assert "share of drifted features 50%" in text
    assert "monthly_charges" in text and "0.3125" in text and "0.0001234" in text
    assert "drifted" in text and "stable" in text
    assert "Label contract" in text and "broken" in text
    assert "0.7" in text and "70" in text


def test_validation_html_without_reference_or_drift() -> None:
    report = ValidationReport(
        snapshot_id="s1",
        reference_snapshot_id=None,
        new_rows=5,
        checks=(CheckResult("drift", "info", True, "no reference"),),
        drift=None,
        label_contract=None,
    )
    page = render_validation_html(report)
    text = " ".join(_parse(page).text)
    assert "none" in text
    assert "passed" in text
    assert "Drift" not in text and "Label contract" not in text


def test_validation_html_escapes_title() -> None:
    page = render_validation_html(_report(snapshot_id=EVIL))
    assert EVIL not in page


def test_write_validation_report(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path.as_uri())
    uri = write_validation_report(store, _report())
    assert uri.startswith(tmp_path.as_uri()) and uri.endswith(".html")
    key = uri[len(store.root_url) + 1 :]
    assert key.startswith("reports/validation/abc123_ref456_")
    assert store.get(key).decode() == render_validation_html(_report())
    assert store.exists(key[:-5] + ".json")
    assert write_validation_report(store, _report()) == uri  # same content, same place


# -- model page ---------------------------------------------------------------------------------------
def test_model_html_escapes_values() -> None:
    page = render_model_html(_model_version())
    assert EVIL not in page
    assert "&lt;script&gt;" in page
    assert "script" not in _parse(page).tags


def test_model_html_has_key_numbers() -> None:
    text = " ".join(_parse(render_model_html(_model_version())).text)
    assert "v2" in text
    assert "snap789" in text and "cfghash" in text and "candidate" in text
    assert "0.8765" in text  # holdout value, 4 significant digits
    assert "0.8123" in text and "0.9123" in text  # interval
    assert "0.8555" in text and "0.0123" in text  # CV mean and std
    assert "200 rows" in text and "800 training rows" in text
    assert "Against champion v1" in text
    assert "0.02654" in text and "-0.0042" in text and "0.93" in text
    assert "not promoted" in text and "may be worse" in text
    assert "floor:roc_auc" in text


def test_model_html_without_champion_or_decision() -> None:
    ev = dict(_model_version().evaluation, champion=None)
    page = render_model_html(_model_version(decision=None, aliases=(), evaluation=ev))
    text = " ".join(_parse(page).text)
    assert "aliases" in text and "—" in text
    assert "Against champion" not in text
    assert "Promotion decision" not in text


def test_write_model_report_replaces(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path.as_uri())
    mv = _model_version(name="churn")
    uri = write_model_report(store, mv)
    key = model_report_key("churn", 2)
    assert uri == store.uri(key)
    first = store.get(key).decode()
    assert "not promoted" in first
    promoted = _model_version(name="churn", decision={**mv.decision, "promote": True, "reason": "ok"})
    write_model_report(store, promoted)
    assert store.get(key).decode() != first
    assert "promoted" in store.get(key).decode() and "not promoted" not in store.get(key).decode()
