"""The label contract: the target of a new batch must look like the agreed one.

A silent change in the label mix (a new class, a class that vanished, a base rate that moved)
changes what a model learns and what its metrics mean, so it is checked before training.

Classification (binary or multiclass, any number of classes): the contract is decided by the
*size* of the change (maximum absolute share deviation within a tolerance); the chi-square
goodness-of-fit p-value is reported as evidence only, because on large batches it declares every
negligible wobble significant.

Regression (:func:`check_regression_label`): values outside the declared ``[min, max]`` are
counted (any one breaks the contract), the share of rows without a label is held to
``max_missing_share``, and the label's distribution is tested for drift against the reference
with the numeric drift tests of :mod:`pipeline.quality.drift_tests`.

Train/holdout parity is the same check with the training side as the contract: class shares for
classification, and for regression the largest gap between the two label CDFs (the two-sample
KS statistic, i.e. the largest share deviation of "rows at or below some value").
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from pipeline.core.errors import ConfigError
from pipeline.quality.drift_profiles import NUMERIC, NumericProfile
from pipeline.quality.drift_tests import SMALL_SAMPLE, TestOutcome, choose_test, get_drift_test, ks

logger = logging.getLogger(__name__)

_SHARE_SUM_SLACK = 1e-6
_COMPARE_SLACK = 1e-12


@dataclass(frozen=True)
class LabelContractResult:
    """Outcome of a label-share check; ``held`` is the verdict, ``message`` one line for humans."""

    observed_shares: dict[str, float]
    expected_shares: dict[str, float]
    counts: dict[str, int]
    max_deviation: float
    tolerance: float
    chi2: float
    p_value: float
    held: bool
    message: str
    numeric: NumericLabelEvidence | None = None
    """Regression only: the evidence behind the verdict (classification leaves it None)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (nan and infinity become ``None``); ``numeric`` only for a regression label."""
        d: dict[str, Any] = {
            "observed_shares": dict(self.observed_shares),
            "expected_shares": dict(self.expected_shares),
            "counts": dict(self.counts),
            "max_deviation": _finite_or_none(self.max_deviation),
            "tolerance": _finite_or_none(self.tolerance),
            "chi2": _finite_or_none(self.chi2),
            "p_value": _finite_or_none(self.p_value),
            "held": bool(self.held),
            "message": self.message,
        }
        if self.numeric is not None:
            d["numeric"] = self.numeric.to_dict()
        return d


@dataclass(frozen=True)
class NumericLabelEvidence:
    """What a regression label check measured.

    ``test`` is the drift test used (``None``: not measured, e.g. no reference yet), judged on
    ``score`` against ``threshold`` (a p-value below it, with an effect of at least the test's
    minimum, or a distance at or above it); ``missing`` is None when the number of rows without a
    label could not be counted.
    """

    label: str
    rows: int
    missing: int | None
    max_missing_share: float | None
    below_min: int
    above_max: int
    min: float | None
    max: float | None
    observed_min: float
    observed_max: float
    mean: float
    reference_mean: float
    reference_rows: int
    test: str | None
    score: float
    effect_size: float
    threshold: float
    drifted: bool

    @property
    def missing_share(self) -> float:
        """Share of rows without a label among all rows of the batch (nan when unknown)."""
        if self.missing is None or self.rows + self.missing == 0:
            return float("nan")
        return self.missing / (self.rows + self.missing)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (nan becomes ``None``)."""
        return {
            "label": self.label,
            "rows": self.rows,
            "missing": self.missing,
            "missing_share": _finite_or_none(self.missing_share),
            "max_missing_share": self.max_missing_share,
            "below_min": self.below_min,
            "above_max": self.above_max,
            "min": self.min,
            "max": self.max,
            "observed_min": _finite_or_none(self.observed_min),
            "observed_max": _finite_or_none(self.observed_max),
            "mean": _finite_or_none(self.mean),
            "reference_mean": _finite_or_none(self.reference_mean),
            "reference_rows": self.reference_rows,
            "test": self.test,
            "score": _finite_or_none(self.score),
            "effect_size": _finite_or_none(self.effect_size),
            "threshold": float(self.threshold),
            "drifted": bool(self.drifted),
        }


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _label_key(label: Any) -> str:
    """String form of a class label; integral floats (ints upcast by nulls) lose their ``.0``."""
    if isinstance(label, (float, np.floating)) and float(label).is_integer():
        return str(int(label))
    return str(label)


