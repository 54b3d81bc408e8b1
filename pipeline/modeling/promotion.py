"""The promotion policy: move ``champion`` only when the evidence says so.

Reads only the stored evaluation (TFX's gate-then-act).  The checks, in the order a reader
meets them in the decision:

0. **enough evidence** -- the holdout must hold at least ``min_holdout_rows`` rows and at least
   ``min_class_rows`` of each class; below that nothing is promoted, not even a first model
   (a champion crowned on 4 rows is a coin toss with a badge);
1. **floors** -- every floored metric on the holdout must reach its floor;
2. with a champion, **non-inferiority** -- the lower end of the paired bootstrap interval of
   (challenger - champion) on the primary metric must stay above ``-margin`` (oriented so that
   positive is better, whichever way the metric points; for metrics in the label's units -- RMSE,
   MAE, median absolute error -- ``margin``, ``min_improvement`` and a slice's ``max_drop`` are
   shares of the champion's value, see ``pipeline.core.metric_names.tolerance``);
3. with ``min_improvement`` set, **improvement** -- that lower end must exceed
   ``min_improvement`` (the challenger is better by at least that much, with 95% confidence);
4. with ``slice_gates`` set, **slice gates** -- in no slice with at least ``min_rows`` holdout
   rows may the primary metric drop by more than ``max_drop`` against the champion (observed
   paired difference; its interval is recorded next to it).

The first model is promoted when it clears the floors.  A manual override promotes regardless
and is recorded with its reason; every check is still evaluated and stored with the decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, get_args

from pipeline.core.config import PromotionConfig
from pipeline.core.errors import RegistryError
from pipeline.core.metric_names import higher_is_better, tolerance

CheckKind = Literal["floor", "holdout_rows", "class_rows", "non_inferiority", "improvement", "slice_gates", "slice"]
CHECK_KINDS: tuple[str, ...] = get_args(CheckKind)

SliceSkip = Literal["small", "undefined"]
"""Why a slice is not gated: too few rows, or the metric is undefined there (one class only)."""

_THRESHOLD_KEY: dict[str, str] = {
    "floor": "floor",
    "holdout_rows": "min_rows",
    "class_rows": "min_rows",
    "non_inferiority": "margin",
    "improvement": "min_improvement",
    "slice": "max_drop",
}
"""The JSON name of :attr:`PromotionCheck.threshold` for each kind of check."""


@dataclass(frozen=True)
class PromotionCheck:
    """One check of a promotion decision, with the numbers it was judged on.

    ``kind`` says which rule it is; ``subject`` what it was applied to: the metric (floor,
    non-inferiority, improvement), the class name (``class_rows``; None when the evaluation records
    no classes) or ``column=value`` (slice). ``passed`` is None for a slice that is not gated
    (``skip`` says why). ``threshold`` is the policy number the check compares with: the floor,
    the minimum rows, the margin, the minimum improvement or the maximum drop. The JSON form
    (:meth:`to_dict`, :meth:`from_dict`) is the one stored with decisions and alias moves, unchanged
    from when checks were plain dicts named ``"kind:subject"``, so old records read as new ones.
    """

    kind: CheckKind
    passed: bool | None
    subject: str | None = None
    threshold: float | None = None
    value: float | None = None
    rows: int | None = None
    difference: float | None = None
    lower: float | None = None
    upper: float | None = None
    challenger: float | None = None
    champion: float | None = None
    message: str | None = None
    skip: SliceSkip | None = None

    @property
    def name(self) -> str:
        """The check's display name, ``kind`` or ``kind:subject`` (e.g. ``floor:roc_auc``)."""
        return self.kind if self.subject is None else f"{self.kind}:{self.subject}"

    def to_dict(self) -> dict[str, Any]:
        """The stored JSON form: the name, ``passed`` and the numbers that belong to this kind."""
        d: dict[str, Any] = {"check": self.name}
        if self.kind == "slice":
            d.update(rows=self.rows, max_drop=self.threshold, passed=self.passed)
            if self.skip is None:
                d.update(
                    difference=self.difference,
                    lower=self.lower,
                    upper=self.upper,
                    challenger=self.challenger,
                    champion=self.champion,
                )
            elif self.skip == "small":
                d.update(difference=self.difference, message=self.message)
            else:
                d.update(message=self.message)
            return d
        d["passed"] = self.passed
        if self.kind == "floor":
            d.update(value=self.value, floor=self.threshold)
        elif self.kind in ("holdout_rows", "class_rows"):
            d.update(rows=self.rows, min_rows=self.threshold, message=self.message)
        elif self.kind in ("non_inferiority", "improvement"):
            d.update(difference=self.difference, lower=self.lower, upper=self.upper)
            d[_THRESHOLD_KEY[self.kind]] = self.threshold
        else:
            d["message"] = self.message
        return d

    def details(self) -> dict[str, Any]:
        """Everything of :meth:`to_dict` but the name and the outcome (the report's details column)."""
        return {k: v for k, v in self.to_dict().items() if k not in ("check", "passed")}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PromotionCheck:
        """Read a stored check back (any record written since checks were recorded).

        The only place a check's name is taken apart: ``kind`` before the first colon, the subject
        after it (slice values and class names may hold colons themselves).
        """
        name = str(d["check"])
        kind, sep, subject = name.partition(":")
        if kind not in CHECK_KINDS:
            raise RegistryError(f"unknown promotion check {name!r} in a stored decision; kinds are {CHECK_KINDS}")
        passed = d.get("passed")
        skip: SliceSkip | None = None
        if kind == "slice" and passed is None:
            skip = "small" if "difference" in d else "undefined"
        key = _THRESHOLD_KEY.get(kind)
        return cls(
            kind=kind,  # type: ignore[arg-type]  # checked against CHECK_KINDS above
            passed=None if passed is None else bool(passed),
            subject=subject if sep else None,
            threshold=d.get(key) if key else None,
            value=d.get("value"),
            rows=d.get("rows"),
            difference=d.get("difference"),
            lower=d.get("lower"),
            upper=d.get("upper"),
            challenger=d.get("challenger"),
            champion=d.get("champion"),
            message=d.get("message"),
            skip=skip,
        )


