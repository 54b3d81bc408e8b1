"""Validate the new data of a snapshot and decide, by severity, whether training may go on.

Checks: the expectation suite on the new parts, drift of every feature against the reference
(the champion's training snapshot), the label contract (classification: expected class shares
with a tolerance; regression: range, missing share and drift of the label against the
reference's), and label parity between the training part and the holdout (class shares, or for
regression the KS gap between the two label distributions within ``parity_tolerance``). Each
check carries a severity:

* ``fail`` — when it does not pass the run stops (:class:`ValidationFailed`, which lists at most
  ten failed checks and where the full report is) and Airflow's failure alerting takes over;
* ``warn`` — recorded, and logged as a warning on the task log (the alert);
* ``info`` — recorded only.

Drift is a reason to retrain, not to stop (``info`` by default), unless configured as ``fail``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from pipeline.core.config import PipelineConfig
from pipeline.core.errors import ValidationFailed
from pipeline.quality.drift import DriftReport, NumericProfile, Profile, detect_drift
from pipeline.quality.expectations import ExpectationOutcome, evaluate_suite
from pipeline.quality.label_contract import (
    LabelContractResult,
    check_label_contract_counts,
    check_label_parity_counts,
    check_label_parity_numeric,
    check_regression_label,
    label_counts,
    shares_from_counts,
)
from pipeline.quality.suite import Suite

log = logging.getLogger(__name__)

MAX_LISTED_FAILURES = 10
SEVERITIES = ("fail", "warn", "info")


@dataclass(frozen=True)
class CheckResult:
    """One named check: its severity, whether it passed, a one-line message and its evidence."""

    name: str
    severity: str
    passed: bool
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def outcome(self) -> str:
        """``passed`` or ``failed`` (a failed ``warn``/``info`` check does not stop the run)."""
        return "passed" if self.passed else "failed"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: name, severity, outcome, passed, message, details."""
        return {
            "name": self.name,
            "severity": self.severity,
            "outcome": self.outcome,
            "passed": self.passed,
            "message": self.message,
            "details": self.details,
        }


@dataclass(frozen=True)
class ValidationReport:
    """Everything one validation found, in a shape that is stored and rendered as is."""

    snapshot_id: str
    reference_snapshot_id: str | None
    new_rows: int
    checks: tuple[CheckResult, ...]
    drift: DriftReport | None
    label_contract: LabelContractResult | None
    suite: dict[str, Any] | None = None
    data_docs_uri: str | None = None
    statistics: dict[str, Any] = field(default_factory=dict)
    outcomes: tuple[ExpectationOutcome, ...] = field(default=(), repr=False, compare=False)
    """The expectation outcomes behind the ``expectation:*`` checks (for Data Docs; not stored)."""

    @property
    def passed(self) -> bool:
        """False when any ``fail``-severity check did not pass."""
        return not self.blocking_failures

    @property
    def blocking_failures(self) -> list[CheckResult]:
        """Failed checks with severity ``fail``: the reasons a run stops."""
        return self.failures("fail")

    def failures(self, severity: str | None = None) -> list[CheckResult]:
        """Failed checks, optionally of one severity only."""
        return [c for c in self.checks if not c.passed and (severity is None or c.severity == severity)]

    @property
    def drifted_features(self) -> list[str]:
        """Names of the features that drifted (empty without a reference)."""
        return self.drift.drifted_features if self.drift else []

    @property
    def label_contract_held(self) -> bool | None:
        """Whether the label contract held (None when it was not checked)."""
        return self.label_contract.held if self.label_contract else None

    def to_dict(self) -> dict[str, Any]:
        """The stored summary: per check name, severity and outcome; per feature the drift verdict."""
        return {
            "snapshot_id": self.snapshot_id,
            "reference_snapshot_id": self.reference_snapshot_id,
            "new_rows": self.new_rows,
            "passed": self.passed,
            "failed_checks": {s: len(self.failures(s)) for s in SEVERITIES},
            "drifted_features": self.drifted_features,
            "label_contract_held": self.label_contract_held,
            "checks": [c.to_dict() for c in self.checks],
            "drift": self.drift.to_dict() if self.drift else None,
            "label_contract": self.label_contract.to_dict() if self.label_contract else None,
            "suite": self.suite,
            "data_docs_uri": self.data_docs_uri,
            "statistics": self.statistics,
        }

    def summary_lines(self) -> list[str]:
        """A few plain sentences for the task log."""
        failed = self.failures()
        lines = [
            f"validation of snapshot {self.snapshot_id} ({self.new_rows} new rows, reference "
            f"{self.reference_snapshot_id or 'none'}): {'PASSED' if self.passed else 'FAILED'}; "
            f"{len(self.checks) - len(failed)}/{len(self.checks)} checks passed"
            + "".join(f", {len(self.failures(s))} {s} failed" for s in SEVERITIES if self.failures(s))
        ]
        for c in failed[:MAX_LISTED_FAILURES]:
            lines.append(f"  [{c.severity}] {c.name}: {c.message}")
        if len(failed) > MAX_LISTED_FAILURES:
            lines.append(f"  ... and {len(failed) - MAX_LISTED_FAILURES} more (see the report)")
        return lines


