"""The console's Validation pages: every validation at a glance, one validation in full, its Data Docs.

A validation is stored as one summary (``ValidationReport.to_dict()`` plus the Airflow run id when
a ``ct_train`` run recorded it), so the list is built from one ``list_validations`` call and a
validation's page from one ``get_validation``. The page shows per feature the drift test, its
statistic, raw and Benjamini-Hochberg corrected p-values and verdict, with the reference and
current distributions drawn over each other; those are not in the summary, so they are rebuilt
from the statistics validation cached (:mod:`pipeline.app.console.drift_overlays`). Then the label
contract (expected against observed class shares), train/holdout parity and the expectation
results, failures first. Data Docs published by the validate stage are served from the object
store, confined to the Data Docs site.
"""

from __future__ import annotations

import mimetypes
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from markupsafe import Markup

from pipeline.app.console.drift_overlays import CategoryOverlay, NumericOverlay, Overlay, drift_overlays
from pipeline.app.console.html import render_page
from pipeline.app.console.links import Links
from pipeline.app.console.stored import number
from pipeline.app.workspace import Workspace
from pipeline.core.errors import NotFound
from pipeline.quality.data_docs import DOCS_PREFIX
from pipeline.quality.drift import DRIFT_TESTS
from pipeline.registry.base import ValidationRecord
from pipeline.reporting.plots import category_bars_svg, overlay_histogram_svg

LIST_LIMIT = 200
"""Validations listed (the newest)."""
TRAIN_DAG = "ct_train"
DATA_DOCS_SETTING = "validation.expectations.data_docs"

TEST_NAMES = {
    "ks": "Kolmogorov-Smirnov",
    "chi_square": "χ²",
    "psi": "PSI",
    "jensen_shannon": "Jensen-Shannon",
    "wasserstein": "Wasserstein",
}
"""How each registered drift test is named on the page (an unknown name is shown as stored)."""
STATISTIC_NAMES = {"ks": "D", "chi_square": "Cramér's V"}
"""What a p-value test's effect size is; a distance test's statistic is the distance itself."""
SEVERITY_ORDER = {"fail": 0, "warn": 1, "info": 2}
_HIDDEN_KWARGS = frozenset({"column", "result_format", "catch_exceptions", "meta"})
_LISTED = 6


# -- the list ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ValidationRow:
    """One validation in the list."""

    id: int
    snapshot_id: str
    reference_snapshot_id: str | None
    passed: bool
    new_rows: int | None
    failed_checks: dict[str, int]
    tested_features: int | None
    """Features compared for drift (None: no reference, drift not measured)."""
    drifted_features: tuple[str, ...]
    label_contract_held: bool | None
    run_id: str | None
    created_at: str


@dataclass(frozen=True)
class ValidationsView:
    """The newest validations, newest first."""

    rows: tuple[ValidationRow, ...]
    limit: int
    truncated: bool
    """Whether older validations may exist beyond the ones listed."""


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _row(record: ValidationRecord) -> ValidationRow:
    s = record.summary
    drift = s.get("drift") or None
    failed = s.get("failed_checks") or {}
    return ValidationRow(
        id=record.id,
        snapshot_id=record.snapshot_id,
        reference_snapshot_id=record.reference_snapshot_id,
        passed=record.passed,
        new_rows=_int_or_none(s.get("new_rows")),
        failed_checks={str(k): int(v) for k, v in failed.items() if int(v)},
        tested_features=len(drift.get("features", [])) if drift else None,
        drifted_features=tuple(s.get("drifted_features") or ()),
        label_contract_held=s.get("label_contract_held"),
        run_id=s.get("run_id"),
        created_at=record.created_at,
    )


def build_validations(ws: Workspace) -> ValidationsView:
    """The newest validations (one store call)."""
    rows = tuple(_row(r) for r in ws.meta.list_validations(limit=LIST_LIMIT))
    return ValidationsView(rows=rows, limit=LIST_LIMIT, truncated=len(rows) >= LIST_LIMIT)


