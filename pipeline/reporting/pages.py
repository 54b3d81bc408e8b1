"""HTML reports for each validation and each model version, stored under ``reports/``.

Deliberately plain (one self-contained page, no JavaScript) so they open from a file or an
object-store link; the task log prints where they are. The pages are Jinja2 templates in
``templates/`` (rendered by ``templating``, autoescaped); this module only gathers what they show.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from pipeline.core.hashing import canonical_json, sha256_hex
from pipeline.core.storage import ObjectStore
from pipeline.reporting.plots import PALETTE, Interval, Series, confusion_svg, forest_svg, unit_chart
from pipeline.reporting.templating import render

if TYPE_CHECKING:
    from pipeline.quality.validation_report import ValidationReport
    from pipeline.registry.base import ModelVersion


def render_validation_html(report: ValidationReport, data_docs_href: str | None = None) -> str:
    """The summary page of a validation: checks, drift table, label contract, link to Data Docs.

    ``data_docs_href`` is the link to the great-expectations Data Docs page (default: the
    report's ``data_docs_uri``); the writer passes a relative link so a copied report still works.
    """
    failed = {s: sum(1 for c in report.checks if not c.passed and c.severity == s) for s in ("fail", "warn", "info")}
    return render(
        "validation.html.j2", report=report, failed=failed, data_docs_href=data_docs_href or report.data_docs_uri
    )


def write_validation_report(store: ObjectStore, report: ValidationReport) -> str:
    """Store the HTML and JSON of a validation; returns the HTML URL.

    The page links to the report's Data Docs relatively when they are in the same store, so the
    ``reports/`` tree can be copied or served as it is.
    """
    stem = f"reports/validation/{report.snapshot_id}_{report.reference_snapshot_id or 'noref'}"
    payload = canonical_json(report.to_dict(), compact=False, default=str).encode()
    stem += "_" + sha256_hex(payload)[:8]
    base = store.uri("reports/validation/")
    docs = report.data_docs_uri
    href = docs[len(base) :] if docs and docs.startswith(base) else docs
    store.put(f"{stem}.json", payload)
    store.put(f"{stem}.html", render_validation_html(report, href).encode())
    return store.uri(f"{stem}.html")


def render_model_html(mv: ModelVersion) -> str:
    """One self-contained page per model version, readable top to bottom.

    The decision and its reason first, then the metrics with 95% intervals and CV, the comparison
    with the champion, ROC / precision-recall / calibration plots and the confusion matrix (inline
    SVG), metrics per slice, the candidates that were searched, every promotion check, and what is
    needed to reproduce the model.  Sections whose evidence an older version lacks are left out.
    """
    return render(
        "model.html.j2",
        mv=mv,
        plots=_model_plots(mv),
        slices=_model_slices(mv),
        candidates=_model_candidates(mv),
        checks=_decision_checks(mv),
    )


def model_report_key(name: str, version: int) -> str:
    """Where the page of a model version lives in the object store."""
    return f"reports/models/{name}/v{version}.html"


def write_model_report(store: ObjectStore, mv: ModelVersion) -> str:
    """(Re)write the page of a model version; it changes once the decision is recorded."""
    key = model_report_key(mv.name, mv.version)
    data = render_model_html(mv).encode()
    store.replace(key, data)  # derived from the registry, so rewriting it loses nothing
    return store.uri(key)


# -- model report helpers: what the template cannot simply read off the version ---------------------


@dataclass(frozen=True)
class _Plots:
    """The charts of a model page (inline SVG) and the calibration bins as (lower, upper, rows)."""

    charts: tuple[Markup, ...]
    bins: tuple[tuple[float, float, int], ...]


@dataclass(frozen=True)
class _SliceTable:
    """One slice column: its forest plot and its entries, each with its slice gate (None: not gated)."""

    column: str
    forest: Markup
    rows: tuple[tuple[dict[str, Any], bool | None], ...]


@dataclass(frozen=True)
class _Slices:
    """The slice section: the metric shown and one table per slice column."""

    primary: str
    tables: tuple[_SliceTable, ...]


@dataclass(frozen=True)
class _Candidates:
    """The candidates of the search and how the chosen one was picked."""

    metric: str
    rule: str
    rows: tuple[dict[str, Any], ...]


def _decision_checks(mv: ModelVersion) -> list[tuple[str, bool | None, str]]:
    """Each promotion check of the decision as (name, passed, its other fields as JSON)."""
    from pipeline.modeling.promotion import stored_checks  # on first use: keeps `ct` imports light

    return [(c.name, c.passed, json.dumps(c.details())) for c in stored_checks(mv.decision)]


def _slice_gates(mv: ModelVersion) -> dict[str, bool | None]:
    """Outcome of each slice gate of the decision, by ``column=value``."""
    from pipeline.modeling.promotion import stored_checks

    return {c.subject: c.passed for c in stored_checks(mv.decision) if c.kind == "slice" and c.subject is not None}


def _model_plots(mv: ModelVersion) -> _Plots | None:
    """ROC, precision-recall and calibration curves and the confusion matrix, as inline SVG."""
    curves = mv.evaluation.get("curves") or {}
    if not curves:
        return None
    champion = mv.evaluation.get("champion") or {}
    theirs = champion.get("curves") or {}
    label = f"v{mv.version}"
    roc = [Series(label, curves["roc"]["fpr"], curves["roc"]["tpr"])]
    pr = [Series(label, curves["pr"]["recall"], curves["pr"]["precision"])]
    if theirs:
        name = f"champion v{champion.get('version')}"
        roc.append(Series(name, theirs["roc"]["fpr"], theirs["roc"]["tpr"], PALETTE[1], dashed=True))
        pr.append(Series(name, theirs["pr"]["recall"], theirs["pr"]["precision"], PALETTE[1], dashed=True))
    cal = curves["calibration"]
    conf = curves["confusion"]
    charts = (
        unit_chart("ROC curve", "false positive rate", "true positive rate", roc, "diagonal"),
        unit_chart(
            "Precision-recall curve", "recall", "precision", pr, curves["pr"].get("base_rate"), legend="bottom-left"
        ),
        unit_chart(
            "Calibration",
            "mean predicted probability",
            "observed positive rate",
            [Series(label, cal["mean_predicted"], cal["observed_rate"], markers=True)],
            "diagonal",
        ),
        confusion_svg(conf["tp"], conf["fp"], conf["tn"], conf["fn"], conf["threshold"]),
    )
    return _Plots(charts, tuple(zip(cal["bin_lower"], cal["bin_upper"], cal["rows"])))


def _model_slices(mv: ModelVersion) -> _Slices | None:
    """Per slice column: a forest plot of the primary metric and the entries for its table."""
    slices = mv.evaluation.get("slices") or {}
    if not slices:
        return None
    gates = _slice_gates(mv)
    primary = next(
        (c["metric"] for entries in slices.values() for e in entries if (c := e.get("comparison"))), None
    ) or next(iter(mv.evaluation["holdout"]))
    overall = mv.evaluation["holdout"].get(primary, {}).get("value")
    tables = []
    for column, entries in slices.items():
        forest = forest_svg(
            f"{primary} by {column}",
            [
                Interval(
                    f"{e['value']} ({e['rows']})",
                    e["metrics"].get(primary, {}).get("value"),
                    e["metrics"].get(primary, {}).get("lower"),
                    e["metrics"].get(primary, {}).get("upper"),
                    muted=e["small"],
                )
                for e in entries
            ],
            reference=overall,
        )
        rows = tuple((e, gates.get(f"{column}={e['value']}")) for e in entries)
        tables.append(_SliceTable(column, forest, rows))
    return _Slices(primary, tuple(tables))


def _model_candidates(mv: ModelVersion) -> _Candidates | None:
    """The candidates of the search, with their CV scores; the chosen one is marked."""
    candidates = mv.evaluation.get("candidates") or []
    selection = mv.evaluation.get("selection") or {}
    if len(candidates) < 2:
        return None
    metric = selection.get("metric", "roc_auc")
    return _Candidates(metric, selection.get("rule", metric), tuple(candidates))