def stored_checks(decision: Mapping[str, Any] | None) -> tuple[PromotionCheck, ...]:
    """The checks of a stored decision (``ModelVersion.decision``), typed; none without a decision."""
    return tuple(PromotionCheck.from_dict(c) for c in (decision or {}).get("checks") or ())


@dataclass(frozen=True)
class PromotionDecision:
    """The verdict, its one-line reason, and every check with its numbers."""

    promote: bool
    reason: str
    checks: tuple[PromotionCheck, ...]
    champion_version: int | None
    forced: bool = False
    thin_evidence: tuple[str, ...] = ()
    """Why the holdout is too small to decide on, in plain words (empty: it is large enough)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, stored with the model version."""
        return {
            "promote": self.promote,
            "reason": self.reason,
            "checks": [c.to_dict() for c in self.checks],
            "champion_version": self.champion_version,
            "forced": self.forced,
            "thin_evidence": list(self.thin_evidence),
        }


def holdout_class_rows(evaluation: dict[str, Any]) -> dict[str, int] | None:
    """Holdout rows per class: recorded by name, else (older evidence) read off the confusion matrix."""
    if evaluation.get("holdout_classes"):
        return {str(k): int(v) for k, v in evaluation["holdout_classes"].items()}
    conf = (evaluation.get("curves") or {}).get("confusion")
    if conf and "tn" in conf:
        return {
            "negative class": int(conf["tn"]) + int(conf["fp"]),
            "positive class": int(conf["tp"]) + int(conf["fn"]),
        }
    return None


