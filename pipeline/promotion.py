"""The promotion policy: move ``champion`` only when the evidence says so.

Reads only the stored evaluation (TFX's gate-then-act): floors on any metric, then
non-inferiority against the champion on the same holdout — the lower end of the paired
bootstrap interval of (challenger − champion) must stay above −margin. A manual override is
allowed and recorded with its reason.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pipeline.config import PromotionConfig
from pipeline.metrics import HIGHER_IS_BETTER


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    reason: str
    checks: tuple[dict[str, Any], ...]
    champion_version: int | None
    forced: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["checks"] = list(self.checks)
        return d


def decide_promotion(evaluation: dict[str, Any], policy: PromotionConfig, *, force: bool = False,
                     force_reason: str = "") -> PromotionDecision:
    """Judge one evaluation (``Evaluation.to_dict()``) against the policy."""
    checks: list[dict[str, Any]] = []
    holdout = evaluation["holdout"]
    for metric, floor in policy.floors.items():
        value = holdout[metric]["value"]
        ok = value >= floor if HIGHER_IS_BETTER[metric] else value <= floor
        checks.append({"check": f"floor:{metric}", "passed": ok, "value": value, "floor": floor})
    champion = evaluation.get("champion")
    champion_version = champion["version"] if champion else None
    failed_floors = [c for c in checks if not c["passed"]]

    if champion is not None:
        cmp = champion["comparison"]
        ok = cmp["lower"] > -policy.margin
        checks.append({"check": f"non_inferiority:{cmp['metric']}", "passed": ok, "difference": cmp["difference"],
                       "lower": cmp["lower"], "upper": cmp["upper"], "margin": policy.margin})

    if force:
        why = force_reason or "no reason given"
        return PromotionDecision(True, f"manual override: {why}", tuple(checks), champion_version, forced=True)
    if failed_floors:
        worst = failed_floors[0]
        return PromotionDecision(False, f"below floor: {worst['check'].split(':')[1]} {worst['value']:.3f} "
                                        f"(floor {worst['floor']:.3f})", tuple(checks), champion_version)
    if champion is None:
        return PromotionDecision(True, "first model: no champion yet and every floor is met", tuple(checks), None)
    cmp = champion["comparison"]
    detail = (f"{cmp['metric']} {cmp['challenger']:.3f} vs champion v{champion_version} {cmp['champion']:.3f}, "
              f"difference {cmp['difference']:+.3f} (95% CI {cmp['lower']:+.3f} to {cmp['upper']:+.3f}), "
              f"margin {policy.margin:.3f}")
    if cmp["lower"] > -policy.margin:
        return PromotionDecision(True, f"not worse than the champion: {detail}", tuple(checks), champion_version)
    return PromotionDecision(False, f"may be worse than the champion: {detail}", tuple(checks), champion_version)
