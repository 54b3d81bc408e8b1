"""The model report of a multiclass and of a regression model, from hand-built evaluation dicts.

The dicts have the shapes ``holdout_evidence`` stores for these tasks (``curves`` as
``multiclass_curves`` / ``regression_curves`` return them); the page must show the confusion
counts and shares, every class's row, the regression plots, and which metrics are better lower.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from html.parser import HTMLParser
from typing import Any

import numpy as np
import pytest

from pipeline.registry.base import ModelVersion
from pipeline.reporting.pages import MAX_SCATTER_POINTS, render_model_html
from pipeline.reporting.plots import Series as PlotSeries
from pipeline.reporting.plots import confusion_grid_svg, histogram_svg, xy_chart

SVG = "{http://www.w3.org/2000/svg}"
EVIL = "<script>x</script>"
MARKER = "↓ lower is better"


def _est(value: float, half: float = 0.05, n: int = 200, reliable: bool = True) -> dict[str, Any]:
    return {
        "value": value,
        "lower": value - half,
        "upper": value + half,
        "std": half / 2,
        "n": n,
        "minority": None,
        "reliable": reliable,
    }


def _version(evaluation: dict[str, Any], name: str = "m") -> ModelVersion:
    return ModelVersion(
        name=name,
        version=5,
        snapshot_id="snap",
        config_hash="cfg",
        spec_name="spec",
        params={"estimator": "random_forest", "seed": 1},
        metrics=evaluation["holdout"],
        evaluation=evaluation,
        artifact_uri="artifacts/x",
        artifact_sha256="c" * 64,
        validation_id=1,
        trigger={"kind": "manual"},
        code_version="test",
        lineage={},
        decision=None,
        aliases=(),
        created_at="2026-01-01",
    )


class _Page(HTMLParser):
    """Table rows (cell texts) and every ``<svg>`` element's source, as a browser would split them."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.tags: list[str] = []
        self.text: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def _parse(page: str) -> tuple[_Page, list[ET.Element]]:
    parsed = _Page()
    parsed.feed(page)
    svgs = [ET.fromstring("<svg" + part.split("</svg>")[0] + "</svg>") for part in page.split("<svg")[1:]]
    return parsed, svgs


def _svg_titled(svgs: list[ET.Element], label: str) -> ET.Element:
    [found] = [s for s in svgs if s.get("aria-label") == label]
    return found


def _row(parsed: _Page, first: str) -> list[str]:
    [row] = [r for r in parsed.rows if r and r[0] == first]
    return row


# -- multiclass ----------------------------------------------------------------------------------------
LABELS = ["cat", "dog", EVIL]
MATRIX = [[50, 5, 3], [4, 40, 6], [2, 8, 30]]


def _multiclass_evaluation() -> dict[str, Any]:
    per_class = [
        {"class": "cat", "support": 58, "precision": 0.8929, "recall": 0.8621, "f1": 0.8772, "roc_auc": 0.951},
        {"class": "dog", "support": 50, "precision": 0.7547, "recall": 0.8, "f1": 0.7767, "roc_auc": 0.9},
        {"class": EVIL, "support": 40, "precision": 0.7692, "recall": 0.75, "f1": 0.7595, "roc_auc": 0.88},
    ]
    holdout = {
        "accuracy": _est(0.8108),
        "balanced_accuracy": _est(0.804),
        "f1_macro": _est(0.8045),
        "f1_weighted": _est(0.81),
        "log_loss": _est(0.5123),
        "roc_auc": _est(0.9103),
        "recall[cat]": _est(0.8621, 0.07, n=58),
        "recall[dog]": _est(0.8, 0.08, n=50),
        f"recall[{EVIL}]": _est(0.75, 0.1, n=40, reliable=False),
    }
    slice_metrics = dict(holdout)
    return {
        "task": "multiclass",
        "train_rows": 600,
        "holdout_rows": 148,
        "seconds": 1.0,
        "holdout": holdout,
        "holdout_classes": {"cat": 58, "dog": 50, EVIL: 40},
        "cross_validation": {"log_loss": {"mean": 0.55, "std": 0.02, "folds": 3}},
        "curves": {"confusion": {"labels": LABELS, "matrix": MATRIX}, "per_class": per_class},
        "champion": {
            "version": 4,
            "holdout": {"log_loss": 0.6, "recall[cat]": 0.7, "recall[dog]": 0.81, f"recall[{EVIL}]": 0.6},
            "comparison": {
                "metric": "log_loss",
                "challenger": 0.5123,
                "champion": 0.6,
                "difference": 0.0877,
                "lower": 0.01,
                "upper": 0.15,
                "prob_challenger_better": 0.98,
                "n_resamples": 200,
            },
        },
        "slices": {
            "region": [
                {
                    "value": "north",
                    "rows": 90,
                    "classes": {"cat": 40, "dog": 30, EVIL: 20},
                    "small": False,
                    "metrics": slice_metrics,
                },
                {"value": "south", "rows": 58, "small": True, "metrics": slice_metrics},
            ]
        },
        "selection": {"metric": "log_loss", "rule": "lowest mean log_loss", "chosen": "rf"},
    }