def label_counts(labels: pd.Series) -> dict[str, int]:
    """Count per class label (as string), nulls dropped, sorted by label.

    Counts are what the contract is decided on, so they can be cached per part and summed.
    """
    counted = labels.value_counts(dropna=True, sort=False)
    counts: dict[str, int] = {}
    for label, n in zip(counted.index, counted.to_numpy(), strict=True):
        if n:
            key = _label_key(label)
            counts[key] = counts.get(key, 0) + int(n)
    n_null = int(labels.isna().sum())
    if n_null:
        logger.warning("label check: ignoring %d null labels of %d", n_null, len(labels))
    return dict(sorted(counts.items()))


def expected_shares_from(labels: pd.Series) -> dict[str, float]:
    """Class shares of a label column (nulls ignored), usable as a contract's expected shares."""
    return shares_from_counts(label_counts(labels))


def shares_from_counts(counts: Mapping[str, int]) -> dict[str, float]:
    """Class shares of label counts (empty when there are no labels)."""
    total = sum(counts.values())
    return {label: n / total for label, n in counts.items()} if total else {}


def _normalised_expectation(expected_shares: Mapping[Any, float]) -> dict[str, float]:
    """Expected shares keyed by string, validated and rescaled to sum exactly to 1."""
    if not expected_shares:
        raise ConfigError("label contract: expected_shares is empty; declare at least one class")
    shares = {_label_key(k): float(v) for k, v in expected_shares.items()}
    bad = {k: v for k, v in shares.items() if not math.isfinite(v) or v < 0}
    if bad:
        raise ConfigError(f"label contract: expected shares must be finite and >= 0, got {bad}")
    total = sum(shares.values())
    if abs(total - 1.0) > _SHARE_SUM_SLACK:
        raise ConfigError(f"label contract: expected shares must sum to 1, they sum to {total:.6g} ({shares})")
    return {k: v / total for k, v in shares.items()}


def _goodness_of_fit(counts: dict[str, int], expected: dict[str, float], n: int) -> tuple[float, float]:
    """Chi-square goodness-of-fit statistic and p-value of the counts against the shares.

    A class observed where none is expected makes the fit impossible: (inf, 0.0).
    """
    if any(counts.get(k, 0) > 0 and expected.get(k, 0.0) == 0.0 for k in counts):
        return math.inf, 0.0
    classes = [k for k, share in expected.items() if share > 0]
    if len(classes) < 2:
        return 0.0, 1.0
    observed = np.array([counts.get(k, 0) for k in classes], dtype=float)
    wanted = np.array([expected[k] for k in classes]) * n
    wanted *= observed.sum() / wanted.sum()
    result = stats.chisquare(observed, wanted)
    return float(result.statistic), float(result.pvalue)


