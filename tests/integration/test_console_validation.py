"""The console's Validation pages on the churn demo's three batches (tests/console_loop.py).

Batch 3 drifts (monthly_charges, total_charges, support_calls, contract) and breaks the label
contract (70/30 where 50/50 is expected): the list must say so, the validation's page must show
each feature's stored test result with the reference and current distributions drawn from the
data, the label contract's expected and observed shares, and the expectation results; Data Docs
are served from the store and nothing outside them is.
"""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from pipeline.app.console import validation_page
from pipeline.app.console.api import ConsoleAccess, build_console_app
from pipeline.app.console.drift_overlays import CategoryOverlay, NumericOverlay
from pipeline.app.console.links import Links
from pipeline.app.demo_home import demo_settings
from pipeline.app.workspace import Workspace, open_workspace
from pipeline.core.errors import NotFound
from pipeline.data.snapshots import load_parts, new_parts_since, read_manifest
from pipeline.registry.base import ValidationRecord
from pipeline.reporting.templating import pvalue

pytestmark = [pytest.mark.integration]

DRIFTED = ("monthly_charges", "total_charges", "support_calls", "contract")
STABLE = ("tenure_months", "data_usage_gb", "age", "payment_method", "region", "plan")


def _client(ws: Workspace) -> TestClient:
    access = ConsoleAccess(reader=lambda: "tester", operator=lambda: "tester")
    return TestClient(build_console_app(lambda: ws, access))


@pytest.fixture(scope="module")
def client(console_loop) -> TestClient:
    return _client(console_loop.ws)


@pytest.fixture(scope="module")
def batch3(console_loop) -> ValidationRecord:
    """The stored validation of batch 3 (the drifted one)."""
    (record,) = console_loop.ws.meta.list_validations(limit=10, snapshot_id=console_loop.snapshots[2])
    return record


def _feature_rows(page: str) -> dict[str, str]:
    """The drift table's rows by feature, in page order."""
    return dict(re.findall(r'<tr id="feature-([^"]+)"[^>]*>(.*?)</tr>', page, re.S))