def render_validations(view: ValidationsView, links: Links) -> str:
    """The list page; columns no validation has a value for are left out."""
    rows = view.rows
    show = {
        "reference": any(r.reference_snapshot_id for r in rows),
        "drift": any(r.tested_features is not None for r in rows),
        "label": any(r.label_contract_held is not None for r in rows),
        "run": any(r.run_id for r in rows),
        "warnings": any(r.failed_checks for r in rows),
    }
    return render_page(
        "validations.html.j2",
        links=links,
        title="Validations",
        section="validation",
        view=view,
        show=show,
        train_dag=TRAIN_DAG,
        listed=_LISTED,
    )


# -- one validation ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureDriftRow:
    """One feature's drift verdict, and the distributions compared when they could be rebuilt."""

    feature: str
    kind: str
    test: str
    test_name: str
    statistic_name: str
    statistic: float | None
    """The effect size: KS D, Cramér's V, or the distance of a distance test."""
    p_value: float | None
    adjusted_p_value: float | None
    threshold: float
    min_effect: float | None
    """A p-value test drifts when the corrected p-value < threshold and the effect >= this."""
    tested: bool
    drifted: bool
    overlay: NumericOverlay | CategoryOverlay | None


@dataclass(frozen=True)
class DriftView:
    features: tuple[FeatureDriftRow, ...]
    drift_share: float
    dataset_drifted: bool
    severity: str | None
    overlay_note: str | None


@dataclass(frozen=True)
class ClassShare:
    """One class of a label contract (or of train/holdout parity)."""

    label: str
    expected: float | None
    observed: float | None
    count: int | None
    deviation: float | None
    within: bool | None


@dataclass(frozen=True)
class RegressionLabel:
    """The evidence behind a regression label's contract."""

    label: str
    rows: int | None
    missing: int | None
    missing_share: float | None
    max_missing_share: float | None
    below_min: int | None
    above_max: int | None
    min: float | None
    max: float | None
    observed_min: float | None
    observed_max: float | None
    mean: float | None
    reference_mean: float | None
    reference_rows: int | None
    test: str | None
    test_name: str | None
    score: float | None
    effect_size: float | None
    threshold: float | None
    drifted: bool | None


@dataclass(frozen=True)
class ShareCheckView:
    """A class-share check: the label contract (expected vs observed) or train/holdout parity."""

    held: bool
    message: str
    severity: str | None
    tolerance: float | None
    max_deviation: float | None
    chi2: float | None
    p_value: float | None
    rows: int
    expected_from: str | None
    classes: tuple[ClassShare, ...]
    regression: RegressionLabel | None = None


@dataclass(frozen=True)
class ExpectationRow:
    """One expectation's result, in words."""

    expectation: str
    column: str | None
    severity: str
    success: bool
    expected: str
    observed: str
    unexpected_count: int | None
    unexpected_percent: float | None
    error: str | None


@dataclass(frozen=True)
class CheckRow:
    """A check other than an expectation (drift, label contract, parity)."""

    name: str
    severity: str
    passed: bool
    message: str


@dataclass(frozen=True)
class SuiteInfo:
    name: str | None
    expectations: int | None
    generated_from: str | None
    generated_at: str | None


@dataclass(frozen=True)
class ValidationView:
    """Everything one validation found."""

    id: int
    snapshot_id: str
    reference_snapshot_id: str | None
    passed: bool
    new_rows: int | None
    created_at: str
    run_id: str | None
    failed_checks: dict[str, int]
    checks: tuple[CheckRow, ...]
    drift: DriftView | None
    label_contract: ShareCheckView | None
    split_parity: ShareCheckView | None
    expectations: tuple[ExpectationRow, ...]
    suite: SuiteInfo | None
    has_data_docs: bool
    data_docs_page: str | None
    """The validation's own page inside the Data Docs site (relative to the site)."""
    statistics: dict[str, int]

    @property
    def expectations_failed(self) -> int:
        return sum(1 for e in self.expectations if not e.success)


