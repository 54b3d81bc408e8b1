"""Validation of a batch in chunks: bounded memory, and the same verdicts as on one frame.

A batch of millions of rows must never be one frame: :func:`compute_validation` reads the new
parts a chunk at a time and merges what each check found. These tests hold the merge to the
one-frame result on small data (every count, message, sample of unexpected values and drift score),
and spy on the real functions to show that no call ever sees more than one chunk of rows.
"""

from __future__ import annotations

import gc
import logging
import math
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import yaml

from pipeline.app import stages
from pipeline.app.demo_data import BatchSpec, generate_batch
from pipeline.app.workspace import Workspace
from pipeline.core.config import PipelineConfig, parse_config
from pipeline.core.settings import BUNDLED_CONFIG, Settings
from pipeline.data.snapshots import Part, SourceFile, read_manifest
from pipeline.quality import expectation_chunks, validation_report
from pipeline.quality.drift import detect_drift, profile_frame
from pipeline.quality.drift_current import CurrentAccumulator
from pipeline.quality.drift_tests import MAX_CURRENT_SAMPLE
from pipeline.quality.expectation_chunks import SuiteAccumulator
from pipeline.quality.expectations import evaluate_suite
from pipeline.quality.snapshot_validation import chunk_parts, compute_validation
from pipeline.quality.suite import Expectation, Suite

PART_ROWS = 150


def _config(engine: str = "fast", regression: bool = False) -> PipelineConfig:
    data = yaml.safe_load(BUNDLED_CONFIG.read_text())
    data["model"].pop("candidates", None)
    if regression:  # the label is a number: its range, missing share and drift are the contract
        data["dataset"].update(name="spend", label="spend", task="regression")
        for key in ("classes", "positive_class"):
            data["dataset"].pop(key)
        data["validation"]["label_contract"] = {"severity": "warn", "min": 0.0, "max": 300.0}
        data["model"] = {"name": "spend-model", "spec": "default", "specs": {"default": {"estimator": "ridge"}}}
        data["promotion"] = {}
    data["ingest"].update({"stable_seconds": 0, "chunk_rows": PART_ROWS})
    data["validation"]["expectations"]["engine"] = engine
    data["validation"]["expectations"]["data_docs"] = "never"
    return parse_config(data, BUNDLED_CONFIG)


def _ingest(ws: Workspace, frame: pd.DataFrame, name: str) -> str:
    ws.settings.landing.mkdir(parents=True, exist_ok=True)
    frame.to_csv(ws.settings.landing / name, index=False)
    snapshot_id = stages.ingest_landing(ws).snapshot_id
    assert snapshot_id is not None
    return snapshot_id


def _bad_batch(rows: int, seed: int) -> pd.DataFrame:
    """A drifted batch with unexpected values in every chunk: ties in their counts, nulls, out-of-range."""
    frame = generate_batch(BatchSpec(rows=rows, seed=seed, drift=True, first_id=10_000))
    frame["region"] = frame["region"].astype(object)
    for start in range(0, rows, 97):  # across part boundaries (150 rows each)
        frame.loc[start, "region"] = ["atlantis", "mu", "lemuria"][start % 3]
        frame.loc[start + 1, "monthly_charges"] = 900.0 + start
        frame.loc[start + 2, "age"] = None
    return frame


@pytest.fixture
def two_snapshots(settings: Settings) -> tuple[Workspace, str, str]:
    """A reference snapshot of 5 parts and a bad, drifted append of 6 parts on top of it."""
    ws = Workspace(settings=settings, config=_config())
    first = _ingest(ws, generate_batch(BatchSpec(rows=700, seed=3)), "first.csv")
    second = _ingest(ws, _bad_batch(900, seed=4), "second.csv")
    return ws, first, second


def _same_outcomes(chunked: Any, whole: Any) -> None:
    assert len(chunked) == len(whole)
    for a, b in zip(chunked, whole, strict=True):
        assert a.id == b.id and a.success == b.success and a.error == b.error, a.id
        assert a.unexpected_count == b.unexpected_count and a.sample == b.sample, a.id
        if isinstance(b.observed, float):
            assert a.observed == pytest.approx(b.observed, rel=1e-12), a.id
        else:
            assert a.observed == b.observed, a.id
        for key in ("element_count", "missing_count", "partial_unexpected_list", "partial_unexpected_counts"):
            assert a.result.get(key) == b.result.get(key), (a.id, key)
        if b.unexpected_percent is not None:
            assert a.unexpected_percent == pytest.approx(b.unexpected_percent), a.id