def failure_message(report: ValidationReport, report_uri: str | None) -> str:
    """The error text of a stopped run: counts, the first failed checks and where the report is."""
    failures = report.blocking_failures
    lines = [
        f"validation failed for snapshot {report.snapshot_id}: {len(failures)} check(s) with severity "
        f"'fail' did not pass; training was stopped."
    ]
    lines += [f"  - {c.name}: {c.message}" for c in failures[:MAX_LISTED_FAILURES]]
    if len(failures) > MAX_LISTED_FAILURES:
        lines.append(f"  ... and {len(failures) - MAX_LISTED_FAILURES} more")
    if report_uri:
        lines.append(f"Full report: {report_uri}")
    if report.data_docs_uri:
        lines.append(f"Data Docs: {report.data_docs_uri}")
    lines.append("Fix the data (quarantine it) or relax the severity in validation.* of the config, then rerun.")
    return "\n".join(lines)


def _expectation_checks(outcomes: list[ExpectationOutcome]) -> list[CheckResult]:
    return [
        CheckResult(
            name=f"expectation:{o.id}",
            severity=o.severity,
            passed=o.success,
            message="ok" if o.success else o.describe(),
            details=o.to_dict(),
        )
        for o in outcomes
    ]


def _drift_check(
    config: PipelineConfig, profiles: Mapping[str, Profile] | None, new_data: pd.DataFrame
) -> tuple[CheckResult, DriftReport | None]:
    dcfg = config.validation.drift
    if not profiles or new_data.empty:
        return CheckResult(
            name="drift",
            severity="info",
            passed=True,
            message="no reference snapshot yet (no champion); drift not measured",
        ), None
    # a test configured for the label is the label contract's (regression), not a feature's
    tests = {k: v for k, v in dcfg.tests.items() if k != config.dataset.label}
    drift = detect_drift(
        profiles,
        new_data,
        tests=tests or None,
        thresholds=dcfg.thresholds or None,
        dataset_drift_share=dcfg.dataset_drift_share,
        small_sample=dcfg.small_sample,
    )
    drifted = drift.drifted_features
    message = (
        f"{len(drifted)} of {len(drift.features)} features drifted: {drifted} (share {drift.drift_share:.0%}"
        f"{', dataset drifted' if drift.dataset_drifted else ''})"
        if drifted
        else "no feature drifted"
    )
    return CheckResult(
        name="drift",
        severity=dcfg.severity,
        passed=not drifted,
        message=message,
        details=drift.summary(),
    ), drift


def _label_check(
    config: PipelineConfig, new_counts: Mapping[str, int], reference_counts: Mapping[str, int] | None
) -> tuple[CheckResult, LabelContractResult | None]:
    lcfg = config.validation.label_contract
    expected, source = lcfg.expected_shares, "config"
    if expected is None and reference_counts:
        expected, source = shares_from_counts(reference_counts), "reference snapshot"
    if not expected:
        return CheckResult(
            name="label_contract",
            severity="info",
            passed=True,
            message="no expected shares configured and no reference yet; contract not checked",
        ), None
    label = check_label_contract_counts(new_counts, expected, lcfg.tolerance)
    return CheckResult(
        name="label_contract",
        severity=lcfg.severity,
        passed=label.held,
        message=label.message,
        details={**label.to_dict(), "expected_from": source},
    ), label