def _evaluate(
    counts: Mapping[str, int],
    expected_shares: Mapping[Any, float],
    tolerance: float,
    subject: str,
    significance: float | None = None,
) -> LabelContractResult:
    if not math.isfinite(tolerance) or not 0 <= tolerance <= 1:
        raise ConfigError(f"{subject}: tolerance must be a share in [0, 1], got {tolerance!r}")
    expected = _normalised_expectation(expected_shares)
    counts = {_label_key(k): int(v) for k, v in counts.items() if v}
    n = sum(counts.values())
    nan = float("nan")
    if n == 0:
        return LabelContractResult(
            observed_shares={},
            expected_shares=expected,
            counts=dict.fromkeys(expected, 0),
            max_deviation=nan,
            tolerance=tolerance,
            chi2=nan,
            p_value=nan,
            held=False,
            message=f"{subject} broken: no labels to check (0 non-null labels)",
        )

    classes = [*expected, *(k for k in counts if k not in expected)]
    all_counts = {k: counts.get(k, 0) for k in classes}
    observed = {k: all_counts[k] / n for k in classes}
    deviations = {k: abs(observed[k] - expected.get(k, 0.0)) for k in classes}
    # Name the worst class; on a tie (always so with two classes) the one that grew.
    worst = max(classes, key=lambda k: (round(deviations[k], 9), observed[k] - expected.get(k, 0.0)))
    max_deviation = deviations[worst]
    chi2, p_value = _goodness_of_fit(all_counts, expected, n)
    unknown = [k for k in classes if k not in expected]
    evidence = f"chi² p={p_value:.2g}, n={n}"

    if unknown:
        listed = ", ".join(f"{k!r} (share {observed[k]:.2f})" for k in unknown)
        message = (
            f"{subject} broken: unexpected class(es) {listed} not in the contract; "
            f"expected classes {', '.join(repr(k) for k in expected)} ({evidence})"
        )
        held = False
    elif max_deviation <= tolerance + _COMPARE_SLACK:
        message = f"{subject} held: max share deviation {max_deviation:.2f} ≤ {tolerance:.2f} (n={n})"
        held = True
    elif significance is not None and p_value >= significance:
        message = (
            f"{subject} held: share of {worst!r} is {observed[worst]:.2f}, expected "
            f"{expected[worst]:.2f} ± {tolerance:.2f}, but with {n} rows a deviation this size is "
            f"chance ({evidence} ≥ {significance:g})"
        )
        held = True
    else:
        message = (
            f"{subject} broken: share of {worst!r} is {observed[worst]:.2f}, "
            f"expected {expected[worst]:.2f} ± {tolerance:.2f} ({evidence})"
        )
        held = False

    log = logger.info if held else logger.warning
    log("%s", message)
    return LabelContractResult(
        observed_shares=observed,
        expected_shares=expected,
        counts=all_counts,
        max_deviation=max_deviation,
        tolerance=tolerance,
        chi2=chi2,
        p_value=p_value,
        held=held,
        message=message,
    )


def check_label_contract(
    labels: pd.Series, expected_shares: Mapping[str, float], tolerance: float = 0.1
) -> LabelContractResult:
    """Check that every class share is within ``tolerance`` of the agreed share.

    Labels are compared as strings and nulls are ignored. A class not in ``expected_shares``
    breaks the contract; so does an empty label column. ``held`` depends only on the largest
    absolute share deviation; the chi-square p-value is reported as evidence.
    """
    return check_label_contract_counts(label_counts(labels), expected_shares, tolerance)


def check_label_contract_counts(
    counts: Mapping[str, int], expected_shares: Mapping[str, float], tolerance: float = 0.1
) -> LabelContractResult:
    """:func:`check_label_contract` on label counts (e.g. summed from cached part statistics)."""
    return _evaluate(counts, expected_shares, tolerance, "label contract")


def check_label_parity(
    train_labels: pd.Series, holdout_labels: pd.Series, tolerance: float = 0.05
) -> LabelContractResult:
    """Check that a holdout split has the class mix of its training split.

    A skewed holdout makes evaluation metrics incomparable between runs, so the train shares
    serve as the contract the holdout must meet.
    """
    return check_label_parity_counts(label_counts(train_labels), label_counts(holdout_labels), tolerance)


PARITY_SIGNIFICANCE = 0.01
"""A holdout share outside the tolerance breaks parity only when chance is an unlikely cause."""


def check_label_parity_counts(
    train_counts: Mapping[str, int],
    holdout_counts: Mapping[str, int],
    tolerance: float = 0.05,
    significance: float | None = PARITY_SIGNIFICANCE,
) -> LabelContractResult:
    """:func:`check_label_parity` on label counts of the two sides.

    The holdout is a random share of the same rows, so on a small holdout its class shares
    wander past the tolerance by chance alone (a holdout of 75 rows has a standard error of
    about 0.055 on a 35 % class). Parity is broken only when the deviation is both larger than
    ``tolerance`` and unlikely under chance (chi-square p below ``significance``).
    """
    expected = shares_from_counts(train_counts)
    if not expected:
        nan = float("nan")
        return LabelContractResult(
            observed_shares=shares_from_counts(holdout_counts),
            expected_shares={},
            counts=dict(holdout_counts),
            max_deviation=nan,
            tolerance=tolerance,
            chi2=nan,
            p_value=nan,
            held=False,
            message="label parity broken: no training labels to compare the holdout with",
        )
    return _evaluate(holdout_counts, expected, tolerance, "label parity (holdout vs train)", significance)


# -- regression: a numeric label -------------------------------------------------------------------