def _evidence_checks(evaluation: dict[str, Any], policy: PromotionConfig) -> list[PromotionCheck]:
    """Is the holdout large enough to decide on? One check for its size, one per class."""
    rows = evaluation.get("holdout_rows")
    checks = [
        PromotionCheck(
            "holdout_rows",
            passed=rows is not None and rows >= policy.min_holdout_rows,
            rows=rows,
            threshold=policy.min_holdout_rows,
            message=(
                f"holdout has {rows} rows, at least {policy.min_holdout_rows} needed"
                if rows is not None
                else "the evaluation does not record its holdout size"
            ),
        )
    ]
    if evaluation.get("task") == "regression":
        return checks  # no classes to count
    classes = holdout_class_rows(evaluation)
    if classes is None:
        checks.append(
            PromotionCheck(
                "class_rows",
                passed=policy.min_class_rows == 0,
                rows=None,
                threshold=policy.min_class_rows,
                message="the evaluation does not record its holdout rows per class",
            )
        )
        return checks
    for name, count in classes.items():
        checks.append(
            PromotionCheck(
                "class_rows",
                subject=name,
                passed=count >= policy.min_class_rows,
                rows=count,
                threshold=policy.min_class_rows,
                message=f"class {name!r} has {count} holdout rows, at least {policy.min_class_rows} needed",
            )
        )
    return checks


def _floor_checks(holdout: dict[str, Any], policy: PromotionConfig) -> list[PromotionCheck]:
    checks = []
    for metric, floor in policy.floors.items():
        value = (holdout.get(metric) or {}).get("value")
        ok = value is not None and (value >= floor if higher_is_better(metric) else value <= floor)
        checks.append(PromotionCheck("floor", subject=metric, passed=ok, value=value, threshold=floor))
    return checks


def _slice_checks(evaluation: dict[str, Any], policy: PromotionConfig) -> list[PromotionCheck]:
    """One check per slice: passed, failed, or skipped (``passed`` None) when too small."""
    gates = policy.slice_gates
    assert gates is not None
    slices = evaluation.get("slices") or {}
    if not slices:
        return [
            PromotionCheck(
                "slice_gates",
                passed=False,
                message="slice gates are configured but the evaluation holds no slices; "
                "set dataset.slice_columns (or remove promotion.slice_gates)",
            )
        ]
    checks = []
    for column, entries in slices.items():
        for entry in entries:
            cmp = entry.get("comparison") or {}
            rows, difference = entry["rows"], cmp.get("difference")
            max_drop = tolerance(cmp.get("metric", ""), gates.max_drop, cmp.get("champion"))
            gate = partial(PromotionCheck, "slice", subject=f"{column}={entry['value']}", rows=rows, threshold=max_drop)
            if rows < gates.min_rows:
                message = f"not gated: {rows} rows < min_rows {gates.min_rows}"
                checks.append(gate(passed=None, skip="small", difference=difference, message=message))
            elif difference is None:
                message = f"{cmp.get('metric', 'metric')} undefined here (one class only)"
                checks.append(gate(passed=None, skip="undefined", message=message))
            else:
                checks.append(
                    gate(
                        passed=difference >= -max_drop,
                        difference=difference,
                        lower=cmp.get("lower"),
                        upper=cmp.get("upper"),
                        challenger=cmp.get("challenger"),
                        champion=cmp.get("champion"),
                    )
                )
    return checks