def test_multiclass_page_shows_the_confusion_counts_and_row_shares() -> None:
    page = render_model_html(_version(_multiclass_evaluation()))
    parsed, svgs = _parse(page)
    assert "script" not in parsed.tags and "&lt;script&gt;" in page
    grid = _svg_titled(svgs, "confusion matrix")
    titles = {t.text for t in grid.iter(f"{SVG}title")}
    for i, actual in enumerate(LABELS):
        total = sum(MATRIX[i])
        for j, predicted in enumerate(LABELS):
            n = MATRIX[i][j]
            assert f"actual {actual}, predicted {predicted}: {n} rows ({n / total:.1%} of actual {actual})" in titles
    texts = [t.text for t in grid.iter(f"{SVG}text")]
    assert [int(t) for t in texts if t and t.isdigit()] == [n for row in MATRIX for n in row]  # row by row
    cells = list(grid.iter(f"{SVG}rect"))
    assert len(cells) == 9
    shaded = [float(r.get("fill-opacity")) for r in cells]
    assert shaded == pytest.approx([n / sum(row) for row in MATRIX for n in row], abs=1e-3)


def test_multiclass_page_has_a_row_per_class_with_recall_intervals() -> None:
    page = render_model_html(_version(_multiclass_evaluation()))
    parsed, svgs = _parse(page)
    header = next(r for r in parsed.rows if r and r[0] == "class")
    assert header == [
        "class",
        "support",
        "precision",
        "recall",
        "recall 95% interval",
        "champion recall",
        "F1",
        "ROC AUC (one vs rest)",
    ]
    assert _row(parsed, "cat") == ["cat", "58", "0.8929", "0.8621", "0.7921 – 0.9321", "0.7", "0.8772", "0.951"]
    assert _row(parsed, "dog")[1:5] == ["50", "0.7547", "0.8", "0.72 – 0.88"]
    assert _row(parsed, EVIL)[4] == "0.65 – 0.85 (unreliable, n=40)"
    forest = _svg_titled(svgs, "Recall per class (95% intervals)")
    assert len(forest.findall(f"{SVG}circle")) == 3 and len(forest.findall(f"{SVG}line")) == 4  # 3 + the mean
    # per-class recalls are listed with their class, not again among the overall metrics
    assert not any(r and r[0].startswith("recall[") for r in parsed.rows)
    text = " ".join(parsed.text)
    assert "Holdout metrics (148 rows, cat 58, dog 50, <script>x</script> 40;" in text


def test_multiclass_page_marks_lower_is_better_metrics() -> None:
    parsed, svgs = _parse(render_model_html(_version(_multiclass_evaluation())))
    holdout, champion = [r for r in parsed.rows if r and r[0] == f"log_loss {MARKER}"]
    assert holdout[1:] == ["0.5123", "0.4623 – 0.5623", "0.55", "0.02"]
    assert champion[1:5] == ["0.5123", "0.6", "0.0877", "0.01 – 0.15"]
    assert _row(parsed, "accuracy")[1] == "0.8108" and _row(parsed, "roc_auc")  # no marker on these
    text = " ".join(" ".join(parsed.text).split())
    assert "log_loss is better when lower, so the difference is the champion's value minus this version's" in text
    # slices: the primary metric (the comparison's) per group, without a positives column
    header = next(r for r in parsed.rows if r and r[0] == "value")
    assert header[:5] == ["value", "rows", "rows per class", "", f"log_loss {MARKER}"]
    assert _row(parsed, "north")[:5] == ["north", "90", f"cat 40, dog 30, {EVIL} 20", "", "0.5123"]
    assert _row(parsed, "south")[:4] == ["south", "58", "", "small"]
    assert len(svgs) == 3  # confusion grid, recall forest, one slice forest