def _text(fragment: str) -> str:
    """What a reader sees of an HTML fragment (charts left out)."""
    fragment = re.sub(r"<svg.*?</svg>", " ", fragment, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", fragment)))


def test_list_shows_the_three_validations_newest_first_with_what_drifted(console_loop, client, batch3) -> None:
    page = client.get("/ui/validations")
    assert page.status_code == 200
    html = page.text
    ids = [int(i) for i in re.findall(r'href="/ui/validations/(\d+)"', html)]
    assert ids == sorted(ids, reverse=True) and len(ids) == 3
    row = next(r for r in re.findall(r"<tr>(.*?)</tr>", html, re.S) if f'/ui/validations/{batch3.id}"' in r)
    text = _text(row)
    assert "4 of 10" in text and all(name in text for name in DRIFTED)
    assert "broken" in text  # the label contract
    assert f'href="{Links().snapshot(console_loop.snapshots[2])}"' in row
    assert f'href="{Links().snapshot(console_loop.snapshots[1])}"' in row  # its reference
    assert f'href="{Links().airflow_run("ct_train", "demo-run-3")}" target="_top"' in row

    data = client.get("/api/validations").json()
    assert [r["id"] for r in data["rows"]] == ids
    first = data["rows"][0]
    assert first["id"] == batch3.id and first["run_id"] == "demo-run-3"
    assert first["drifted_features"] == list(DRIFTED) and first["label_contract_held"] is False
    assert data["rows"][-1]["tested_features"] is None  # batch 1 had no reference


def test_validation_page_shows_each_feature_with_its_stored_p_values_and_an_overlay(client, batch3) -> None:
    page = client.get(f"/ui/validations/{batch3.id}")
    assert page.status_code == 200
    rows = _feature_rows(page.text)
    assert set(rows) == set(DRIFTED) | set(STABLE)
    order = list(rows)
    assert set(order[: len(DRIFTED)]) == set(DRIFTED), "drifted features come first"
    stored = {f["feature"]: f for f in batch3.summary["drift"]["features"]}
    for name, row in rows.items():
        text = _text(row)
        f = stored[name]
        assert ("drifted" if name in DRIFTED else "stable") in text
        assert f"{pvalue(f['p_value'])} {pvalue(f['adjusted_p_value'])}" in text
        assert "<svg" in row, f"no overlay for {name}"
        assert ("Kolmogorov-Smirnov" if f["kind"] == "numeric" else "χ²") in text
    assert "0.63 0.85" in _text(rows["tenure_months"])  # a stable feature's numbers, raw and corrected
    assert "D = 0.2737" in _text(rows["monthly_charges"])  # the KS statistic
    assert "Cramér's V = 0.2024" in _text(rows["contract"])
    assert '{"' not in page.text, "no raw JSON on the page"


def test_overlays_are_the_distributions_of_the_reference_and_the_new_rows(console_loop, batch3) -> None:
    ws = console_loop.ws
    view = validation_page.build_validation(ws, batch3.id)
    assert view.drift is not None
    overlays = {f.feature: f.overlay for f in view.drift.features}
    snapshot, reference = (
        read_manifest(ws.store, batch3.snapshot_id),
        read_manifest(ws.store, batch3.reference_snapshot_id),
    )
    new = load_parts(ws.store, new_parts_since(snapshot, reference))
    old = load_parts(ws.store, reference.parts)

    support = overlays["support_calls"]
    assert isinstance(support, NumericOverlay) and support.current_rows == len(new) == 4000
    for frame, shares in ((new, support.current_shares), (old, support.reference_shares)):
        values = frame["support_calls"].dropna().to_numpy(dtype=float)
        expected, _ = np.histogram(values, bins=np.asarray(support.edges))
        np.testing.assert_allclose(shares, expected / expected.sum())

    contract = overlays["contract"]
    assert isinstance(contract, CategoryOverlay)
    observed = dict(zip(contract.levels, contract.current_shares, strict=True))
    actual = new["contract"].value_counts(normalize=True).to_dict()
    assert observed == pytest.approx(actual)
    was = dict(zip(contract.levels, contract.reference_shares, strict=True))
    assert was == pytest.approx(old["contract"].value_counts(normalize=True).to_dict())
    assert observed["month-to-month"] > was["month-to-month"] + 0.1  # the drift the demo injects


def test_label_contract_broken_shows_expected_and_observed_shares(client, batch3) -> None:
    html = client.get(f"/ui/validations/{batch3.id}").text
    section = html.split('id="label-contract"', 1)[1].split("<h2", 1)[0]
    text = _text(section)
    assert "broken" in text
    yes = next(_text(r) for r in re.findall(r"<tr>(.*?)</tr>", section, re.S) if "<td>yes</td>" in r)
    assert "0.50 ± 0.10" in yes and "0.70" in yes and "2800" in yes and "outside" in yes

    data = client.get(f"/api/validations/{batch3.id}").json()
    lc = data["label_contract"]
    assert lc["held"] is False and lc["tolerance"] == 0.1
    assert lc["p_value"] == batch3.summary["label_contract"]["p_value"]
    shares = {c["label"]: (c["expected"], c["observed"], c["within"]) for c in lc["classes"]}
    assert shares == {"yes": (0.5, 0.7, False), "no": (0.5, 0.3, False)}
    assert data["split_parity"]["held"] is True


def test_json_mirrors_the_stored_numbers(client, batch3) -> None:
    data = client.get(f"/api/validations/{batch3.id}").json()
    assert data["id"] == batch3.id and data["run_id"] == "demo-run-3" and data["new_rows"] == 4000
    stored = {f["feature"]: f for f in batch3.summary["drift"]["features"]}
    features = data["drift"]["features"]
    assert {f["feature"] for f in features if f["drifted"]} == set(DRIFTED)
    for f in features:
        s = stored[f["feature"]]
        assert (f["p_value"], f["adjusted_p_value"], f["statistic"]) == (
            s["p_value"],
            s["adjusted_p_value"],
            s["effect_size"],
        )
        assert f["overlay"] is not None


def test_expectation_results_list_failures_first(client, batch3) -> None:
    data = client.get(f"/api/validations/{batch3.id}").json()
    rows = data["expectations"]
    assert len(rows) == batch3.summary["suite"]["expectations"]
    failed = [r for r in rows if not r["success"]]
    assert rows[: len(failed)] == failed and failed
    first = failed[0]
    assert (first["expectation"], first["column"], first["unexpected_count"]) == (
        "expect_column_values_to_be_between",
        "support_calls",
        13,
    )
    html = client.get(f"/ui/validations/{batch3.id}").text
    table = _text(html.split('class="expectations"', 1)[1].split("</table>", 1)[0])
    assert "13 unexpected" in table and table.index("13 unexpected") < table.index("no unexpected values")


def test_unknown_validation_is_404_naming_it(client) -> None:
    page = client.get("/ui/validations/9999")
    assert page.status_code == 404 and "9999" in page.text
    api = client.get("/api/validations/9999")
    assert api.status_code == 404 and "9999" in api.json()["detail"]


def test_data_docs_are_served_from_the_store_and_nothing_else(console_loop, client, batch3) -> None:
    html = client.get(f"/ui/validations/{batch3.id}").text
    href = re.search(r'href="([^"]+)">Data Docs of this validation', html)
    assert href and href.group(1).startswith(f"/ui/validations/{batch3.id}/data-docs/validations/")
    page = client.get(href.group(1))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert batch3.snapshot_id in page.text
    index = client.get(Links().data_docs(batch3.id))
    assert index.status_code == 200 and "<html" in index.text.lower()
    css = client.get(f"/ui/validations/{batch3.id}/data-docs/static/styles/data_docs_default_styles.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")

    ws = console_loop.ws
    for bad in ("../ct.db", "../../ct.db", "static/../../../ct.db", "/etc/passwd", "..", "C:/x"):
        with pytest.raises(NotFound, match="refused"):
            validation_page.data_docs_file(ws, batch3.id, bad)
    assert client.get(f"/ui/validations/{batch3.id}/data-docs/..%2F..%2F..%2Fct.db").status_code == 404
    with pytest.raises(NotFound, match="no file"):
        validation_page.data_docs_file(ws, batch3.id, "static/nothing-here.css")


@pytest.fixture
def empty_ws(tmp_path: Path) -> Workspace:
    return open_workspace(demo_settings(tmp_path))


def test_no_data_docs_names_the_setting(empty_ws, batch3) -> None:
    summary = {k: v for k, v in batch3.summary.items() if k != "data_docs_uri"}
    record = empty_ws.meta.record_validation(batch3.snapshot_id, batch3.reference_snapshot_id, True, summary, None)
    with pytest.raises(NotFound, match=r"validation\.expectations\.data_docs"):
        validation_page.data_docs_file(empty_ws, record.id, "index.html")
    html = validation_page.render_validation(validation_page.build_validation(empty_ws, record.id), Links())
    assert "Data Docs of this validation" not in html
    # the snapshots are not in this store: the page still renders, saying why there are no overlays
    assert "Distributions not shown" in html and "not found" in html and "<svg" not in html


def test_an_empty_store_says_there_are_no_validations(empty_ws) -> None:
    page = _client(empty_ws).get("/ui/validations")
    assert page.status_code == 200 and "No validations yet" in page.text
    assert _client(empty_ws).get("/api/validations").json()["rows"] == []


def test_the_list_of_500_validations_shows_the_newest_200(empty_ws, batch3) -> None:
    """Speed is measured by bench/console_pages.py; here: the list is bounded and says so."""
    for i in range(500):
        empty_ws.meta.record_validation(
            f"{i:016x}", batch3.reference_snapshot_id, True, {**batch3.summary, "run_id": f"run-{i}"}, None
        )
    client = _client(empty_ws)
    page = client.get("/ui/validations")
    assert page.status_code == 200 and page.text.count('href="/ui/validations/') == validation_page.LIST_LIMIT
    assert "the newest 200 are listed" in page.text and client.get("/api/validations").json()["truncated"] is True
    assert client.get("/ui/validations/250").status_code == 200


def test_overlays_without_cached_statistics_are_computed_without_writing(console_loop, batch3, monkeypatch) -> None:
    """A config change moves the statistics cache: the overlays come from the parts, and the store is untouched."""
    from pipeline.app.console import drift_overlays
    from pipeline.quality.part_stats import StatisticsCache

    class Elsewhere(StatisticsCache):
        @property
        def prefix(self) -> str:
            return "snapshots/statistics/not-computed-yet"

    ws = console_loop.ws
    names = [f["feature"] for f in batch3.summary["drift"]["features"]]
    cached = drift_overlays.drift_overlays(ws, batch3.snapshot_id, batch3.reference_snapshot_id, names)
    before = ws.store.list("snapshots/statistics")
    monkeypatch.setattr(drift_overlays, "StatisticsCache", Elsewhere)
    computed = drift_overlays.drift_overlays(ws, batch3.snapshot_id, batch3.reference_snapshot_id, names)
    assert ws.store.list("snapshots/statistics") == before
    assert set(computed.by_feature) == set(cached.by_feature) == set(names) and computed.note is None
    for name in names:
        a, b = computed.by_feature[name], cached.by_feature[name]
        assert a.current_rows == b.current_rows and a.reference_rows == b.reference_rows
        np.testing.assert_allclose(a.current_shares, b.current_shares)
        np.testing.assert_allclose(a.reference_shares, b.reference_shares)


def test_distance_tests_untested_features_and_a_regression_label_render(empty_ws) -> None:
    """Shapes the demo does not produce: a PSI feature, a feature that could not be tested, a
    regression label's contract, no parity, no suite."""
    feature = {"kind": "numeric", "adjusted_p_value": None, "threshold": 0.2, "drifted": False}
    summary = {
        "snapshot_id": "a" * 16,
        "reference_snapshot_id": "b" * 16,
        "new_rows": 120,
        "passed": False,
        "failed_checks": {"fail": 1, "warn": 0, "info": 0},
        "drifted_features": ["price"],
        "label_contract_held": False,
        "checks": [{"name": "label_contract", "severity": "fail", "passed": False, "message": "3 above max"}],
        "drift": {
            "features": [
                {**feature, "feature": "price", "test": "psi", "score": 0.41, "p_value": None, "effect_size": 0.41}
                | {"drifted": True},
                {**feature, "feature": "rooms", "test": "ks", "score": None, "p_value": None, "effect_size": None},
            ],
            "drift_share": 1.0,
            "dataset_drifted": True,
            "drifted_features": ["price"],
        },
        "label_contract": {
            "observed_shares": {},
            "expected_shares": {},
            "counts": {},
            "max_deviation": None,
            "tolerance": None,
            "chi2": None,
            "p_value": None,
            "held": False,
            "message": "3 values above max",
            "numeric": {
                "label": "sale_price",
                "rows": 120,
                "missing": None,
                "missing_share": None,
                "max_missing_share": 0.05,
                "below_min": 0,
                "above_max": 3,
                "min": 0.0,
                "max": 1e6,
                "observed_min": 1200.0,
                "observed_max": 1.3e6,
                "mean": 250000.0,
                "reference_mean": 240000.0,
                "reference_rows": 900,
                "test": "wasserstein",
                "score": 0.03,
                "effect_size": 0.03,
                "threshold": 0.1,
                "drifted": False,
            },
        },
        "suite": None,
        "data_docs_uri": None,
        "statistics": {},
    }
    record = empty_ws.meta.record_validation("a" * 16, "b" * 16, False, summary, None)
    view = validation_page.build_validation(empty_ws, record.id)
    assert view.drift is not None
    price, rooms = view.drift.features
    assert (price.feature, price.drifted, price.statistic, price.min_effect) == ("price", True, 0.41, None)
    assert rooms.tested is False
    html = validation_page.render_validation(view, Links())
    rows = _feature_rows(html)
    assert "distance = 0.41" in _text(rows["price"]) and "distance ≥ 0.2" in _text(rows["price"])
    assert "not tested" in _text(rows["rooms"])
    assert "p-value" not in _text(html.split('class="drift"', 1)[1].split("</tr>", 1)[0])  # no p-value test: no column
    contract = _text(html.split('id="label-contract"', 1)[1])
    assert "1200 to 1300000" in contract and "120 rows labelled" in contract
    assert "3 above" in contract and "Wasserstein" in contract
    assert "Training was stopped" in html and "Train / holdout parity" not in html