def decide_promotion(
    evaluation: dict[str, Any], policy: PromotionConfig, *, force: bool = False, force_reason: str = ""
) -> PromotionDecision:
    """Judge one evaluation (``Evaluation.to_dict()``) against the policy; see the module docstring."""
    checks = _floor_checks(evaluation["holdout"], policy)
    failed_floors = [c for c in checks if not c.passed]
    evidence = _evidence_checks(evaluation, policy)
    checks.extend(evidence)
    thin = tuple(c.message or "" for c in evidence if not c.passed)
    champion = evaluation.get("champion")
    champion_version = champion["version"] if champion else None
    cmp = champion["comparison"] if champion else None
    non_inferiority = improvement = None
    margin = min_improvement = None
    if cmp is not None:
        lower = cmp["lower"]
        interval = {"difference": cmp["difference"], "lower": lower, "upper": cmp["upper"]}
        margin = tolerance(cmp["metric"], policy.margin, cmp.get("champion"))
        non_inferiority = PromotionCheck(
            "non_inferiority",
            subject=cmp["metric"],
            passed=lower is not None and lower > -margin,
            threshold=margin,
            **interval,
        )
        checks.append(non_inferiority)
        if policy.min_improvement is not None:
            min_improvement = tolerance(cmp["metric"], policy.min_improvement, cmp.get("champion"))
            improvement = PromotionCheck(
                "improvement",
                subject=cmp["metric"],
                passed=lower is not None and lower > min_improvement,
                threshold=min_improvement,
                **interval,
            )
            checks.append(improvement)
        if policy.slice_gates is not None:
            checks.extend(_slice_checks(evaluation, policy))
    verdict = tuple(checks)

    if force:
        why = force_reason or "no reason given"
        return PromotionDecision(
            True, f"manual override: {why}", verdict, champion_version, forced=True, thin_evidence=thin
        )
    if thin:
        return PromotionDecision(
            False, f"too little evidence to promote: {'; '.join(thin)}", verdict, champion_version, thin_evidence=thin
        )
    if failed_floors:
        worst = failed_floors[0]
        shown = "missing" if worst.value is None else f"{worst.value:.3f}"
        return PromotionDecision(
            False,
            f"below floor: {worst.subject} {shown} (floor {worst.threshold:.3f})",
            verdict,
            champion_version,
        )
    if cmp is None or non_inferiority is None or margin is None:
        return PromotionDecision(True, "first model: no champion yet and every floor is met", verdict, None)
    direction = "" if higher_is_better(cmp["metric"]) else " (lower is better; difference > 0: challenger lower)"
    detail = (
        f"{cmp['metric']} {cmp['challenger']:.3f} vs champion v{champion_version} {cmp['champion']:.3f}, "
        f"difference {cmp['difference']:+.3f} (95% CI {_signed(cmp['lower'])} to {_signed(cmp['upper'])}), "
        f"margin {margin:.3f}{direction}"
    )
    if not non_inferiority.passed:
        return PromotionDecision(False, f"may be worse than the champion: {detail}", verdict, champion_version)
    if improvement is not None and not improvement.passed:
        return PromotionDecision(
            False,
            f"not clearly better than the champion (needs a lower bound above {min_improvement or 0:+.3f}): {detail}",
            verdict,
            champion_version,
        )
    failed_slices = [c for c in checks if c.kind in ("slice", "slice_gates") and c.passed is False]
    if failed_slices:
        worst = min(failed_slices, key=_slice_drop_order)
        if worst.kind == "slice_gates" or worst.difference is None:
            return PromotionDecision(False, worst.message or "", verdict, champion_version)
        others = f" ({len(failed_slices) - 1} more slice(s) fail too)" if len(failed_slices) > 1 else ""
        max_drop = worst.threshold if worst.threshold is not None else 0.0
        return PromotionDecision(
            False,
            f"fails a slice gate: {cmp['metric']} drops {-worst.difference:.3f} in "
            f"{worst.subject} vs champion v{champion_version} (allowed "
            f"{max_drop:.3f}){others}; overall {detail}",
            verdict,
            champion_version,
        )
    if policy.min_improvement is not None:
        return PromotionDecision(
            True,
            f"better than the champion by more than {min_improvement or 0:.3f}: {detail}",
            verdict,
            champion_version,
        )
    return PromotionDecision(True, f"not worse than the champion: {detail}", verdict, champion_version)


def _slice_drop_order(check: PromotionCheck) -> float:
    """Sort key of failed slice checks: the largest drop first; "no slices at all" before any."""
    return float("-inf") if check.difference is None else check.difference


def _signed(x: float | None) -> str:
    """A signed number for a reason line, or 'n/a' when undefined."""
    return "n/a" if x is None else f"{x:+.3f}"
