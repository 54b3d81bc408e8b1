"""The promotion policy: move ``champion`` only when the evidence says so.

Reads only the stored evaluation (TFX's gate-then-act).  The checks, in the order a reader
meets them in the decision:

0. **enough evidence** -- the holdout must hold at least ``min_holdout_rows`` rows and at least
   ``min_class_rows`` of each class; below that nothing is promoted, not even a first model
   (a champion crowned on 4 rows is a coin toss with a badge);
1. **floors** -- every floored metric on the holdout must reach its floor;
2. with a champion, **non-inferiority** -- the lower end of the paired bootstrap interval of
   (challenger - champion) on the primary metric must stay above ``-margin``;
3. with ``min_improvement`` set, **improvement** -- that lower end must exceed
   ``min_improvement`` (the challenger is better by at least that much, with 95% confidence);
4. with ``slice_gates`` set, **slice gates** -- in no slice with at least ``min_rows`` holdout
   rows may the primary metric drop by more than ``max_drop`` against the champion (observed
   paired difference; its interval is recorded next to it).

The first model is promoted when it clears the floors.  A manual override promotes regardless
and is recorded with its reason; every check is still evaluated and stored with the decision.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pipeline.core.config import PromotionConfig
from pipeline.modeling.metrics import HIGHER_IS_BETTER


@dataclass(frozen=True)
class PromotionDecision:
    """The verdict, its one-line reason, and every check with its numbers."""

    promote: bool
    reason: str
    checks: tuple[dict[str, Any], ...]
    champion_version: int | None
    forced: bool = False
    thin_evidence: tuple[str, ...] = ()
    """Why the holdout is too small to decide on, in plain words (empty: it is large enough)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, stored with the model version."""
        d = asdict(self)
        d["checks"] = list(self.checks)
        d["thin_evidence"] = list(self.thin_evidence)
        return d


def holdout_class_rows(evaluation: dict[str, Any]) -> dict[str, int] | None:
    """Holdout rows per class: recorded by name, else (older evidence) read off the confusion matrix."""
    if evaluation.get("holdout_classes"):
        return {str(k): int(v) for k, v in evaluation["holdout_classes"].items()}
    conf = (evaluation.get("curves") or {}).get("confusion")
    if conf:
        return {
            "negative class": int(conf["tn"]) + int(conf["fp"]),
            "positive class": int(conf["tp"]) + int(conf["fn"]),
        }
    return None


def _evidence_checks(evaluation: dict[str, Any], policy: PromotionConfig) -> list[dict[str, Any]]:
    """Is the holdout large enough to decide on? One check for its size, one per class."""
    rows = evaluation.get("holdout_rows")
    checks: list[dict[str, Any]] = [
        {
            "check": "holdout_rows",
            "passed": rows is not None and rows >= policy.min_holdout_rows,
            "rows": rows,
            "min_rows": policy.min_holdout_rows,
            "message": (
                f"holdout has {rows} rows, at least {policy.min_holdout_rows} needed"
                if rows is not None
                else "the evaluation does not record its holdout size"
            ),
        }
    ]
    classes = holdout_class_rows(evaluation)
    if classes is None:
        checks.append(
            {
                "check": "class_rows",
                "passed": policy.min_class_rows == 0,
                "rows": None,
                "min_rows": policy.min_class_rows,
                "message": "the evaluation does not record its holdout rows per class",
            }
        )
        return checks
    for name, count in classes.items():
        checks.append(
            {
                "check": f"class_rows:{name}",
                "passed": count >= policy.min_class_rows,
                "rows": count,
                "min_rows": policy.min_class_rows,
                "message": f"class {name!r} has {count} holdout rows, at least {policy.min_class_rows} needed",
            }
        )
    return checks


def _floor_checks(holdout: dict[str, Any], policy: PromotionConfig) -> list[dict[str, Any]]:
    checks = []
    for metric, floor in policy.floors.items():
        value = (holdout.get(metric) or {}).get("value")
        ok = value is not None and (value >= floor if HIGHER_IS_BETTER[metric] else value <= floor)
        checks.append({"check": f"floor:{metric}", "passed": ok, "value": value, "floor": floor})
    return checks


def _slice_checks(evaluation: dict[str, Any], policy: PromotionConfig) -> list[dict[str, Any]]:
    """One check per slice: passed, failed, or skipped (``passed`` None) when too small."""
    gates = policy.slice_gates
    assert gates is not None
    slices = evaluation.get("slices") or {}
    if not slices:
        return [
            {
                "check": "slice_gates",
                "passed": False,
                "message": "slice gates are configured but the evaluation holds no slices; "
                "set dataset.slice_columns (or remove promotion.slice_gates)",
            }
        ]
    checks = []
    for column, entries in slices.items():
        for entry in entries:
            cmp = entry.get("comparison") or {}
            base = {"check": f"slice:{column}={entry['value']}", "rows": entry["rows"], "max_drop": gates.max_drop}
            difference = cmp.get("difference")
            if entry["rows"] < gates.min_rows:
                checks.append(
                    {
                        **base,
                        "passed": None,
                        "difference": difference,
                        "message": f"not gated: {entry['rows']} rows < min_rows {gates.min_rows}",
                    }
                )
            elif difference is None:
                checks.append(
                    {
                        **base,
                        "passed": None,
                        "message": f"{cmp.get('metric', 'metric')} undefined here (one class only)",
                    }
                )
            else:
                checks.append(
                    {
                        **base,
                        "passed": difference >= -gates.max_drop,
                        "difference": difference,
                        "lower": cmp.get("lower"),
                        "upper": cmp.get("upper"),
                        "challenger": cmp.get("challenger"),
                        "champion": cmp.get("champion"),
                    }
                )
    return checks


def decide_promotion(
    evaluation: dict[str, Any], policy: PromotionConfig, *, force: bool = False, force_reason: str = ""
) -> PromotionDecision:
    """Judge one evaluation (``Evaluation.to_dict()``) against the policy; see the module docstring."""
    checks = _floor_checks(evaluation["holdout"], policy)
    failed_floors = [c for c in checks if not c["passed"]]
    evidence = _evidence_checks(evaluation, policy)
    checks.extend(evidence)
    thin = tuple(c["message"] for c in evidence if not c["passed"])
    champion = evaluation.get("champion")
    champion_version = champion["version"] if champion else None
    cmp = champion["comparison"] if champion else None
    if cmp is not None:
        lower = cmp["lower"]
        checks.append(
            {
                "check": f"non_inferiority:{cmp['metric']}",
                "passed": lower is not None and lower > -policy.margin,
                "difference": cmp["difference"],
                "lower": lower,
                "upper": cmp["upper"],
                "margin": policy.margin,
            }
        )
        if policy.min_improvement is not None:
            checks.append(
                {
                    "check": f"improvement:{cmp['metric']}",
                    "passed": lower is not None and lower > policy.min_improvement,
                    "difference": cmp["difference"],
                    "lower": lower,
                    "upper": cmp["upper"],
                    "min_improvement": policy.min_improvement,
                }
            )
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
        shown = "missing" if worst["value"] is None else f"{worst['value']:.3f}"
        return PromotionDecision(
            False,
            f"below floor: {worst['check'].split(':')[1]} {shown} (floor {worst['floor']:.3f})",
            verdict,
            champion_version,
        )
    if cmp is None:
        return PromotionDecision(True, "first model: no champion yet and every floor is met", verdict, None)
    detail = (
        f"{cmp['metric']} {cmp['challenger']:.3f} vs champion v{champion_version} {cmp['champion']:.3f}, "
        f"difference {cmp['difference']:+.3f} (95% CI {_signed(cmp['lower'])} to {_signed(cmp['upper'])}), "
        f"margin {policy.margin:.3f}"
    )
    by_name = {c["check"].split(":")[0]: c for c in checks if ":" in c["check"]}
    if not by_name["non_inferiority"]["passed"]:
        return PromotionDecision(False, f"may be worse than the champion: {detail}", verdict, champion_version)
    if "improvement" in by_name and not by_name["improvement"]["passed"]:
        return PromotionDecision(
            False,
            f"not clearly better than the champion (needs a lower bound above {policy.min_improvement:+.3f}): {detail}",
            verdict,
            champion_version,
        )
    failed_slices = [c for c in checks if (c["check"].startswith("slice") and c["passed"] is False)]
    if failed_slices:
        worst = min(failed_slices, key=lambda c: c.get("difference", float("-inf")))
        if "difference" not in worst:
            return PromotionDecision(False, worst["message"], verdict, champion_version)
        others = f" ({len(failed_slices) - 1} more slice(s) fail too)" if len(failed_slices) > 1 else ""
        return PromotionDecision(
            False,
            f"fails a slice gate: {cmp['metric']} drops {-worst['difference']:.3f} in "
            f"{worst['check'].split(':', 1)[1]} vs champion v{champion_version} (allowed "
            f"{policy.slice_gates.max_drop:.3f}){others}; overall {detail}",
            verdict,
            champion_version,
        )
    if policy.min_improvement is not None:
        return PromotionDecision(
            True,
            f"better than the champion by more than {policy.min_improvement:.3f}: {detail}",
            verdict,
            champion_version,
        )
    return PromotionDecision(True, f"not worse than the champion: {detail}", verdict, champion_version)


def _signed(x: float | None) -> str:
    """A signed number for a reason line, or 'n/a' when undefined."""
    return "n/a" if x is None else f"{x:+.3f}"