def check_regression_label(
    values: pd.Series | np.ndarray,
    label: str,
    reference: NumericProfile | None = None,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    max_missing_share: float | None = None,
    missing: int | None = 0,
    test: str = "auto",
    thresholds: Mapping[str, float] | None = None,
    small_sample: int = SMALL_SAMPLE,
) -> LabelContractResult:
    """The label contract of a numeric label, on the labels of a new batch.

    Broken when any of: a value is outside ``[minimum, maximum]`` (each bound optional); rows
    without a label are more than ``max_missing_share`` of the batch (``missing`` counts those set
    aside at ingest, None when not known, nulls in ``values`` are added); the distribution drifted
    from ``reference`` (the reference snapshot's label profile; None: not measured) under the
    numeric drift test ``test`` (``auto``: KS below ``small_sample`` values, else Wasserstein) at
    its threshold in ``thresholds`` (by test name, as ``validation.drift.thresholds``; default:
    the test's own); or there is no label at all.
    """
    column = pd.Series(values) if not isinstance(values, pd.Series) else values
    numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    finite = numbers[np.isfinite(numbers)]
    in_frame = int(numbers.size - finite.size)
    counted = None if missing is None and in_frame == 0 else (missing or 0) + in_frame
    n = int(finite.size)
    below = int(np.count_nonzero(finite < minimum)) if minimum is not None else 0
    above = int(np.count_nonzero(finite > maximum)) if maximum is not None else 0
    nan = float("nan")
    test_name: str | None = None
    outcome = TestOutcome(nan, None, nan)
    limit, drifted = nan, False
    if reference is not None and reference.count and n:
        chosen = choose_test(NUMERIC, int(reference.count), n, small_sample) if test == "auto" else test
        drift_test = get_drift_test(chosen, NUMERIC)
        test_name, outcome = drift_test.name, drift_test.fn(reference, finite)
        limit = float((thresholds or {}).get(drift_test.name, drift_test.default_threshold))
        drifted = drift_test.flags(outcome, limit, None)
    evidence = NumericLabelEvidence(
        label=label,
        rows=n,
        missing=counted,
        max_missing_share=max_missing_share,
        below_min=below,
        above_max=above,
        min=minimum,
        max=maximum,
        observed_min=float(finite.min()) if n else nan,
        observed_max=float(finite.max()) if n else nan,
        mean=float(finite.mean()) if n else nan,
        reference_mean=float(reference.mean) if reference is not None else nan,
        reference_rows=int(reference.count) if reference is not None else 0,
        test=test_name,
        score=outcome.score,
        effect_size=outcome.effect_size,
        threshold=limit,
        drifted=drifted,
    )
    problems = _regression_problems(evidence)
    subject = f"label contract ({label!r}, regression)"
    if problems:
        message = (
            f"{subject} broken: {'; '.join(problems)}. Check what produces {label!r}, or update "
            "validation.label_contract if the change is real"
        )
    else:
        message = f"{subject} held: {_regression_summary(evidence)}"
    (logger.info if not problems else logger.warning)("%s", message)
    counts = {"labelled": n, "below_min": below, "above_max": above}
    if counted is not None:
        counts["missing"] = counted
    return LabelContractResult(
        observed_shares={},
        expected_shares={},
        counts=counts,
        max_deviation=outcome.effect_size,
        tolerance=limit,
        chi2=nan,
        p_value=nan if outcome.p_value is None else outcome.p_value,
        held=not problems,
        message=message,
        numeric=evidence,
    )


def _describe_test(e: NumericLabelEvidence) -> str:
    if e.test is None:
        return "no reference to test drift against"
    judged = f"p={e.score:.2g} (threshold {e.threshold:g}, effect {e.effect_size:.3f})"
    if get_drift_test(e.test).kind == "distance":
        judged = f"distance {e.score:.3f} (threshold {e.threshold:g})"
    sizes = f"n={e.rows}, reference n={e.reference_rows}"
    return f"{e.test} {judged}, mean {e.mean:.6g} vs reference {e.reference_mean:.6g} ({sizes})"