def _same_reports(chunked: Any, whole: Any) -> None:
    a, b = chunked.to_dict(), whole.to_dict()
    for key in ("passed", "new_rows", "failed_checks", "drifted_features", "label_contract_held", "label_contract"):
        assert a[key] == b[key], key
    assert [(c["name"], c["passed"], c["message"]) for c in a["checks"]] == [
        (c["name"], c["passed"], c["message"]) for c in b["checks"]
    ]
    if b["drift"] is not None:
        for fa, fb in zip(a["drift"]["features"], b["drift"]["features"], strict=True):
            assert (fa["feature"], fa["test"], fa["drifted"]) == (fb["feature"], fb["test"], fb["drifted"])
            for number in ("score", "p_value", "effect_size"):
                if fb[number] is None:
                    assert fa[number] is None
                else:
                    assert fa[number] == pytest.approx(fb[number], rel=1e-9, abs=1e-12), (fa["feature"], number)
    _same_outcomes(chunked.outcomes, whole.outcomes)


def test_parts_are_grouped_into_chunks_of_at_most_chunk_rows() -> None:
    parts = [
        Part(id=f"p{i}", key=f"k{i}", rows=n, source=SourceFile("f", "s", 1))
        for i, n in enumerate([100, 50, 60, 300, 10])
    ]
    grouped = chunk_parts(parts, 150)
    assert [[p.id for p in chunk] for chunk in grouped] == [["p0", "p1"], ["p2"], ["p3"], ["p4"]]
    assert len(chunk_parts(parts, 10**9)) == 1


def test_an_append_in_chunks_gives_the_verdicts_of_one_frame(two_snapshots: tuple[Workspace, str, str]) -> None:
    ws, first, second = two_snapshots
    reference = read_manifest(ws.store, first)
    assert len(read_manifest(ws.store, second).parts) - len(reference.parts) == 6

    whole = compute_validation(ws, second, reference, chunk_rows=10**9).report
    chunked = compute_validation(ws, second, reference, chunk_rows=2 * PART_ROWS).report

    assert whole.statistics["chunks"] == 1 and chunked.statistics["chunks"] == 3
    assert not whole.passed and whole.drifted_features  # the data really is bad and drifted
    failed = {o.id: o for o in whole.outcomes if not o.success}
    region = next(o for i, o in failed.items() if "region" in i)
    assert region.unexpected_count == 10 and len(region.result["partial_unexpected_counts"]) == 3
    _same_reports(chunked, whole)


def test_a_first_snapshot_in_chunks_gives_the_verdicts_of_one_frame(settings: Settings) -> None:
    ws = Workspace(settings=settings, config=_config())
    snapshot = _ingest(ws, _bad_batch(800, seed=5), "first.csv")

    chunked = compute_validation(ws, snapshot, None, chunk_rows=PART_ROWS)
    # the suite is generated from the snapshot's statistics first: each part is read twice
    assert chunked.report.statistics["chunks"] == 6 and chunked.report.statistics["parts_read"] == 12
    whole = compute_validation(ws, snapshot, None, chunk_rows=10**9)
    assert whole.report.statistics["parts_read"] == 6
    _same_reports(chunked.report, whole.report)


def _spend(rows: int, seed: int, shift: float) -> pd.DataFrame:
    frame = generate_batch(BatchSpec(rows=rows, seed=seed, first_id=seed * 10_000)).drop(columns=["churned"])
    spend = 3.0 * frame["monthly_charges"].astype(float) + np.random.default_rng(seed).normal(0, 20, rows) + shift
    return frame.assign(spend=spend.clip(lower=0.0).round(2))


def test_a_regression_label_in_chunks_gives_the_contract_of_one_frame(settings: Settings) -> None:
    ws = Workspace(settings=settings, config=_config(regression=True))
    first = _ingest(ws, _spend(600, seed=1, shift=0.0), "first.csv")
    second = _ingest(ws, _spend(700, seed=2, shift=60.0), "second.csv")
    reference = read_manifest(ws.store, first)

    whole = compute_validation(ws, second, reference, chunk_rows=10**9).report
    chunked = compute_validation(ws, second, reference, chunk_rows=PART_ROWS).report

    assert chunked.statistics["chunks"] == 5
    contract = whole.label_contract
    assert contract is not None and not contract.held and "above max 300" in contract.message
    _same_reports(chunked, whole)


