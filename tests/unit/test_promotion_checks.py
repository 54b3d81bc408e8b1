"""Typed promotion checks: the decisions and their stored JSON are those of the string-named checks.

``tests/unit/fixtures/promotion_decisions_before_typed_checks.json`` holds ``PromotionDecision.to_dict()``
of every scenario below as the code wrote it while checks were dicts named ``"kind:subject"`` and
parsed back with ``split(":")``. Each scenario must still decide the same and store the very same
JSON, and those old records must read back as typed checks and show on the model page as before.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from pipeline.core.config import PromotionConfig
from pipeline.core.errors import RegistryError
from pipeline.modeling.promotion import PromotionCheck, decide_promotion, stored_checks
from pipeline.registry.base import ModelVersion
from pipeline.reporting.pages import render_model_html
from pipeline.reporting.templating import fmt

OLD_DECISIONS: dict[str, dict[str, Any]] = json.loads(
    (Path(__file__).parent / "fixtures" / "promotion_decisions_before_typed_checks.json").read_text()
)


def _est(v):
    return {"value": v, "lower": None if v is None else v - 0.05, "upper": None if v is None else v + 0.05}


def _evaluation(roc_auc=0.8, rows=200, classes=None, champion=None, slices=None, confusion=False):
    ev: dict[str, Any] = {
        "holdout_rows": rows,
        "holdout": {"roc_auc": _est(roc_auc), "log_loss": _est(0.5)},
        "champion": champion,
    }
    if classes is not None:
        ev["holdout_classes"] = classes
    if confusion:
        ev["curves"] = {"confusion": {"tn": 40, "fp": 10, "tp": 5, "fn": 3}}
    if slices is not None:
        ev["slices"] = slices
    return ev


def _comparison(difference, lower, upper, challenger, champion):
    return {
        "metric": "roc_auc",
        "challenger": challenger,
        "champion": champion,
        "difference": difference,
        "lower": lower,
        "upper": upper,
    }


def _champion(lower, difference=0.0, upper=0.05):
    return {"version": 3, "comparison": _comparison(difference, lower, upper, 0.8 + difference, 0.8)}


def _slice(value, rows, difference):
    if difference is None:
        return {"value": value, "rows": rows, "comparison": None}
    cmp = _comparison(difference, difference - 0.02, difference + 0.02, 0.8, 0.8 - difference)
    return {"value": value, "rows": rows, "comparison": cmp}


BASIC = PromotionConfig(primary_metric="roc_auc", margin=0.01, floors={"roc_auc": 0.6})
FLOORS = PromotionConfig(primary_metric="roc_auc", margin=0.01, floors={"roc_auc": 0.6, "log_loss": 0.4})
IMPROVE = PromotionConfig(margin=0.01, min_improvement=0.01, floors={})
GATED = PromotionConfig(
    primary_metric="roc_auc", margin=0.01, floors={}, slice_gates={"max_drop": 0.05, "min_rows": 100}, min_class_rows=20
)
ONE_CLASS = {"metric": "roc_auc"}

SCENARIOS: dict[str, tuple[dict[str, Any], PromotionConfig, dict[str, Any]]] = {
    "first_model": (_evaluation(classes={"no": 100, "yes": 100}), BASIC, {}),
    "below_floor_and_lower_is_better_floor": (_evaluation(roc_auc=0.55, classes={"no": 100, "yes": 100}), FLOORS, {}),
    "missing_metric": (
        _evaluation(roc_auc=None, classes={"no": 100, "yes": 100}, champion=_champion(lower=None)),
        BASIC,
        {},
    ),
    "thin_evidence": (_evaluation(rows=30, classes={"no": 25, "yes": 5}), BASIC, {}),
    "no_class_record": (_evaluation(rows=None), BASIC, {}),
    "classes_from_confusion": (_evaluation(confusion=True), BASIC, {}),
    "forced_on_thin_evidence": (
        _evaluation(rows=30, classes={"a:b": 25, "yes": 5}),
        BASIC,
        {"force": True, "force_reason": "pilot"},
    ),
    "not_worse": (
        _evaluation(classes={"no": 100, "yes": 100}, champion=_champion(lower=-0.005, difference=0.01)),
        BASIC,
        {},
    ),
    "may_be_worse": (
        _evaluation(classes={"no": 100, "yes": 100}, champion=_champion(lower=-0.04, difference=-0.02)),
        BASIC,
        {},
    ),
    "not_clearly_better": (
        _evaluation(classes={"no": 100, "yes": 100}, champion=_champion(lower=0.005, difference=0.02)),
        IMPROVE,
        {},
    ),
    "clearly_better": (
        _evaluation(classes={"no": 100, "yes": 100}, champion=_champion(lower=0.011, difference=0.03)),
        IMPROVE,
        {},
    ),
    "slice_gates_without_slices": (
        _evaluation(classes={"no": 100, "yes": 100}, champion=_champion(lower=0.0, difference=0.02)),
        GATED,
        {},
    ),
    "slice_refused": (
        _evaluation(
            classes={"no": 100, "yes": 100},
            champion=_champion(lower=0.0, difference=0.02),
            slices={"region": [_slice("north", 500, 0.03), _slice("east", 400, -0.08), _slice("west:x", 300, -0.12)]},
        ),
        GATED,
        {},
    ),
    "slice_skipped": (
        _evaluation(
            classes={"no": 100, "yes": 100},
            champion=_champion(lower=0.0, difference=0.02),
            slices={
                "plan": [
                    _slice("basic", 500, -0.05),
                    _slice("premium", 40, -0.4),
                    _slice("tiny", 10, None),
                    {"value": "standard", "rows": 300, "comparison": ONE_CLASS},
                ]
            },
        ),
        GATED,
        {},
    ),
}


def test_every_scenario_is_pinned() -> None:
    assert set(SCENARIOS) == set(OLD_DECISIONS)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_decision_and_its_stored_json_are_unchanged(name: str) -> None:
    evaluation, policy, kwargs = SCENARIOS[name]
    stored = decide_promotion(evaluation, policy, **kwargs).to_dict()
    assert json.dumps(stored) == json.dumps(OLD_DECISIONS[name])  # same keys, same order, same numbers


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_an_old_record_reads_back_as_the_checks_that_wrote_it(name: str) -> None:
    old = OLD_DECISIONS[name]
    checks = stored_checks(old)
    assert json.dumps([c.to_dict() for c in checks]) == json.dumps(old["checks"])
    assert [c.name for c in checks] == [c["check"] for c in old["checks"]]
    assert [c.passed for c in checks] == [c["passed"] for c in old["checks"]]
    evaluation, policy, kwargs = SCENARIOS[name]
    assert checks == decide_promotion(evaluation, policy, **kwargs).checks


def test_names_are_taken_apart_once_and_keep_colons_in_the_subject() -> None:
    forced = {c.name: c for c in stored_checks(OLD_DECISIONS["forced_on_thin_evidence"])}
    assert forced["class_rows:a:b"].kind == "class_rows" and forced["class_rows:a:b"].subject == "a:b"
    assert forced["class_rows:a:b"].rows == 25 and forced["class_rows:a:b"].threshold == 20
    refused = {c.name: c for c in stored_checks(OLD_DECISIONS["slice_refused"])}
    west = refused["slice:region=west:x"]
    assert (west.kind, west.subject, west.passed, west.threshold) == ("slice", "region=west:x", False, 0.05)
    assert west.difference == pytest.approx(-0.12)
    floor = stored_checks(OLD_DECISIONS["below_floor_and_lower_is_better_floor"])[0]
    assert (floor.kind, floor.subject, floor.value, floor.threshold) == ("floor", "roc_auc", 0.55, 0.6)
    unrecorded = {c.name: c for c in stored_checks(OLD_DECISIONS["no_class_record"])}
    assert unrecorded["class_rows"].subject is None and unrecorded["holdout_rows"].rows is None


def test_skipped_slices_keep_their_reason() -> None:
    checks = {c.subject: c for c in stored_checks(OLD_DECISIONS["slice_skipped"]) if c.kind == "slice"}
    assert {s: (c.passed, c.skip) for s, c in checks.items()} == {
        "plan=basic": (True, None),
        "plan=premium": (None, "small"),
        "plan=tiny": (None, "small"),
        "plan=standard": (None, "undefined"),
    }
    assert "difference" in checks["plan=tiny"].to_dict() and "difference" not in checks["plan=standard"].to_dict()


def test_decisions_without_checks_and_unknown_checks() -> None:
    assert stored_checks(None) == ()
    undecided = {"promote": False, "reason": "x", "checks": [], "champion_version": 2, "forced": False}
    assert stored_checks(undecided) == ()
    with pytest.raises(RegistryError, match="unknown promotion check"):
        PromotionCheck.from_dict({"check": "vibes:roc_auc", "passed": True})


class _Tables(HTMLParser):
    """Every table cell's text, row by row."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _model_version(decision: dict[str, Any]) -> ModelVersion:
    est = {"value": 0.8, "lower": 0.75, "upper": 0.85}
    comparison = {"metric": "roc_auc", "challenger": 0.82, "champion": 0.8, "difference": 0.02, "lower": 0.0}
    comparison.update(upper=0.04, prob_challenger_better=0.9, n_resamples=200)

    def entry(value: str, rows: int, cmp: dict[str, Any] | None) -> dict[str, Any]:
        return {
            "value": value,
            "rows": rows,
            "positives": rows // 2,
            "small": rows < 100,
            "metrics": {"roc_auc": est},
            "comparison": cmp,
        }

    slices = {
        "plan": [
            entry("basic", 500, {**comparison, "difference": -0.05}),
            entry("premium", 40, {**comparison, "difference": -0.4}),
            entry("tiny", 10, None),
            entry("standard", 300, {"metric": "roc_auc"}),
        ]
    }
    evaluation = {
        "train_rows": 800,
        "holdout_rows": 200,
        "holdout": {"roc_auc": est},
        "cross_validation": {},
        "champion": {"version": 3, "holdout": {"roc_auc": 0.8}, "comparison": comparison},
        "slices": slices,
    }
    return ModelVersion(
        name="churn",
        version=4,
        snapshot_id="snap",
        config_hash="cfg",
        spec_name="spec",
        params={},
        metrics=evaluation["holdout"],
        evaluation=evaluation,
        artifact_uri="a.joblib",
        artifact_sha256="f" * 64,
        validation_id=None,
        trigger={},
        code_version="pkg:0.1",
        lineage={},
        decision=decision,
        aliases=(),
        created_at="2024-01-01T00:00:00+00:00",
    )


