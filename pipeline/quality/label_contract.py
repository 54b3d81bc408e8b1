"""The label contract: class shares of the target must stay close to the agreed ones.

A silent change in the label mix (a new class, a class that vanished, a base rate that moved)
changes what a model learns and what its metrics mean, so it is checked before training.
The contract is decided by the *size* of the change (maximum absolute share deviation within a
tolerance); the chi-square goodness-of-fit p-value is reported as evidence only, because on
large batches it declares every negligible wobble significant.
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

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (nan and infinity become ``None``)."""
        return {
            "observed_shares": dict(self.observed_shares),
            "expected_shares": dict(self.expected_shares),
            "counts": dict(self.counts),
            "max_deviation": _finite_or_none(self.max_deviation),
            "tolerance": float(self.tolerance),
            "chi2": _finite_or_none(self.chi2),
            "p_value": _finite_or_none(self.p_value),
            "held": bool(self.held),
            "message": self.message,
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
