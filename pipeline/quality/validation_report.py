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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.config import PipelineConfig
from pipeline.core.errors import ValidationFailed
from pipeline.quality.drift import DriftReport, NumericProfile, Profile, detect_drift
from pipeline.quality.drift_current import CurrentAccumulator, CurrentData
from pipeline.quality.expectation_chunks import SuiteAccumulator
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
    config: PipelineConfig,
    profiles: Mapping[str, Profile] | None,
    new_data: pd.DataFrame | CurrentData,
    rows: int,
) -> tuple[CheckResult, DriftReport | None]:
    dcfg = config.validation.drift
    if not profiles or not rows:
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
    values: pd.Series,
    reference: NumericProfile | None,
    missing_labels: int | None,
) -> tuple[CheckResult, LabelContractResult]:
    """The label contract of a regression label: range, missing share, drift against ``reference``."""
    lcfg, dcfg, label = config.validation.label_contract, config.validation.drift, config.dataset.label
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


@dataclass(frozen=True)
class ReferenceFacts:
    """What validation knows about the reference and the whole snapshot, as cached statistics.

    Classification uses the label counts; a regression label uses the profiles and
    ``missing_labels`` (rows of the new data set aside at ingest for having no label; None: not
    known). Label parity is checked when both sides are given.
    """

    snapshot_id: str | None = None
    profiles: Mapping[str, Profile] | None = None
    label_counts: Mapping[str, int] | None = None
    train_label_counts: Mapping[str, int] | None = None
    holdout_label_counts: Mapping[str, int] | None = None
    label_profile: NumericProfile | None = None
    train_label_profile: NumericProfile | None = None
    holdout_label_profile: NumericProfile | None = None
    missing_labels: int | None = None


@dataclass(frozen=True)
class NewRows:
    """The facts about the new rows every check needs, from one frame or merged from chunks."""

    rows: int
    outcomes: list[ExpectationOutcome]
    current: pd.DataFrame | CurrentData
    """What drift compares with the reference: the frame, or its summaries merged from chunks."""
    labels: pd.Series
    """Classification: the count per class (index: class as a string); regression: the label values."""
    chunks: int = 1


def summarise_frame(config: PipelineConfig, new_data: pd.DataFrame, suite: Suite) -> NewRows:
    """The suite's outcomes and the label of new rows held in one frame."""
    outcomes = evaluate_suite(new_data, suite, config.validation.expectations.engine)
    label = config.dataset.label
    if config.dataset.is_classification:
        counts = label_counts(new_data[label]) if label in new_data.columns else {}
        labels: pd.Series = pd.Series(counts, dtype="int64")
    else:
        labels = new_data[label] if label in new_data.columns else pd.Series([], dtype="float64")
    return NewRows(len(new_data), outcomes, new_data, labels)


def summarise_chunks(
    config: PipelineConfig,
    chunks: Iterable[pd.DataFrame],
    rows: int,
    suite: Suite,
    profiles: Mapping[str, Profile] | None,
    sample_rows: int,
) -> NewRows:
    """:func:`summarise_frame` of a batch of ``rows`` rows read chunk by chunk, never whole.

    Each chunk is checked and summarised, then dropped: the expectations merge by
    :class:`~pipeline.quality.expectation_chunks.SuiteAccumulator` (great-expectations-only types
    on a seeded sample of at most ``sample_rows`` rows), drift against ``profiles`` reads
    :class:`~pipeline.quality.drift_current.CurrentAccumulator`'s summaries, and the label its
    counts per class (a regression label keeps its values: one float per row). The verdicts equal
    those on the concatenated frame (see those modules for what is sampled beyond 200 000 rows).
    """
    dataset = config.dataset
    expectations = SuiteAccumulator(suite, rows, sample_rows, config.validation.expectations.engine)
    drift = CurrentAccumulator(profiles or {}, rows)
    counts: dict[str, int] = {}
    values: list[np.ndarray] = []
    seen = 0
    for chunk in chunks:
        expectations.add(chunk)
        if profiles:
            drift.add(chunk)
        if dataset.label in chunk.columns:
            if dataset.is_classification:
                for level, n in label_counts(chunk[dataset.label]).items():
                    counts[level] = counts.get(level, 0) + n
            else:
                # a copy (np.array copies): a view would keep the chunk's whole block of floats alive
                values.append(np.array(pd.to_numeric(chunk[dataset.label], errors="coerce"), dtype=np.float64))
        seen += len(chunk)
    if seen != rows:
        raise ValueError(f"summarise_chunks was told the batch has {rows} rows but its chunks held {seen}")
    if dataset.is_classification:
        labels: pd.Series = pd.Series(dict(sorted(counts.items())), dtype="int64")
    else:
        labels = pd.Series(np.concatenate(values) if values else np.empty(0), dtype="float64")
    outcomes = expectations.outcomes()
    log.info(
        "checked %d new rows in %d chunks%s",
        rows,
        expectations.chunks,
        f"; great-expectations-only checks on a seeded sample of {expectations.sampled} rows"
        if expectations.sampled
        else "",
    )
    return NewRows(rows, outcomes, drift.result(), labels, chunks=expectations.chunks)


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
    reference = ReferenceFacts(
        snapshot_id=reference_snapshot_id,
        profiles=reference_profiles,
        label_counts=reference_label_counts,
        train_label_counts=train_label_counts,
        holdout_label_counts=holdout_label_counts,
        label_profile=reference_label_profile,
        train_label_profile=train_label_profile,
        holdout_label_profile=holdout_label_profile,
        missing_labels=missing_labels,
    )
    return report_new_rows(config, snapshot_id, suite, reference, summarise_frame(config, new_data, suite))


def report_new_rows(
    config: PipelineConfig, snapshot_id: str, suite: Suite, reference: ReferenceFacts, new: NewRows
) -> ValidationReport:
    """Every check, from the facts about the new rows and about the reference (see :func:`validate_frames`)."""
    vcfg = config.validation
    checks = _expectation_checks(new.outcomes)
    drift_check, drift = _drift_check(config, reference.profiles, new.current, new.rows)
    checks.append(drift_check)
    label = config.dataset.label
    parity: LabelContractResult | None = None
    contract: LabelContractResult | None
    if config.dataset.is_classification:
        new_counts = {str(k): int(n) for k, n in new.labels.items()}
        label_check, contract = _label_check(config, new_counts, reference.label_counts)
        if reference.train_label_counts is not None and reference.holdout_label_counts:
            parity = check_label_parity_counts(
                reference.train_label_counts, reference.holdout_label_counts, vcfg.parity_tolerance
            )
    else:
        label_check, contract = _regression_label_check(
            config, new.labels, reference.label_profile, reference.missing_labels
        )
        train, holdout = reference.train_label_profile, reference.holdout_label_profile
        if train is not None and holdout is not None and holdout.count:
            parity = check_label_parity_numeric(train, holdout, vcfg.parity_tolerance, label=label)
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
        reference_snapshot_id=reference.snapshot_id,
        new_rows=new.rows,
        checks=tuple(checks),
        drift=drift,
        label_contract=contract,
        suite=suite.describe(),
        outcomes=tuple(new.outcomes),
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