@pytest.mark.parametrize("name", ["slice_skipped", "forced_on_thin_evidence", "missing_metric"])
def test_an_old_record_shows_on_the_model_page_as_before(name: str) -> None:
    """Each check's row reads name, outcome and each of its other fields (``key value``, no raw JSON:
    issue 17), as the string-check page showed them."""
    old = OLD_DECISIONS[name]
    tables = _Tables()
    tables.feed(render_model_html(_model_version(old)))
    start = tables.rows.index(["check", "passed", "details"])
    shown = tables.rows[start + 1 : start + 1 + len(old["checks"])]

    def outcome(passed: bool | None) -> str:
        return "—" if passed is None else ("passed" if passed else "failed")

    assert shown == [
        [
            c["check"],
            outcome(c["passed"]),
            "; ".join(f"{k} {fmt(v)}" for k, v in c.items() if k not in ("check", "passed")),
        ]
        for c in old["checks"]
    ]


def test_the_slice_table_shows_each_gate_of_an_old_record() -> None:
    tables = _Tables()
    tables.feed(render_model_html(_model_version(OLD_DECISIONS["slice_skipped"])))
    gates = {row[0]: row[-1] for row in tables.rows if row and row[0] in ("basic", "premium", "tiny", "standard")}
    assert gates == {"basic": "passed", "premium": "—", "tiny": "—", "standard": "—"}
