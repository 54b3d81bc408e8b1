"""HTML reports for each validation and each model version, stored under ``reports/``.

Deliberately plain (one self-contained page, no JavaScript) so they open from a file or an
object-store link; the task log prints where they are. The pages are Jinja2 templates in
``templates/`` (rendered by ``templating``, autoescaped); this module only gathers what they show.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from pipeline.core.hashing import canonical_json, sha256_hex
from pipeline.core.metric_names import DEFAULT_PRIMARY, higher_is_better, per_class_recall
from pipeline.core.storage import ObjectStore
from pipeline.reporting.plots import (
    PALETTE,
    Interval,
    Series,
    confusion_grid_svg,
    confusion_svg,
    forest_svg,
    histogram_svg,
    threshold_svg,
    unit_chart,
    xy_chart,
)
from pipeline.reporting.templating import DASH, fmt, render

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
    with the champion, the plots of the model's task (inline SVG), metrics per slice, the
    candidates that were searched, every promotion check, and what is needed to reproduce the
    model.  Sections whose evidence an older version lacks are left out.

    Binary pages add the threshold view (precision, recall and F1 on the holdout against the
    decision threshold, the one in use marked); every task gets permutation importance per
    feature (a forest plot and a table) when the evaluation measured it.  Settings (params,
    trigger, split, environment) are small key/value tables, not JSON, and a column that would
    hold only dashes is left out.

    The plots follow ``evaluation["task"]`` (absent: binary, as every version before task types):
    binary, ROC / precision-recall / calibration curves and the 2x2 confusion matrix; multiclass,
    the k x k confusion matrix and per-class precision, recall (with intervals), F1, support and
    ROC AUC; regression, predicted against actual, the residual histogram and calibration by
    decile.  Outside binary pages (kept as they were), metrics that are better when lower say so.
    """
    task = mv.evaluation.get("task") or "binary"
    multiclass = _multiclass_view(mv) if task == "multiclass" else None
    cv = mv.evaluation.get("cross_validation") or {}
    return render(
        "model.html.j2",
        mv=mv,
        task=task,
        pairs=key_values,
        plain=plain,
        with_cv=any((cv.get(m) or {}).get("mean") is not None for m in mv.evaluation.get("holdout") or {}),
        thresholds=_threshold_view(mv) if task == "binary" else None,
        importance=_importance_view(mv),
        better=_no_marker if task == "binary" else _direction_marker,
        # per-class recalls go with their class when there is a class table, else with the other metrics
        hidden=_per_class_names(mv) if multiclass and multiclass.classes else frozenset(),
        plots=_model_plots(mv) if task == "binary" else None,
        multiclass=multiclass,
        regression=_regression_view(mv) if task == "regression" else None,
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
    """The slice section: the metric shown and one table per slice column; whether any slice was
    compared with a champion or gated (else those columns are left out)."""

    primary: str
    tables: tuple[_SliceTable, ...]
    with_champion: bool = False
    gated: bool = False
    any_small: bool = True


@dataclass(frozen=True)
class _Candidates:
    """The candidates of the search and how the chosen one was picked; whether any has a fit
    time or an artifact (else those columns are left out)."""

    metric: str
    rule: str
    rows: tuple[dict[str, Any], ...]
    timed: bool = True
    stored: bool = True


@dataclass(frozen=True)
class _ThresholdView:
    """The threshold view of a binary model: the chart and a few rows of its table as
    (threshold, precision, recall, F1, share predicted positive, whether it is the one in use)."""

    chart: Markup
    threshold: float
    rows: tuple[tuple[float, float | None, float | None, float | None, float | None, bool], ...]


@dataclass(frozen=True)
class _ImportanceView:
    """Permutation importance: the forest plot, the features most important first, how it was measured."""

    forest: Markup
    rows: tuple[dict[str, Any], ...]
    metric: str
    repeats: int | None
    rows_used: int | None
    holdout_rows: int | None
    lower_is_better: bool


TABLE_THRESHOLDS = (0.1, 0.3, 0.5, 0.7, 0.9)
"""The thresholds the threshold table shows (with the one in use); the chart shows them all."""


def plain(value: Any) -> str:
    """A setting as a reader wants it: numbers by ``fmt``, lists joined by commas, mappings as
    ``key value`` pairs, None as a dash; never JSON."""
    if isinstance(value, bool) or value is None:
        return fmt(value) if value is None else ("yes" if value else "no")
    if isinstance(value, dict):
        return "; ".join(f"{k} {plain(v)}" for k, v in value.items()) or DASH
    if isinstance(value, (list, tuple)):
        return ", ".join(plain(v) for v in value) or DASH
    return fmt(value)


def key_values(mapping: Any) -> list[tuple[str, str]]:
    """A mapping as (key, readable value) rows for a small table; keys without a value (None,
    empty text or collection) are left out, so the table holds only what was recorded."""
    return [(str(k), plain(v)) for k, v in (mapping or {}).items() if not _empty(v)]


def _empty(value: Any) -> bool:
    """Whether a recorded setting holds nothing: None, empty text or an empty collection."""
    return value is None or (isinstance(value, (str, list, tuple, dict)) and len(value) == 0)


def _decision_checks(mv: ModelVersion) -> list[tuple[str, bool | None, str]]:
    """Each promotion check of the decision as (name, passed, its other fields in words)."""
    from pipeline.modeling.promotion import stored_checks  # on first use: keeps `ct` imports light

    return [(c.name, c.passed, plain(c.details())) for c in stored_checks(mv.decision)]


def _slice_gates(mv: ModelVersion) -> dict[str, bool | None]:
    """Outcome of each slice gate of the decision, by ``column=value``."""
    from pipeline.modeling.promotion import stored_checks

    return {c.subject: c.passed for c in stored_checks(mv.decision) if c.kind == "slice" and c.subject is not None}


LOWER_IS_BETTER = Markup(' <span class="muted">↓ lower is better</span>')
"""Shown after the name of a metric that is better when lower (error, loss)."""

MAX_SCATTER_POINTS = 1500
"""At most this many points of the predicted-against-actual scatter are drawn (keeps pages small)."""


def _direction_marker(metric: str) -> Markup:
    """:data:`LOWER_IS_BETTER` after a lower-is-better metric, nothing otherwise (or if unknown)."""
    try:
        return Markup("") if higher_is_better(metric) else LOWER_IS_BETTER
    except KeyError:
        return Markup("")


def _no_marker(metric: str) -> Markup:
    """Binary pages show no direction markers (they stay as they were before task types)."""
    return Markup("")


def _primary_metric(mv: ModelVersion) -> str | None:
    """The metric the model was judged on: the champion comparison's, else the candidate selection's,
    else the task's default primary metric, else the first holdout metric (None: no metrics)."""
    ev = mv.evaluation
    holdout = ev.get("holdout") or {}
    slices = ev.get("slices") or {}
    found = next((c["metric"] for entries in slices.values() for e in entries if (c := e.get("comparison"))), None)
    found = found or ((ev.get("champion") or {}).get("comparison") or {}).get("metric")
    found = found or (ev.get("selection") or {}).get("metric")
    default = DEFAULT_PRIMARY.get(ev.get("task") or "binary")
    if found in holdout:
        return found
    return default if default in holdout else next(iter(holdout), None)


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
    primary = _primary_metric(mv) or ""
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
    every = [row for table in tables for row in table.rows]
    return _Slices(
        primary,
        tuple(tables),
        with_champion=any(e.get("champion") or e.get("comparison") for e, _ in every),
        gated=any(gate is not None for _, gate in every),
        any_small=any(e.get("small") for e, _ in every),
    )


def _model_candidates(mv: ModelVersion) -> _Candidates | None:
    """The candidates of the search, with their CV scores; the chosen one is marked."""
    candidates = mv.evaluation.get("candidates") or []
    selection = mv.evaluation.get("selection") or {}
    if len(candidates) < 2:
        return None
    metric = selection.get("metric", "roc_auc")
    return _Candidates(
        metric,
        selection.get("rule", metric),
        tuple(candidates),
        timed=any(c.get("fit_seconds") is not None for c in candidates),
        stored=any(c.get("artifact_sha256") for c in candidates),
    )


def _threshold_view(mv: ModelVersion) -> _ThresholdView | None:
    """Precision, recall and F1 against the decision threshold (binary evidence that has the curve)."""
    ev = mv.evaluation
    curve = ev.get("threshold_curve") or {}
    if not curve.get("thresholds"):
        return None
    threshold = float(ev.get("threshold") or 0.5)
    at = curve["thresholds"]
    chart = threshold_svg(
        "Precision, recall and F1 by threshold",
        at,
        [("precision", curve["precision"]), ("recall", curve["recall"]), ("F1", curve["f1"])],
        marked=threshold,
    )
    shown = {round(t, 4) for t in (*TABLE_THRESHOLDS, threshold)}
    rows = tuple(
        (
            t,
            curve["precision"][k],
            curve["recall"][k],
            curve["f1"][k],
            (curve.get("predicted_positive_share") or [None] * len(at))[k],
            abs(t - threshold) < 1e-9,
        )
        for k, t in enumerate(at)
        if round(t, 4) in shown
    )
    return _ThresholdView(chart, threshold, rows)


def _importance_view(mv: ModelVersion) -> _ImportanceView | None:
    """Permutation importance as a forest plot (0 dashed: no effect) and table, most important first."""
    ev = mv.evaluation
    rows = [r for r in ev.get("importance") or [] if isinstance(r, dict)]
    if not rows:
        return None
    setup = ev.get("importance_setup") or {}
    metric = str(setup.get("metric") or _primary_metric(mv) or "metric")
    rows.sort(key=lambda r: (r.get("mean") is None, -(r.get("mean") or 0.0)))
    forest = forest_svg(
        f"Drop in {metric} when shuffled (95% intervals)",
        [
            Interval(
                str(r["feature"]),
                r.get("mean"),
                r.get("lower"),
                r.get("upper"),
                # grey: no evidence the feature helps (its interval reaches zero, or it has none)
                muted=r.get("lower") is None or r["lower"] <= 0,
            )
            for r in rows
        ],
        reference=0.0,
    )
    try:
        lower_is_better = not higher_is_better(metric)
    except KeyError:
        lower_is_better = False
    return _ImportanceView(
        forest,
        tuple(rows),
        metric,
        setup.get("repeats"),
        setup.get("rows"),
        setup.get("holdout_rows"),
        lower_is_better,
    )


# -- multiclass and regression pages ------------------------------------------------------------------


@dataclass(frozen=True)
class _ClassRow:
    """One class of a multiclass model: its holdout counts and metrics, its recall with an interval."""

    name: str
    support: int | None
    precision: float | None
    recall: float | None
    f1: float | None
    roc_auc: float | None
    recall_estimate: dict[str, Any] | None
    champion_recall: float | None


@dataclass(frozen=True)
class _MulticlassView:
    """The multiclass section: the confusion grid, the per-class recall forest and the class table."""

    charts: tuple[Markup, ...]
    classes: tuple[_ClassRow, ...]
    balanced_accuracy: float | None
    with_champion: bool


@dataclass(frozen=True)
class _RegressionView:
    """The regression section: its charts, the calibration deciles and the holdout's means."""

    charts: tuple[Markup, ...]
    deciles: tuple[tuple[int, float | None, float | None, int], ...]
    summary: dict[str, Any]
    drawn_points: int
    total_points: int


def _per_class_names(mv: ModelVersion) -> frozenset[str]:
    """The per-class recall metrics (``recall[<class>]``): shown with their class, not in the main table."""
    return frozenset(m for m in mv.evaluation.get("holdout") or {} if m.startswith("recall[") and m.endswith("]"))


def _multiclass_view(mv: ModelVersion) -> _MulticlassView | None:
    """The confusion matrix (counts and row shares) and every class's metrics, from ``curves``."""
    ev = mv.evaluation
    curves = ev.get("curves") or {}
    confusion, per_class = curves.get("confusion"), curves.get("per_class") or []
    if not confusion and not per_class:
        return None
    holdout = ev.get("holdout") or {}
    champion_holdout = (ev.get("champion") or {}).get("holdout") or {}
    rows = tuple(
        _ClassRow(
            name=str(c["class"]),
            support=c.get("support"),
            precision=c.get("precision"),
            recall=c.get("recall"),
            f1=c.get("f1"),
            roc_auc=c.get("roc_auc"),
            recall_estimate=holdout.get(per_class_recall(str(c["class"]))),
            champion_recall=champion_holdout.get(per_class_recall(str(c["class"]))),
        )
        for c in per_class
    )
    balanced = (holdout.get("balanced_accuracy") or {}).get("value")
    charts: list[Markup] = []
    if confusion:
        charts.append(confusion_grid_svg([str(c) for c in confusion["labels"]], confusion["matrix"]))
    if any(r.recall_estimate for r in rows):
        charts.append(
            forest_svg(
                "Recall per class (95% intervals)",
                [
                    Interval(
                        f"{r.name} ({r.support if r.support is not None else '?'})",
                        (r.recall_estimate or {}).get("value"),
                        (r.recall_estimate or {}).get("lower"),
                        (r.recall_estimate or {}).get("upper"),
                        muted=(r.recall_estimate or {}).get("reliable") is False,
                    )
                    for r in rows
                ],
                reference=balanced,
            )
        )
    return _MulticlassView(tuple(charts), rows, balanced, bool(champion_holdout))


def _residual_label(summary: dict[str, Any]) -> str:
    """What a residual is, read off the holdout's means (``mean_residual`` is one of the two differences)."""
    values = [summary.get(k) for k in ("mean_actual", "mean_predicted", "mean_residual")]
    numbers = [float(v) for v in values if isinstance(v, (int, float))]
    if len(numbers) != 3:
        return "residual"
    actual, predicted, residual = numbers
    off_actual_minus = abs((actual - predicted) - residual)
    off_predicted_minus = abs((predicted - actual) - residual)
    if off_actual_minus < off_predicted_minus:
        return "residual (actual − predicted)"
    if off_predicted_minus < off_actual_minus:
        return "residual (predicted − actual)"
    return "residual"


def _regression_view(mv: ModelVersion) -> _RegressionView | None:
    """Predicted against actual (y = x dashed), the residual histogram and calibration by decile."""
    ev = mv.evaluation
    curves = ev.get("curves") or {}
    if not curves:
        return None
    label = f"v{mv.version}"
    summary = curves.get("summary") or {}
    scatter = curves.get("scatter") or {"actual": [], "predicted": []}
    total = min(len(scatter["actual"]), len(scatter["predicted"]))
    step = max(1, -(-total // MAX_SCATTER_POINTS))  # a fixed stride: the same page for the same evidence
    actual, predicted = scatter["actual"][:total:step], scatter["predicted"][:total:step]
    charts: list[Markup] = []
    if total:
        charts.append(
            xy_chart(
                "Predicted against actual",
                "actual",
                "predicted",
                [Series(label, actual, predicted, markers=True, line=False)],
                diagonal=True,
            )
        )
    residuals = curves.get("residuals")
    if residuals:
        charts.append(
            histogram_svg(
                "Residuals", _residual_label(summary), residuals["bin_edges"], residuals["counts"], reference=0.0
            )
        )
    deciles: tuple[tuple[int, float | None, float | None, int], ...] = ()
    by_decile = curves.get("by_decile")
    if by_decile:
        series = [Series(label, by_decile["mean_predicted"], by_decile["mean_actual"], markers=True)]
        theirs = ((ev.get("champion") or {}).get("curves") or {}).get("by_decile")
        if theirs:
            name = f"champion v{(ev.get('champion') or {}).get('version')}"
            series.append(
                Series(name, theirs["mean_predicted"], theirs["mean_actual"], PALETTE[1], dashed=True, markers=True)
            )
        charts.append(xy_chart("Calibration by decile", "mean predicted", "mean actual", series, diagonal=True))
        deciles = tuple(
            (i + 1, p, a, int(n))
            for i, (p, a, n) in enumerate(zip(by_decile["mean_predicted"], by_decile["mean_actual"], by_decile["rows"]))
        )
    return _RegressionView(tuple(charts), deciles, summary, len(actual), total)