def _feature_rows(drift: Mapping[str, Any], overlays: Mapping[str, Overlay]) -> tuple[FeatureDriftRow, ...]:
    rows = []
    for f in drift.get("features", []):
        test = DRIFT_TESTS.get(str(f["test"]))
        p_test = test is not None and test.kind == "p_value"
        p, adjusted = number(f.get("p_value")), number(f.get("adjusted_p_value"))
        statistic = number(f.get("effect_size"))
        tested = (p is not None) if p_test else statistic is not None
        rows.append(
            FeatureDriftRow(
                feature=str(f["feature"]),
                kind=str(f["kind"]),
                test=str(f["test"]),
                test_name=TEST_NAMES.get(str(f["test"]), str(f["test"])),
                statistic_name=STATISTIC_NAMES.get(str(f["test"]), "distance"),
                statistic=statistic,
                p_value=p,
                adjusted_p_value=adjusted,
                threshold=float(f["threshold"]),
                min_effect=test.min_effect if p_test and test is not None else None,
                tested=tested,
                drifted=bool(f["drifted"]),
                overlay=overlays.get(str(f["feature"])),
            )
        )
    # drifted first, then the largest changes
    rows.sort(key=lambda r: (not r.drifted, not r.tested, -(r.statistic or 0.0), r.feature))
    return tuple(rows)