def _regression_label_check(
    config: PipelineConfig,
    new_data: pd.DataFrame,
    reference: NumericProfile | None,
    missing_labels: int | None,
) -> tuple[CheckResult, LabelContractResult]:
    """The label contract of a regression label: range, missing share, drift against ``reference``."""
    lcfg, dcfg, label = config.validation.label_contract, config.validation.drift, config.dataset.label
    values = new_data[label] if label in new_data.columns else pd.Series([], dtype="float64")
    result = check_regression_label(
        values,
        label,
        reference,
        minimum=lcfg.min,
        maximum=lcfg.max,
        max_missing_share=lcfg.max_missing_share,
        missing=missing_labels,
        test=dcfg.tests.get(label, "auto"),
        thresholds=dcfg.thresholds,
        small_sample=dcfg.small_sample,
    )
    return CheckResult(
        name="label_contract",
        severity=lcfg.severity,
        passed=result.held,
        message=result.message,
        details={**result.to_dict(), "expected_from": "reference snapshot" if reference is not None else "config"},
    ), result


def validate_frames(
    config: PipelineConfig,
    snapshot_id: str,
    new_data: pd.DataFrame,
    suite: Suite,
    reference_snapshot_id: str | None = None,
    reference_profiles: Mapping[str, Profile] | None = None,
    reference_label_counts: Mapping[str, int] | None = None,
    train_label_counts: Mapping[str, int] | None = None,
    holdout_label_counts: Mapping[str, int] | None = None,
    *,
    reference_label_profile: NumericProfile | None = None,
    train_label_profile: NumericProfile | None = None,
    holdout_label_profile: NumericProfile | None = None,
    missing_labels: int | None = None,
) -> ValidationReport:
    """Run every check on the new rows of a snapshot; pure apart from logging.

    Reference facts come as cached statistics (profiles, label counts), never as frames, so the
    cost is that of ``new_data``. Label parity is checked when both sides' counts are given.

    A regression label uses the keyword arguments instead of the counts: the reference's label
    profile (drift of the label), both sides' label profiles (parity) and ``missing_labels``,
    the rows of the new data set aside at ingest for having no label (None: not known).
    """
    vcfg = config.validation
    outcomes = evaluate_suite(new_data, suite, vcfg.expectations.engine)
    checks = _expectation_checks(outcomes)
    drift_check, drift = _drift_check(config, reference_profiles, new_data)
    checks.append(drift_check)
    label = config.dataset.label
    parity: LabelContractResult | None = None
    contract: LabelContractResult | None
    if config.dataset.is_classification:
        new_counts = label_counts(new_data[label]) if label in new_data.columns else {}
        label_check, contract = _label_check(config, new_counts, reference_label_counts)
        if train_label_counts is not None and holdout_label_counts:
            parity = check_label_parity_counts(train_label_counts, holdout_label_counts, vcfg.parity_tolerance)
    else:
        label_check, contract = _regression_label_check(config, new_data, reference_label_profile, missing_labels)
        if train_label_profile is not None and holdout_label_profile is not None and holdout_label_profile.count:
            parity = check_label_parity_numeric(
                train_label_profile, holdout_label_profile, vcfg.parity_tolerance, label=label
            )
    checks.append(label_check)
    if parity is not None:
        checks.append(
            CheckResult(
                name="split_parity",
                severity="warn",
                passed=parity.held,
                message=parity.message,
                details=parity.to_dict(),
            )
        )
    report = ValidationReport(
        snapshot_id=snapshot_id,
        reference_snapshot_id=reference_snapshot_id,
        new_rows=len(new_data),
        checks=tuple(checks),
        drift=drift,
        label_contract=contract,
        suite=suite.describe(),
        outcomes=tuple(outcomes),
    )
    log_report(report)
    return report


def log_report(report: ValidationReport) -> None:
    """Log the summary; failed ``warn`` checks as warnings (the alert), ``fail`` ones as errors."""
    log.info(report.summary_lines()[0])
    for c in report.failures()[:MAX_LISTED_FAILURES]:
        level = {"fail": logging.ERROR, "warn": logging.WARNING}.get(c.severity, logging.INFO)
        log.log(level, "[%s] %s: %s", c.severity, c.name, c.message)


def raise_if_blocked(report: ValidationReport, report_uri: str | None) -> None:
    """Stop the run with a readable error when a ``fail``-severity check did not pass."""
    if not report.passed:
        raise ValidationFailed(failure_message(report, report_uri))