def test_no_check_ever_sees_more_than_one_chunk(
    two_snapshots: tuple[Workspace, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, first, second = two_snapshots
    seen: list[int] = []
    real_add, real_evaluate = SuiteAccumulator.add, validation_report.evaluate_suite

    def spy_add(self: SuiteAccumulator, chunk: pd.DataFrame) -> None:
        seen.append(len(chunk))
        real_add(self, chunk)

    def spy_evaluate(frame: pd.DataFrame, *args: Any) -> Any:
        seen.append(len(frame))
        return real_evaluate(frame, *args)

    monkeypatch.setattr(SuiteAccumulator, "add", spy_add)
    monkeypatch.setattr(validation_report, "evaluate_suite", spy_evaluate)
    report = compute_validation(ws, second, read_manifest(ws.store, first)).report  # chunks of ingest.chunk_rows

    assert report.new_rows == 900 and sum(seen) == 900
    assert max(seen) <= PART_ROWS and len(seen) == 6
    assert "checked 900 new rows in 6 chunks" not in report.summary_lines()[0]  # the log says it, not the verdict


def test_great_expectations_only_checks_run_on_a_bounded_seeded_sample(settings: Settings) -> None:
    ws = Workspace(settings=settings, config=_config(engine="great_expectations"))
    first = _ingest(ws, generate_batch(BatchSpec(rows=300, seed=3)), "first.csv")
    second = _ingest(ws, _bad_batch(900, seed=4), "second.csv")

    report = compute_validation(ws, second, read_manifest(ws.store, first)).report

    assert {o.engine for o in report.outcomes} == {"great_expectations"}
    sampled = {o.sampled_rows for o in report.outcomes}
    assert len(sampled) == 1 and (size := sampled.pop()) is not None and PART_ROWS <= size < 900
    failed = [o for o in report.outcomes if not o.success]
    assert failed and f"a seeded sample of {size} rows" in failed[0].describe()
    assert failed[0].to_dict()["sampled_rows"] == size
    again = compute_validation(ws, second, read_manifest(ws.store, first)).report
    assert [o.to_dict() for o in again.outcomes] == [o.to_dict() for o in report.outcomes]  # seeded


def _suite() -> Suite:
    def exp(kind: str, column: str | None = None, **kw: Any) -> Expectation:
        kwargs = {"column": column, **kw} if column else kw
        return Expectation(id=f"{kind}:{column}", type=kind, kwargs=kwargs, severity="fail", source="test")

    return Suite(
        name="t",
        expectations=(
            exp("expect_table_row_count_to_be_between", min_value=1, max_value=10_000),
            exp("expect_table_columns_to_match_set", column_set=["n", "k", "c"]),
            exp("expect_column_to_exist", "k"),
            exp("expect_column_values_to_be_in_type_list", "k", type_list=["int64"]),
            exp("expect_column_values_to_not_be_null", "n", mostly=0.95),
            exp("expect_column_values_to_be_between", "n", min_value=0, max_value=10, mostly=0.9),
            exp("expect_column_values_to_be_in_set", "c", value_set=["a", "b"]),
            exp("expect_column_values_to_not_be_in_set", "c", value_set=["x"]),
            exp("expect_column_min_to_be_between", "k", min_value=0),
            exp("expect_column_max_to_be_between", "k", max_value=50),
            exp("expect_column_mean_to_be_between", "n", min_value=0, max_value=10),
            exp("expect_column_values_to_be_between", "missing", min_value=0),
            exp("expect_column_mean_to_be_between", "c", min_value=0),
        ),
    )


def test_suite_accumulator_merges_to_the_one_frame_outcomes() -> None:
    rng = np.random.default_rng(11)
    n = 1_000
    frame = pd.DataFrame(
        {
            "n": np.where(rng.random(n) < 0.03, np.nan, rng.normal(5, 4, n).round(1)),
            "k": rng.integers(0, 60, n),
            "c": rng.choice(["a", "b", "x", "y", "z"], n, p=[0.45, 0.45, 0.04, 0.03, 0.03]),
        }
    )
    suite = _suite()
    whole = evaluate_suite(frame, suite)
    for size in (1_000, 333, 100, 7):
        merged = SuiteAccumulator(suite, n, sample_rows=size)
        for start in range(0, n, size):
            merged.add(frame.iloc[start : start + size])
        _same_outcomes(merged.outcomes(), whole)
    assert not all(o.success for o in whole) and any(o.error for o in whole)


def test_unexpected_values_counted_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(expectation_chunks, "MAX_COUNTED_VALUES", 5)
    frame = pd.DataFrame({"c": [f"v{i}" for i in range(40)] + ["a"] * 10, "n": 1.0, "k": 1})
    merged = SuiteAccumulator(_suite(), len(frame), sample_rows=10)
    for start in range(0, len(frame), 10):
        merged.add(frame.iloc[start : start + 10])
    in_set = next(o for o in merged.outcomes() if o.id.startswith("expect_column_values_to_be_in_set"))
    assert in_set.unexpected_count == 40 and len(in_set.result["partial_unexpected_counts"]) == 5
    assert in_set.result["partial_unexpected_list"] == [f"v{i}" for i in range(20)]


def _drift_frames(rows: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(5)

    def frame(n: int, shift: float) -> pd.DataFrame:
        x = rng.normal(shift, 1, n)
        x[rng.random(n) < 0.02] = np.nan
        return pd.DataFrame(
            {
                "x": x,
                "z": rng.exponential(1, n),
                "c": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3 + shift / 10, 0.2 - shift / 10]),
            }
        )

    return frame(rows, 0.0), frame(rows, 0.5)


@pytest.mark.parametrize("rows", [3_000, 9_000])
def test_drift_from_chunk_summaries_equals_drift_on_the_frame(rows: int) -> None:
    reference, current = _drift_frames(rows)
    profiles = profile_frame(reference, ["x", "z"], ["c"])
    whole = detect_drift(profiles, current)
    summary = CurrentAccumulator(profiles, rows)
    for start in range(0, rows, 1_000):
        summary.add(current.iloc[start : start + 1_000])
    chunked = detect_drift(profiles, summary.result())
    for a, b in zip(chunked.features, whole.features, strict=True):
        assert (a.feature, a.test, a.drifted) == (b.feature, b.test, b.drifted)
        assert a.score == pytest.approx(b.score, rel=1e-12) and a.effect_size == pytest.approx(b.effect_size)
    for name in ("psi", "jensen_shannon"):  # the binned tests read exact counts whatever the chunking
        chosen = detect_drift(profiles, summary.result(), tests={"x": name, "z": name, "c": name})
        exact = detect_drift(profiles, current, tests={"x": name, "z": name, "c": name})
        assert [f.score for f in chosen.features] == pytest.approx([f.score for f in exact.features], rel=1e-12)


def test_drift_beyond_the_current_sample_keeps_a_bounded_seeded_sample() -> None:
    rows = MAX_CURRENT_SAMPLE + 100_000
    reference, current = _drift_frames(rows)
    profiles = profile_frame(reference.iloc[:50_000], ["x", "z"], ["c"])
    summary = CurrentAccumulator(profiles, rows)
    for start in range(0, rows, 60_000):
        summary.add(current.iloc[start : start + 60_000])
    result = summary.result()
    x = result["x"]
    assert not isinstance(x, dict)
    assert x.count == int(current["x"].notna().sum())
    assert MAX_CURRENT_SAMPLE - 10 <= x.sample.size <= MAX_CURRENT_SAMPLE + 10
    chunked, whole = detect_drift(profiles, result), detect_drift(profiles, current)
    assert chunked.drifted_features == whole.drifted_features and "x" in whole.drifted_features
    for a, b in zip(chunked.features, whole.features, strict=True):
        assert a.test == b.test and math.isclose(a.score, b.score, rel_tol=0.05, abs_tol=0.005), a.feature


def test_nothing_of_a_chunk_is_kept_once_it_is_checked() -> None:
    """Memory follows one chunk: after a chunk is checked no Arrow buffer of it stays alive.

    Arrow-backed strings share their buffers with every slice and even with ``copy()``, so keeping
    one row of each chunk (for the schema checks) once kept every chunk's strings alive.
    """
    rng = np.random.default_rng(9)
    suite, rows = _suite(), 20_000

    def chunk() -> pd.DataFrame:
        table = pa.table(
            {
                "n": rng.normal(5, 2, rows),
                "k": rng.integers(0, 40, rows),
                "c": pa.array(rng.choice(["a", "b", "x"], rows).astype(object) + "-level-" + str(rng.integers(9))),
            }
        )
        return table.to_pandas()

    profiles = profile_frame(chunk(), ["n", "k"], ["c"])
    gc.collect()
    before = pa.total_allocated_bytes()
    expectations, drift = SuiteAccumulator(suite, 5 * rows, sample_rows=rows), CurrentAccumulator(profiles, 5 * rows)
    one_chunk = 0
    for _ in range(5):
        frame = chunk()
        one_chunk = max(one_chunk, pa.total_allocated_bytes() - before)
        expectations.add(frame)
        drift.add(frame)
        del frame
        gc.collect()
    assert one_chunk > 200_000  # the strings really live in Arrow buffers
    assert pa.total_allocated_bytes() - before < one_chunk / 4
    assert len(expectations.outcomes()) == len(suite.expectations) and drift.result()["c"]


def test_the_stage_says_how_many_chunks_it_checked(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    ws = Workspace(settings=settings, config=_config())
    snapshot = _ingest(ws, generate_batch(BatchSpec(rows=400, seed=3)), "first.csv")
    with caplog.at_level(logging.INFO):
        outcome = stages.validate_snapshot(ws, snapshot)
    assert outcome.passed
    stored = ws.meta.get_validation(outcome.validation_id).summary["statistics"]
    assert (stored["chunks"], stored["chunk_rows"]) == (3, PART_ROWS)
    assert "checked 400 new rows in 3 chunks" in caplog.text
    assert f"checked in 3 chunks of at most {PART_ROWS} rows" in caplog.text