def _regression_summary(e: NumericLabelEvidence) -> str:
    bounds = f"all within [{e.min}, {e.max}]" if e.min is not None or e.max is not None else "no bounds declared"
    missing = (
        "rows without a label not counted (no ingest record)"
        if e.missing is None
        else f"{e.missing} without a label ({e.missing_share:.1%} ≤ {e.max_missing_share:.1%})"
        if e.max_missing_share is not None
        else f"{e.missing} without a label"
    )
    return f"{e.rows} labels, {bounds}; {missing}; {_describe_test(e)}"


def _regression_problems(e: NumericLabelEvidence) -> list[str]:
    problems: list[str] = []
    if e.rows == 0:
        problems.append("no numeric labels to check (0 finite values)")
    share = e.missing_share
    if e.max_missing_share is not None and math.isfinite(share) and share > e.max_missing_share + _COMPARE_SLACK:
        problems.append(
            f"{e.missing} of {e.rows + (e.missing or 0)} rows ({share:.1%}) have no label, more than "
            f"label_contract.max_missing_share={e.max_missing_share:.1%} (they were set aside at ingest, "
            "with their reason, in quarantine/)"
        )
    if e.below_min:
        problems.append(f"{e.below_min} of {e.rows} values below min {e.min:g} (lowest {e.observed_min:.6g})")
    if e.above_max:
        problems.append(f"{e.above_max} of {e.rows} values above max {e.max:g} (highest {e.observed_max:.6g})")
    if e.drifted:
        problems.append(f"the distribution drifted from the reference: {_describe_test(e)}")
    return problems


def check_label_parity_numeric(
    train: NumericProfile,
    holdout: NumericProfile,
    tolerance: float = 0.05,
    significance: float | None = PARITY_SIGNIFICANCE,
    label: str = "label",
) -> LabelContractResult:
    """Train/holdout parity of a numeric label: the two-sample KS test of holdout against train.

    ``tolerance`` (``validation.parity_tolerance``) bounds the KS statistic D, the largest gap
    between the two empirical CDFs: the largest difference, over every value ``t``, between the
    share of train rows and the share of holdout rows at or below ``t``. It is the classification
    rule (no class share off by more than the tolerance) applied to every "class" ``y <= t``. As
    there, parity is broken only when D exceeds the tolerance *and* chance is an unlikely cause
    (KS p below ``significance``). Profiles merged from thinned per-part samples test at most
    :data:`~pipeline.quality.drift_profiles.MAX_REFERENCE_SAMPLE` values a side: conservative.
    """
    subject = f"label parity (holdout vs train, {label!r})"
    nan = float("nan")
    if not train.count or not train.sorted_sample.size:
        return LabelContractResult(
            observed_shares={},
            expected_shares={},
            counts={"train": int(train.count), "holdout": int(holdout.count)},
            max_deviation=nan,
            tolerance=tolerance,
            chi2=nan,
            p_value=nan,
            held=False,
            message=f"{subject} broken: no training labels to compare the holdout with",
        )
    outcome = ks(train, holdout.sorted_sample)
    d, p = outcome.effect_size, nan if outcome.p_value is None else outcome.p_value
    evidence = (
        f"KS D={d:.3f}, p={p:.2g}, train n={train.count}, holdout n={holdout.count}; "
        f"mean {holdout.mean:.6g} vs {train.mean:.6g}"
    )
    if not math.isfinite(d) or d <= tolerance + _COMPARE_SLACK:
        held, message = True, f"{subject} held: largest CDF gap {d:.3f} ≤ {tolerance:.3f} ({evidence})"
    elif significance is not None and math.isfinite(p) and p >= significance:
        held = True
        message = (
            f"{subject} held: largest CDF gap {d:.3f} > {tolerance:.3f}, but with these sizes a gap "
            f"this large is chance ({evidence}, p ≥ {significance:g})"
        )
    else:
        held = False
        message = (
            f"{subject} broken: up to {d:.1%} of rows lie on different sides of some value in the holdout "
            f"than in train, more than parity_tolerance {tolerance:.3f} ({evidence}). The holdout is not "
            "drawn like the training data: check the split (dataset.time_column, id columns)"
        )
    (logger.info if held else logger.warning)("%s", message)
    return LabelContractResult(
        observed_shares={},
        expected_shares={},
        counts={"train": int(train.count), "holdout": int(holdout.count)},
        max_deviation=d,
        tolerance=tolerance,
        chi2=nan,
        p_value=p,
        held=held,
        message=message,
    )
