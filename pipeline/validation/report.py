"""Validate the new data of a snapshot and decide, by severity, whether training may go on.

Checks: the great-expectations schema suite on the new parts, drift of every feature against the
reference (the champion's training snapshot), the label contract (expected class shares with a
tolerance), and label parity between the training part and the holdout. Each check carries the
severity configured for it: ``fail`` stops the run, ``warn`` and ``info`` are recorded. Drift is a
reason to retrain, not to stop, unless configured as ``fail``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from pipeline.config import PipelineConfig
from pipeline.errors import ValidationFailed
from pipeline.validation.drift import DriftReport, detect_drift
from pipeline.validation.expectations import run_expectations
from pipeline.validation.label_contract import (
    LabelContractResult,
    check_label_contract,
    check_label_parity,
    expected_shares_from,
)

log = logging.getLogger(__name__)

MAX_LISTED_FAILURES = 10


@dataclass(frozen=True)
class CheckResult:
    name: str
    severity: str
    passed: bool
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "severity": self.severity, "passed": self.passed,
                "message": self.message, "details": self.details}


@dataclass(frozen=True)
class ValidationReport:
    """Everything one validation found, in a shape that is stored and rendered as is."""

    snapshot_id: str
    reference_snapshot_id: str | None
    new_rows: int
    checks: tuple[CheckResult, ...]
    drift: DriftReport | None
    label_contract: LabelContractResult | None

    @property
    def passed(self) -> bool:
        """False when any ``fail``-severity check did not pass."""
        return not self.blocking_failures

    @property
    def blocking_failures(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed and c.severity == "fail"]

    @property
    def drifted_features(self) -> list[str]:
        return self.drift.drifted_features if self.drift else []

    @property
    def label_contract_held(self) -> bool | None:
        return self.label_contract.held if self.label_contract else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "snapshot_id": self.snapshot_id,
            "reference_snapshot_id": self.reference_snapshot_id,
            "new_rows": self.new_rows,
            "passed": self.passed,
            "drifted_features": self.drifted_features,
            "label_contract_held": self.label_contract_held,
            "checks": [c.to_dict() for c in self.checks],
            "drift": self.drift.to_dict() if self.drift else None,
            "label_contract": self.label_contract.to_dict() if self.label_contract else None,
        }

    def summary_lines(self) -> list[str]:
        """A few plain sentences for the task log."""
        failed = [c for c in self.checks if not c.passed]
        lines = [f"validation of snapshot {self.snapshot_id} ({self.new_rows} new rows, reference "
                 f"{self.reference_snapshot_id or 'none'}): {'PASSED' if self.passed else 'FAILED'}; "
                 f"{len(self.checks) - len(failed)}/{len(self.checks)} checks passed"]
        for c in failed[:MAX_LISTED_FAILURES]:
            lines.append(f"  [{c.severity}] {c.name}: {c.message}")
        if len(failed) > MAX_LISTED_FAILURES:
            lines.append(f"  ... and {len(failed) - MAX_LISTED_FAILURES} more (see the report)")
        return lines


def failure_message(report: ValidationReport, report_uri: str | None) -> str:
    """The error text of a stopped run: counts, the first failed checks and where the report is."""
    failures = report.blocking_failures
    lines = [f"validation failed for snapshot {report.snapshot_id}: {len(failures)} check(s) with severity "
             f"'fail' did not pass; training was stopped."]
    lines += [f"  - {c.name}: {c.message}" for c in failures[:MAX_LISTED_FAILURES]]
    if len(failures) > MAX_LISTED_FAILURES:
        lines.append(f"  ... and {len(failures) - MAX_LISTED_FAILURES} more")
    if report_uri:
        lines.append(f"Full report: {report_uri}")
    lines.append("Fix the data (quarantine it) or relax the severity in validation.* of the config, then rerun.")
    return "\n".join(lines)


def validate_frames(
    config: PipelineConfig,
    snapshot_id: str,
    new_data: pd.DataFrame,
    reference_snapshot_id: str | None,
    reference_profiles: dict[str, Any] | None,
    reference_labels: pd.Series | None,
    train_labels: pd.Series | None,
    holdout_labels: pd.Series | None,
) -> ValidationReport:
    """Run every check on the new rows of a snapshot; pure apart from logging."""
    vcfg = config.validation
    dataset = config.dataset
    checks: list[CheckResult] = []

    for outcome in run_expectations(new_data, dataset, vcfg.expectations):
        checks.append(CheckResult(
            name=f"expectation:{outcome.expectation}" + (f":{outcome.column}" if outcome.column else ""),
            severity=vcfg.expectations.severity, passed=outcome.success,
            message="ok" if outcome.success else outcome.describe(), details=outcome.to_dict()))

    drift: DriftReport | None = None
    if reference_profiles and not new_data.empty:
        drift = detect_drift(reference_profiles, new_data, tests=vcfg.drift.tests or None,
                             thresholds=vcfg.drift.thresholds or None,
                             dataset_drift_share=vcfg.drift.dataset_drift_share)
        drifted = drift.drifted_features
        checks.append(CheckResult(
            name="drift", severity=vcfg.drift.severity, passed=not drifted,
            message=(f"{len(drifted)} of {len(drift.features)} features drifted: {drifted} "
                     f"(share {drift.drift_share:.0%})" if drifted else "no feature drifted"),
            details={"drifted_features": drifted, "drift_share": drift.drift_share}))
    else:
        checks.append(CheckResult(name="drift", severity="info", passed=True,
                                  message="no reference snapshot yet (no champion); drift not measured"))

    expected = vcfg.label_contract.expected_shares
    if expected is None and reference_labels is not None and len(reference_labels):
        expected = expected_shares_from(reference_labels)
    label: LabelContractResult | None = None
    if expected:
        label = check_label_contract(new_data[dataset.label], expected, vcfg.label_contract.tolerance)
        checks.append(CheckResult(name="label_contract", severity=vcfg.label_contract.severity,
                                  passed=label.held, message=label.message, details=label.to_dict()))
    else:
        checks.append(CheckResult(name="label_contract", severity="info", passed=True,
                                  message="no expected shares configured and no reference yet; contract not checked"))

    if train_labels is not None and holdout_labels is not None and len(holdout_labels):
        parity = check_label_parity(train_labels, holdout_labels, vcfg.parity_tolerance)
        checks.append(CheckResult(name="split_parity", severity="warn", passed=parity.held,
                                  message=parity.message, details=parity.to_dict()))

    report = ValidationReport(snapshot_id=snapshot_id, reference_snapshot_id=reference_snapshot_id,
                              new_rows=len(new_data), checks=tuple(checks), drift=drift, label_contract=label)
    for line in report.summary_lines():
        log.info(line)
    return report


def raise_if_blocked(report: ValidationReport, report_uri: str | None) -> None:
    """Stop the run with a readable error when a ``fail``-severity check did not pass."""
    if not report.passed:
        raise ValidationFailed(failure_message(report, report_uri))