# -- regression ----------------------------------------------------------------------------------------
def _regression_evaluation(points: int = 40) -> dict[str, Any]:
    rng = np.random.default_rng(3)
    actual = rng.normal(20_000, 5_000, points)
    predicted = actual + rng.normal(0, 1_500, points)
    residual = actual - predicted
    counts, edges = np.histogram(residual, bins=8)
    order = np.argsort(predicted)
    groups = np.array_split(order, 10)
    holdout = {
        "rmse": _est(12345.678, 800.0),
        "mae": _est(1200.5, 90.0),
        "r2": _est(0.912),
        "mape": _est(0.061, 0.01),
        "median_ae": _est(1000.25, 70.0),
    }
    return {
        "task": "regression",
        "train_rows": 800,
        "holdout_rows": points,
        "seconds": 1.0,
        "holdout": holdout,
        "holdout_classes": {},
        "cross_validation": {"rmse": {"mean": 12000.0, "std": 300.0, "folds": 3}},
        "curves": {
            "scatter": {"actual": actual.tolist(), "predicted": predicted.tolist()},
            "residuals": {"bin_edges": edges.tolist(), "counts": counts.tolist()},
            "by_decile": {
                "mean_predicted": [float(predicted[g].mean()) for g in groups],
                "mean_actual": [float(actual[g].mean()) for g in groups],
                "rows": [int(g.size) for g in groups],
            },
            "summary": {
                "mean_actual": float(actual.mean()),
                "mean_predicted": float(predicted.mean()),
                "mean_residual": float(residual.mean()),
            },
        },
        "champion": None,
        "slices": {
            "region": [
                {"value": "east", "rows": 25, "small": False, "metrics": holdout},
                {"value": "west", "rows": 15, "small": True, "metrics": {"rmse": _est(15000.0, 3000.0)}},
            ]
        },
    }


def test_regression_page_draws_the_three_plots() -> None:
    ev = _regression_evaluation()
    page = render_model_html(_version(ev))
    parsed, svgs = _parse(page)
    scatter = _svg_titled(svgs, "Predicted against actual")
    assert len(scatter.findall(f"{SVG}circle")) == 40 + 1  # every point, and the legend's
    [diagonal] = [line for line in scatter.findall(f"{SVG}line") if line.findtext(f"{SVG}title") == "y = x"]
    frame = scatter.find(f"{SVG}rect")
    x0, y1 = float(frame.get("x")), float(frame.get("y"))
    x1, y0 = x0 + float(frame.get("width")), y1 + float(frame.get("height"))
    ends = [float(diagonal.get(k)) for k in ("x1", "y1", "x2", "y2")]
    assert ends == pytest.approx([x0, y0, x1, y1], abs=0.11)  # corner to corner on a shared range
    histogram = _svg_titled(svgs, "Residuals")
    bars = histogram.findall(f"{SVG}rect")[1:]
    assert [int(re.search(r": (\d+) rows", b.findtext(f"{SVG}title")).group(1)) for b in bars] == ev["curves"][
        "residuals"
    ]["counts"]
    assert "residual (actual − predicted)" in [t.text for t in histogram.iter(f"{SVG}text")]
    calibration = _svg_titled(svgs, "Calibration by decile")
    [line] = calibration.findall(f"{SVG}polyline")
    assert len(line.get("points").split()) == 10
    assert len(svgs) == 4  # and the slice forest
    text = " ".join(" ".join(parsed.text).split())
    assert "Holdout metrics (40 rows; 95% bootstrap intervals)" in text  # no classes for a regression
    assert "Deciles (mean predicted, mean actual, rows): 1:" in text


def test_regression_page_marks_errors_lower_is_better_and_shows_large_values_in_full() -> None:
    parsed, _ = _parse(render_model_html(_version(_regression_evaluation())))
    for metric in ("rmse", "mae", "mape", "median_ae"):
        assert _row(parsed, f"{metric} {MARKER}")
    assert _row(parsed, "r2")[1] == "0.912"
    assert _row(parsed, f"rmse {MARKER}")[1:4] == ["12346", "11546 – 13146", "12000"]
    header = next(r for r in parsed.rows if r and r[0] == "value")
    assert header[:4] == ["value", "rows", "", f"rmse {MARKER}"]  # error by slice on the primary metric
    # no slice was compared with a champion or gated: those all-dash columns are left out
    assert _row(parsed, "west") == ["west", "15", "small", "15000", "12000 – 18000"]


def test_regression_scatter_is_thinned_to_a_fixed_number_of_points() -> None:
    page = render_model_html(_version(_regression_evaluation(points=4000)))
    parsed, svgs = _parse(page)
    drawn = len(_svg_titled(svgs, "Predicted against actual").findall(f"{SVG}circle")) - 1
    assert drawn <= MAX_SCATTER_POINTS and drawn == 1334  # every third point
    assert f"({drawn} of 4000 points drawn)" in " ".join(" ".join(parsed.text).split())


def test_regression_page_without_curves_still_renders() -> None:
    ev = {**_regression_evaluation(), "curves": {}, "slices": {}}
    parsed, svgs = _parse(render_model_html(_version(ev)))
    assert svgs == [] and _row(parsed, f"rmse {MARKER}")


