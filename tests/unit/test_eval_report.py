"""The model report and its inline SVG charts: well-formed, escaped, and showing the evidence."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.metrics import precision_recall_curve, roc_curve

from pipeline.core.config import PipelineConfig, SliceGates
from pipeline.core.storage import ObjectStore
from pipeline.modeling.evaluation import Evaluation, holdout_evidence
from pipeline.modeling.metrics import classification_curves
from pipeline.modeling.promotion import decide_promotion
from pipeline.registry.base import ModelVersion
from pipeline.reporting.pages import render_model_html, write_model_report
from pipeline.reporting.plots import Interval, Series, confusion_svg, forest_svg, unit_chart

SVG = "{http://www.w3.org/2000/svg}"
EVIL = "<script>x</script>"


def _svg(text: str) -> ET.Element:
    root = ET.fromstring(text)  # raises on malformed XML
    assert root.tag == f"{SVG}svg"
    return root


# -- curves --------------------------------------------------------------------------------------------
def test_curves_are_sklearns_points() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 300)
    p = np.round(expit(rng.normal(size=300) + y), 2)  # ties
    curves = classification_curves(y, p, max_points=10_000)
    fpr, tpr, _ = roc_curve(y, p, drop_intermediate=False)
    np.testing.assert_allclose(curves["roc"]["fpr"], fpr, atol=5e-5)
    np.testing.assert_allclose(curves["roc"]["tpr"], tpr, atol=5e-5)
    precision, recall, _ = precision_recall_curve(y, p, drop_intermediate=False)
    np.testing.assert_allclose(curves["pr"]["precision"], precision[::-1], atol=5e-5)
    np.testing.assert_allclose(curves["pr"]["recall"], recall[::-1], atol=5e-5)
    conf = curves["confusion"]
    assert conf["tp"] + conf["fn"] == y.sum() and conf["tp"] + conf["fp"] == (p >= 0.5).sum()
    cal = curves["calibration"]
    assert sum(cal["rows"]) == 300
    assert all(lo <= m <= hi for lo, m, hi in zip(cal["bin_lower"], cal["mean_predicted"], cal["bin_upper"]))


def test_curves_are_thinned_but_keep_both_ends() -> None:
    rng = np.random.default_rng(5)
    y, p = rng.integers(0, 2, 5000), rng.random(5000)
    roc = classification_curves(y, p, max_points=101)["roc"]
    assert len(roc["fpr"]) <= 101
    assert (roc["fpr"][0], roc["tpr"][0], roc["fpr"][-1], roc["tpr"][-1]) == (0.0, 0.0, 1.0, 1.0)
    assert roc["fpr"] == sorted(roc["fpr"])


# -- charts --------------------------------------------------------------------------------------------
def test_unit_chart_is_valid_svg_with_one_line_per_series_and_escaped_labels() -> None:
    chart = unit_chart(
        f"ROC {EVIL}",
        "x",
        "y",
        [Series("a", [0, 0.5, 1], [0, 0.8, 1]), Series(EVIL, [0, 1], [0, 1], dashed=True, markers=True)],
        "diagonal",
    )
    root = _svg(chart)
    assert len(root.findall(f"{SVG}polyline")) == 2
    assert len(root.findall(f"{SVG}circle")) == 2  # markers of the second series
    assert "<script>" not in chart and "&lt;script&gt;" in chart
    first = root.findall(f"{SVG}polyline")[0].get("points").split()
    assert len(first) == 3
    (x0, y0), (x1, y1) = (map(float, first[0].split(",")), map(float, first[-1].split(",")))
    assert x0 < x1 and y0 > y1  # (0,0) is bottom left, (1,1) top right


def test_confusion_and_forest_charts() -> None:
    root = _svg(confusion_svg(tp=40, fp=10, tn=45, fn=5, threshold=0.5))
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert {"40", "10", "45", "5", "TP", "FP", "TN", "FN"} <= set(texts)
    forest = forest_svg(
        "auc by region",
        [Interval("north (300)", 0.8, 0.75, 0.85), Interval("tiny (12)", None, None, None, muted=True)],
        reference=0.8,
    )
    root = _svg(forest)
    assert len(root.findall(f"{SVG}circle")) == 1  # the undefined row draws no point


# -- the page ------------------------------------------------------------------------------------------
class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture
def version(config: PipelineConfig) -> ModelVersion:
    """A version whose evaluation comes from the real evidence functions on simulated scores."""
    cfg = config.model_copy(
        update={
            "dataset": config.dataset.model_copy(update={"slice_columns": ("region",)}),
            "evaluation": config.evaluation.model_copy(update={"bootstrap_resamples": 200}),
        }
    )
    rng = np.random.default_rng(9)
    frame = pd.DataFrame({"region": rng.choice(["north", "south", EVIL], 1500)})
    y = rng.integers(0, 2, 1500)
    challenger, champion = expit(1.5 * (2 * y - 1) + rng.normal(size=1500)), expit((2 * y - 1) + rng.normal(size=1500))
    evidence = holdout_evidence(y, challenger, frame, cfg, champion, champion_version=3)
    candidates = [
        {
            "candidate": "default",
            "estimator": "logistic_regression",
            "params": {"C": 1.0},
            "cross_validation": {"roc_auc": {"mean": 0.81, "std": 0.01, "folds": 5}},
            "chosen": False,
            "artifact_sha256": "a" * 64,
            "fit_seconds": 0.4,
        },
        {
            "candidate": "gradient_boosting[max_iter=50]",
            "estimator": "gradient_boosting",
            "params": {"max_iter": 50},
            "cross_validation": {"roc_auc": {"mean": 0.86, "std": 0.02, "folds": 5}},
            "chosen": True,
            "artifact_sha256": "b" * 64,
            "fit_seconds": 2.0,
        },
    ]
    evaluation = Evaluation(
        train_rows=6000,
        holdout_rows=1500,
        cross_validation={},
        seconds=1.0,
        bootstrap={"method": "poisson", "resamples": 200},
        candidates=candidates,
        selection={"metric": "roc_auc", "rule": "highest mean roc_auc", "chosen": "gradient_boosting[max_iter=50]"},
        **evidence,
    ).to_dict()
    policy = cfg.promotion.model_copy(update={"slice_gates": SliceGates(max_drop=0.05, min_rows=100)})
    decision = decide_promotion(evaluation, policy).to_dict()
    return ModelVersion(
        name="churn",
        version=4,
        snapshot_id="snap",
        config_hash="cfg",
        spec_name="gb",
        params={"estimator": "gradient_boosting", "seed": 42},
        metrics=evaluation["holdout"],
        evaluation=evaluation,
        artifact_uri="artifacts/x",
        artifact_sha256="b" * 64,
        validation_id=1,
        trigger={"kind": "manual"},
        code_version="test",
        lineage={},
        decision=decision,
        aliases=("champion",),
        created_at="2026-01-01",
    )


def test_model_page_shows_every_part_of_the_evidence(version: ModelVersion) -> None:
    page = render_model_html(version)
    parsed = _Text()
    parsed.feed(page)
    text = " ".join(parsed.text)
    assert "script" not in parsed.tags and "&lt;script&gt;" in page
    # ROC, PR, calibration, confusion, the threshold view, one forest per slice column
    assert parsed.tags.count("svg") == 6
    for heading in (
        "Against champion v3",
        "Curves, calibration and confusion matrix",
        "Slices",
        "Candidates (2",
        "Promotion decision",
        "Reproducibility",
    ):
        assert heading in text, heading
    assert "champion v3" in page  # the champion's curves are overlaid
    assert "slice:region=north" in text and "poisson" in text
    assert text.index("promoted") < text.index("Holdout metrics")  # the verdict comes first
    for svg in page.split("<svg")[1:]:
        _svg("<svg" + svg.split("</svg>")[0] + "</svg>")


def test_model_page_without_new_evidence_still_renders(version: ModelVersion, tmp_path: Path) -> None:
    old = {
        k: v
        for k, v in version.evaluation.items()
        if k in ("train_rows", "holdout_rows", "holdout", "cross_validation", "champion", "seconds")
    }
    old["champion"] = {k: v for k, v in old["champion"].items() if k != "curves"}
    page = render_model_html(replace(version, evaluation=old, decision=None))
    assert "<svg" not in page and "Against champion v3" in page
    store = ObjectStore(tmp_path.as_uri())
    uri = write_model_report(store, version)
    assert uri.endswith("reports/models/churn/v4.html") and store.exists("reports/models/churn/v4.html")


def test_settings_read_as_small_tables_not_json_and_empty_columns_are_left_out(version: ModelVersion) -> None:
    mv = replace(
        version,
        params={"estimator": "logistic_regression", "C": 0.123456789, "class_weight": None},
        trigger={"kind": "new_data", "run_id": "demo-run-3", "reason": "", "covers": []},
        environment={"python": "3.11.7", "packages": {"numpy": "2.4.6"}},
    )
    page = render_model_html(mv)
    text = " ".join(page.split())
    assert '{"' not in page and "{&#34;" not in page  # no JSON blob anywhere
    kv = "<table class='kv'><tr><th>estimator</th><td>logistic_regression</td></tr><tr><th>C</th><td>0.1235</td>"
    assert kv in text
    assert "<th>run_id</th><td>demo-run-3</td>" in text and "<th>reason</th>" not in text  # empty keys left out
    assert "<th>packages</th><td>numpy 2.4.6</td>" in text
    # no cross-validation and no champion per slice: their columns would be all dashes
    bare = replace(version, evaluation={**version.evaluation, "cross_validation": {}, "slices": {}})
    assert "CV mean" not in render_model_html(bare)
    header = render_model_html(version).split("<h3>region</h3>")[1].split("</tr>")[0]
    assert "champion" in header  # the slices were compared with champion v3