def _check(summary: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    return next((c for c in summary.get("checks", []) if c.get("name") == name), None)


def _classes(d: Mapping[str, Any]) -> tuple[ClassShare, ...]:
    expected, observed, counts = d.get("expected_shares") or {}, d.get("observed_shares") or {}, d.get("counts") or {}
    tolerance = number(d.get("tolerance"))
    out = []
    for label in [*expected, *(k for k in observed if k not in expected)]:
        e, o = number(expected.get(label)), number(observed.get(label, 0.0 if expected else None))
        deviation = abs(o - e) if e is not None and o is not None else None
        within = None if deviation is None or tolerance is None else deviation <= tolerance + 1e-12
        out.append(ClassShare(str(label), e, o, _int_or_none(counts.get(label, 0)), deviation, within))
    return tuple(out)


def _regression(d: Mapping[str, Any] | None) -> RegressionLabel | None:
    if not d:
        return None
    test = d.get("test")
    return RegressionLabel(
        label=str(d.get("label")),
        rows=_int_or_none(d.get("rows")),
        missing=_int_or_none(d.get("missing")),
        missing_share=number(d.get("missing_share")),
        max_missing_share=number(d.get("max_missing_share")),
        below_min=_int_or_none(d.get("below_min")),
        above_max=_int_or_none(d.get("above_max")),
        min=number(d.get("min")),
        max=number(d.get("max")),
        observed_min=number(d.get("observed_min")),
        observed_max=number(d.get("observed_max")),
        mean=number(d.get("mean")),
        reference_mean=number(d.get("reference_mean")),
        reference_rows=_int_or_none(d.get("reference_rows")),
        test=str(test) if test else None,
        test_name=TEST_NAMES.get(str(test), str(test)) if test else None,
        score=number(d.get("score")),
        effect_size=number(d.get("effect_size")),
        threshold=number(d.get("threshold")),
        drifted=d.get("drifted"),
    )


def _share_check(d: Mapping[str, Any] | None, check: Mapping[str, Any] | None) -> ShareCheckView | None:
    if not d:
        return None
    details = (check or {}).get("details") or {}
    counts = d.get("counts") or {}
    return ShareCheckView(
        held=bool(d.get("held")),
        message=str(d.get("message", "")),
        severity=(check or {}).get("severity"),
        tolerance=number(d.get("tolerance")),
        max_deviation=number(d.get("max_deviation")),
        chi2=number(d.get("chi2")),
        p_value=number(d.get("p_value")),
        rows=sum(int(n) for n in counts.values()),
        expected_from=details.get("expected_from"),
        classes=_classes(d),
        regression=_regression(d.get("numeric")),
    )


def _plain(value: Any, most: int = 8) -> str:
    """A stored value in words: lists comma-separated (the first ``most``), numbers to 4 digits."""
    if isinstance(value, list | tuple):
        shown = ", ".join(_plain(v) for v in value[:most])
        return shown + (f", … ({len(value)} in all)" if len(value) > most else "")
    if isinstance(value, dict):
        return "; ".join(f"{k} {_plain(v)}" for k, v in value.items())
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _expected_text(kwargs: Mapping[str, Any]) -> str:
    return ", ".join(
        f"{k.replace('_', ' ')} {_plain(v)}" for k, v in kwargs.items() if k not in _HIDDEN_KWARGS and v is not None
    )


def _observed_text(d: Mapping[str, Any]) -> str:
    if d.get("error"):
        return f"could not be checked: {d['error']}"
    count = d.get("unexpected_count")
    if count:
        pct = number(d.get("unexpected_percent"))
        sample = d.get("sample") or []
        return (
            f"{count} unexpected"
            + (f" ({pct:.2g}%)" if pct is not None else "")
            + (f", e.g. {_plain(sample[:3])}" if sample else "")
        )
    if d.get("observed") is not None:
        return f"observed {_plain(d['observed'])}"
    if count == 0:
        return "no unexpected values"
    return ""


def _expectations(summary: Mapping[str, Any]) -> tuple[ExpectationRow, ...]:
    rows = []
    for c in summary.get("checks", []):
        if not str(c.get("name", "")).startswith("expectation:"):
            continue
        d = c.get("details") or {}
        rows.append(
            ExpectationRow(
                expectation=str(d.get("expectation") or c["name"].removeprefix("expectation:")),
                column=d.get("column"),
                severity=str(c.get("severity", d.get("severity", "fail"))),
                success=bool(c.get("passed")),
                expected=_expected_text(d.get("kwargs") or {}),
                observed=_observed_text(d),
                unexpected_count=_int_or_none(d.get("unexpected_count")),
                unexpected_percent=number(d.get("unexpected_percent")),
                error=d.get("error"),
            )
        )
    rows.sort(key=lambda r: (r.success, SEVERITY_ORDER.get(r.severity, 3)))
    return tuple(rows)


def _data_docs_page(uri: str | None) -> str | None:
    """The validation's page relative to the Data Docs site, from the URI the validate stage stored."""
    if not uri:
        return None
    marker = f"/{DOCS_PREFIX}/"
    return uri.split(marker, 1)[1] if marker in uri else None


def build_validation(ws: Workspace, validation_id: int) -> ValidationView:
    """One validation in full; an unknown id is :class:`NotFound` naming it."""
    try:
        record = ws.meta.get_validation(validation_id)
    except NotFound:
        raise NotFound(f"no validation with id {validation_id}; see the list of validations") from None
    s = record.summary
    drift_d = s.get("drift") or None
    drift = None
    if drift_d:
        names = [str(f["feature"]) for f in drift_d.get("features", [])]
        overlays = drift_overlays(ws, record.snapshot_id, record.reference_snapshot_id, names)
        check = _check(s, "drift")
        drift = DriftView(
            features=_feature_rows(drift_d, overlays.by_feature),
            drift_share=float(drift_d.get("drift_share", 0.0)),
            dataset_drifted=bool(drift_d.get("dataset_drifted")),
            severity=check.get("severity") if check else None,
            overlay_note=overlays.note,
        )
    parity_check = _check(s, "split_parity")
    suite = s.get("suite") or None
    page = _data_docs_page(s.get("data_docs_uri"))
    return ValidationView(
        id=record.id,
        snapshot_id=record.snapshot_id,
        reference_snapshot_id=record.reference_snapshot_id,
        passed=record.passed,
        new_rows=_int_or_none(s.get("new_rows")),
        created_at=record.created_at,
        run_id=s.get("run_id"),
        failed_checks={str(k): int(v) for k, v in (s.get("failed_checks") or {}).items()},
        checks=tuple(
            CheckRow(str(c["name"]), str(c.get("severity", "")), bool(c.get("passed")), str(c.get("message", "")))
            for c in s.get("checks", [])
            if not str(c.get("name", "")).startswith("expectation:")
        ),
        drift=drift,
        label_contract=_share_check(s.get("label_contract"), _check(s, "label_contract")),
        split_parity=_share_check((parity_check or {}).get("details"), parity_check),
        expectations=_expectations(s),
        suite=SuiteInfo(
            name=suite.get("name"),
            expectations=_int_or_none(suite.get("expectations")),
            generated_from=suite.get("generated_from"),
            generated_at=suite.get("generated_at"),
        )
        if suite
        else None,
        has_data_docs=bool(s.get("data_docs_uri")),
        data_docs_page=page,
        statistics={str(k): int(v) for k, v in (s.get("statistics") or {}).items() if _int_or_none(v) is not None},
    )


def _overlay_svg(row: FeatureDriftRow) -> Markup | None:
    o = row.overlay
    if isinstance(o, NumericOverlay):
        return overlay_histogram_svg(
            f"{row.feature}: reference vs current",
            o.edges,
            o.reference_shares,
            o.current_shares,
            o.reference_rows,
            o.current_rows,
        )
    if isinstance(o, CategoryOverlay):
        return category_bars_svg(
            f"{row.feature}: reference vs current",
            o.levels,
            o.reference_shares,
            o.current_shares,
            o.reference_rows,
            o.current_rows,
        )
    return None


def _data_docs_href(links: Links, validation_id: int, page: str | None) -> str:
    """The validation's own Data Docs page, beside the site's index that ``Links.data_docs`` gives."""
    index = links.data_docs(validation_id)
    if not page:
        return index
    return index.removesuffix("index.html") + quote(page)


def render_validation(view: ValidationView, links: Links) -> str:
    """One validation's page."""
    overlays = {r.feature: _overlay_svg(r) for r in view.drift.features} if view.drift else {}
    features = view.drift.features if view.drift else ()
    show = {
        "p_value": any(r.p_value is not None for r in features),
        "rule_effect": any(r.min_effect for r in features),
        "overlay": any(v is not None for v in overlays.values()),
    }
    return render_page(
        "validation.html.j2",
        links=links,
        title=f"Validation {view.id}",
        section="validation",
        v=view,
        overlays=overlays,
        show=show,
        train_dag=TRAIN_DAG,
        data_docs_href=_data_docs_href(links, view.id, view.data_docs_page) if view.has_data_docs else None,
    )


# -- Data Docs --------------------------------------------------------------------------------------


def data_docs_file(ws: Workspace, validation_id: int, path: str) -> tuple[bytes, str]:
    """A file of the Data Docs site published with this validation, and its media type.

    All validations share one site (``reports/validation/data_docs``: the index, the suite page,
    styles and one page per validation), so any file of that site may be asked for through any
    validation that has Data Docs; nothing outside the site is reachable. A path with ``..``, an
    absolute path or a validation without Data Docs is :class:`NotFound`.
    """
    parts = path.replace("\\", "/").split("/")
    if not path or path.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
        raise NotFound(f"Data Docs path {path!r} refused: only relative paths inside the Data Docs site are served")
    record = ws.meta.get_validation(validation_id)
    if not record.summary.get("data_docs_uri"):
        raise NotFound(
            f"validation {validation_id} has no Data Docs: they were not published (setting "
            f"{DATA_DOCS_SETTING} is {ws.config.validation.expectations.data_docs!r}; 'always' publishes them "
            "with every validation, 'on_failure' only when a check failed)"
        )
    key = posixpath.normpath(f"{DOCS_PREFIX}/{path}")
    if not key.startswith(f"{DOCS_PREFIX}/") or not ws.store.exists(key):
        raise NotFound(f"no file {path!r} in the Data Docs of validation {validation_id}")
    media_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
    return ws.store.get(key), media_type
