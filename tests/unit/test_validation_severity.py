"""Severity handling: fail stops the run with a readable error, warn alerts, info only records."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from pipeline.core.config import PipelineConfig
from pipeline.core.errors import ValidationFailed
from pipeline.quality.drift import profile_frame
from pipeline.quality.suite import Expectation, Suite
from pipeline.quality.validation_report import (
    MAX_LISTED_FAILURES,
    CheckResult,
    ValidationReport,
    failure_message,
    raise_if_blocked,
    validate_frames,
)


def _report(*checks: CheckResult) -> ValidationReport:
    return ValidationReport(
        snapshot_id="s1", reference_snapshot_id=None, new_rows=10, checks=checks, drift=None, label_contract=None
    )


@pytest.mark.parametrize(("severity", "blocks"), [("fail", True), ("warn", False), ("info", False)])
def test_only_failed_fail_checks_block(severity: str, blocks: bool) -> None:
    report = _report(CheckResult("a", severity, False, "broken"), CheckResult("b", "fail", True, "ok"))
    assert report.passed is not blocks
    assert [c.name for c in report.blocking_failures] == (["a"] if blocks else [])
    assert report.to_dict()["failed_checks"] == {s: int(s == severity) for s in ("fail", "warn", "info")}
    if blocks:
        with pytest.raises(ValidationFailed):
            raise_if_blocked(report, None)
    else:
        raise_if_blocked(report, None)


def test_failure_message_lists_at_most_ten_and_where_the_report_is() -> None:
    checks = [CheckResult(f"check{i:02d}", "fail", False, f"reason {i}") for i in range(13)]
    report = _report(*checks, CheckResult("soft", "warn", False, "only a warning"))
    message = failure_message(report, "file:///r/report.html")
    lines = message.splitlines()
    assert lines[0].startswith("validation failed for snapshot s1: 13 check(s)")
    listed = [line for line in lines if line.startswith("  - ")]
    assert len(listed) == MAX_LISTED_FAILURES == 10
    assert "  - check00: reason 0" in lines and "check10" not in message
    assert "  ... and 3 more" in lines
    assert "soft" not in message  # warnings do not explain a stop
    assert "Full report: file:///r/report.html" in lines


def test_stored_summary_has_name_severity_and_outcome_per_check() -> None:
    report = _report(CheckResult("a", "warn", False, "broken"), CheckResult("b", "fail", True, "ok"))
    checks = report.to_dict()["checks"]
    assert [(c["name"], c["severity"], c["outcome"]) for c in checks] == [
        ("a", "warn", "failed"),
        ("b", "fail", "passed"),
    ]


def _suite(severity: str) -> Suite:
    return Suite(
        name="t",
        expectations=(
            Expectation(
                "in_set:region",
                "expect_column_values_to_be_in_set",
                {"column": "region", "value_set": ["n"]},
                severity,
                "schema",
            ),
        ),
    )


def _config(config: PipelineConfig, drift: str) -> PipelineConfig:
    v = config.validation
    return config.model_copy(
        update={
            "validation": v.model_copy(
                update={
                    "drift": v.drift.model_copy(update={"severity": drift}),
                    "label_contract": v.label_contract.model_copy(update={"expected_shares": None}),
                }
            )
        }
    )


def _frames(shift: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"x": rng.normal(0, 1, 2_000), "region": ["n"] * 2_000, "churned": ["no", "yes"] * 1_000})
    new = pd.DataFrame(
        {"x": rng.normal(shift, 1, 2_000), "region": ["n"] * 1_990 + ["s"] * 10, "churned": ["no", "yes"] * 1_000}
    )
    return ref, new


@pytest.mark.parametrize("drift_severity", ["info", "warn", "fail"])
def test_drift_blocks_only_when_configured_as_fail(
    config: PipelineConfig, drift_severity: str, caplog: pytest.LogCaptureFixture
) -> None:
    ref, new = _frames(shift=1.0)
    with caplog.at_level(logging.INFO, logger="pipeline.quality.validation_report"):
        report = validate_frames(
            _config(config, drift_severity),
            "s2",
            new,
            _suite("warn"),
            reference_snapshot_id="s1",
            reference_profiles=profile_frame(ref, ["x"], []),
        )
    assert report.drifted_features == ["x"]
    assert report.passed is (drift_severity != "fail")
    drift = next(c for c in report.checks if c.name == "drift")
    assert drift.severity == drift_severity and not drift.passed
    # the failed warn expectation is logged as a warning: that is its alert
    warned = [r for r in caplog.records if "expectation:in_set:region" in r.getMessage()]
    assert warned and warned[0].levelno == logging.WARNING


def test_expectation_severity_comes_from_the_suite(config: PipelineConfig) -> None:
    _, new = _frames(shift=0.0)
    blocking = validate_frames(_config(config, "info"), "s2", new, _suite("fail"))
    assert not blocking.passed
    message = failure_message(blocking, "file:///x.html")
    assert "expectation:in_set:region" in message and "'s'" in message and "10 unexpected" in message
    assert validate_frames(_config(config, "info"), "s2", new, _suite("info")).passed