# -- binary stays as it was ----------------------------------------------------------------------------
def test_a_binary_evaluation_with_a_task_key_renders_as_one_without() -> None:
    ev = {
        "train_rows": 80,
        "holdout_rows": 20,
        "seconds": 1.0,
        "holdout": {"roc_auc": _est(0.8), "log_loss": _est(0.4)},
        "holdout_classes": {"no": 12, "yes": 8},
        "cross_validation": {},
        "champion": None,
    }
    old = _version(ev)
    page = render_model_html(old)
    assert page == render_model_html(replace(old, evaluation={**ev, "task": "binary"}))
    assert MARKER not in page


# -- the charts on their own ---------------------------------------------------------------------------
def test_charts_escape_labels_and_survive_undefined_points() -> None:
    grid = confusion_grid_svg(["a", EVIL], [[3, 1], [0, 0]])  # a class with no holdout rows
    root = ET.fromstring(grid)
    assert "<script>" not in grid and "&lt;script&gt;" in grid
    assert [r.get("fill-opacity") for r in root.iter(f"{SVG}rect")] == ["0.750", "0.250", "0.000", "0.000"]
    chart = xy_chart(EVIL, "x", "y", [PlotSeries("s", [1.0, None, 3.0], [2.0, 5.0, None])], diagonal=True)
    assert len(ET.fromstring(chart).findall(f"{SVG}polyline")) == 1 and "<script>" not in chart
    flat = histogram_svg("h", "x", [5.0, 5.0], [7])  # one value only: a range is made around it
    assert len(ET.fromstring(flat).findall(f"{SVG}rect")) == 2


# -- ct models show ------------------------------------------------------------------------------------
def _ct_show(mv: ModelVersion, capsys: pytest.CaptureFixture[str]) -> list[str]:
    from argparse import Namespace
    from types import SimpleNamespace

    from pipeline.cli.models import _show

    ws = SimpleNamespace(
        meta=SimpleNamespace(get_model_version=lambda name, version: mv),
        store=SimpleNamespace(uri=lambda key: f"file:///{key}"),
        config=SimpleNamespace(model=SimpleNamespace(name=mv.name)),
    )
    assert _show(ws, Namespace(ref=[str(mv.version)], json=False)) == 0
    return capsys.readouterr().out.splitlines()


def test_ct_models_show_prints_every_task_without_a_positive_class(capsys: pytest.CaptureFixture[str]) -> None:
    lines = _ct_show(_version(_regression_evaluation()), capsys)
    assert "  regression; holdout 40 rows" in lines  # no classes
    rmse = next(line for line in lines if line.lstrip("| ").startswith("rmse"))
    assert "rmse (lower is better)" in rmse and "12345.678 [11545.678, 13145.678]" in rmse
    assert "12000.000 ± 300.000" in rmse
    assert any(line.lstrip("| ").startswith("r2 ") for line in lines)  # higher is better: no note

    lines = _ct_show(_version(_multiclass_evaluation()), capsys)
    assert f"  multiclass; holdout 148 rows (cat 58, dog 50, {EVIL} 40)" in lines
    assert any("recall[cat]" in line and "0.862 [0.792, 0.932]" in line for line in lines)
    assert any("log_loss (lower is better)" in line for line in lines)


def test_regression_page_against_a_champion_overlays_its_deciles_and_explains_the_sign() -> None:
    ev = _regression_evaluation()
    ours = ev["curves"]["by_decile"]
    theirs = {**ours, "mean_predicted": [p * 1.1 for p in ours["mean_predicted"]]}
    ev["champion"] = {
        "version": 2,
        "holdout": {"rmse": 13000.0},
        "curves": {"by_decile": theirs},
        "comparison": {
            "metric": "rmse",
            "challenger": 12345.678,
            "champion": 13000.0,
            "difference": 654.322,
            "lower": 100.0,
            "upper": 1200.0,
            "prob_challenger_better": 0.99,
            "n_resamples": 200,
        },
    }
    parsed, svgs = _parse(render_model_html(_version(ev)))
    lines = _svg_titled(svgs, "Calibration by decile").findall(f"{SVG}polyline")
    assert [line.findtext(f"{SVG}title") for line in lines] == ["v5", "champion v2"]
    text = " ".join(" ".join(parsed.text).split())
    assert "Against champion v2" in text and "rmse is better when lower" in text
    [_, champion] = [r for r in parsed.rows if r and r[0] == f"rmse {MARKER}"]
    assert champion[1:5] == ["12346", "13000", "654.3", "100 – 1200"]


def test_per_class_recalls_stay_in_the_metric_table_when_there_is_no_class_table() -> None:
    ev = {**_multiclass_evaluation(), "curves": {}}
    parsed, svgs = _parse(render_model_html(_version(ev)))
    assert _row(parsed, "recall[cat]")[1] == "0.8621" and svgs[-1].get("aria-label") == "log_loss by region"
