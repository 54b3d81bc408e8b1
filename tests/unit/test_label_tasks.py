"""The label by task (binary, multiclass, regression) through ingestion, the expectation suite,
the label contract and train/holdout parity."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from pipeline.app.demo_data import BatchSpec, generate_batch
from pipeline.core.config import PipelineConfig, parse_config
from pipeline.core.settings import BUNDLED_CONFIG, Settings
from pipeline.core.storage import ObjectStore
from pipeline.data.ingestion import (
    MAX_NAMED_LABEL_VALUES,
    ROW_REASON_COLUMN,
    LandingFile,
    coerce_chunk,
    missing_label_reason,
    parse_landing_file,
    sha256_file,
)
from pipeline.data.landed_store import count_set_aside
from pipeline.data.live_inputs import read_labels, read_unlabelled
from pipeline.data.snapshots import SourceFile, arrow_schema, load_parts, write_part
from pipeline.quality.drift import profile_numeric
from pipeline.quality.expectations import evaluate_suite
from pipeline.quality.label_contract import (
    check_label_contract_counts,
    check_label_parity_counts,
    check_label_parity_numeric,
    check_regression_label,
)
from pipeline.quality.part_stats import (
    HOLDOUT,
    TRAIN,
    StatisticsCache,
    compute_part_stats,
    decode_part_stats,
    encode_label_samples,
    encode_part_stats,
    label_profile_from_stats,
    statistics_key,
    summarise,
)
from pipeline.quality.suite import bind_to_batch, generate_suite, schema_expectations
from pipeline.quality.validation_report import validate_frames

TIERS = ["bronze", "silver", "gold"]


def _bundled() -> dict[str, Any]:
    data = yaml.safe_load(BUNDLED_CONFIG.read_text())
    data["model"].pop("candidates", None)
    return data


def multiclass_config() -> PipelineConfig:
    data = _bundled()
    data["dataset"].update(name="tiers", label="tier", task="multiclass", classes=TIERS)
    data["dataset"].pop("positive_class")
    data["validation"]["label_contract"] = {
        "severity": "warn",
        "expected_shares": {"bronze": 0.5, "silver": 0.3, "gold": 0.2},
        "tolerance": 0.1,
    }
    data["promotion"] = {"primary_metric": "accuracy"}
    return parse_config(data)


def regression_config(**contract: Any) -> PipelineConfig:
    data = _bundled()
    data["dataset"].update(name="spend", label="spend", task="regression")
    for key in ("classes", "positive_class"):
        data["dataset"].pop(key)
    data["validation"]["label_contract"] = {"severity": "warn", "min": 0.0, "max": 1000.0, **contract}
    data["model"] = {"name": "spend-model", "spec": "default", "specs": {"default": {"estimator": "ridge"}}}
    data["promotion"] = {}
    data["ingest"]["stable_seconds"] = 0
    return parse_config(data)


def _frame(rows: int = 600, seed: int = 7, first_id: int = 0) -> pd.DataFrame:
    return generate_batch(BatchSpec(rows=rows, seed=seed, first_id=first_id)).drop(columns=["churned"])


def tiers_frame(rows: int = 600, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return _frame(rows, seed).assign(tier=rng.choice(TIERS, rows, p=[0.5, 0.3, 0.2]))


def spend_frame(rows: int = 600, seed: int = 7, shift: float = 0.0, first_id: int = 0) -> pd.DataFrame:
    frame = _frame(rows, seed, first_id)
    rng = np.random.default_rng(seed)
    spend = 3.0 * frame["monthly_charges"].astype(float) + rng.normal(0, 20, rows) + shift
    return frame.assign(spend=spend.clip(lower=0.0).round(2))


def _text(frame: pd.DataFrame) -> pd.DataFrame:
    """A frame as a CSV reader hands it over: every value a string, index = CSV line."""
    raw = frame.astype(object).where(frame.notna(), None).astype("string")
    raw.index = raw.index + 2
    return raw


def _reasons(rejected: pd.DataFrame) -> dict[int, str]:
    return dict(zip(rejected["_ct_source_row"], rejected[ROW_REASON_COLUMN]))


# -- ingestion ----------------------------------------------------------------------------------


def test_three_classes_are_ingested_and_other_labels_set_aside() -> None:
    config = multiclass_config()
    raw = _text(tiers_frame(10))
    raw.loc[2, "tier"], raw.loc[3, "tier"], raw.loc[4, "tier"] = " gold ", "platinum", None
    chunk = coerce_chunk(raw, config.dataset, "tiers.csv")
    assert len(chunk.frame) == 8
    assert set(chunk.frame["tier"]) <= set(TIERS) and "gold" in set(chunk.frame["tier"])
    assert _reasons(chunk.rejected) == {
        3: "tier: not one of the classes ['bronze', 'silver', 'gold']",
        4: "tier: missing label",
    }


def test_regression_label_is_a_finite_number_and_bad_values_are_named() -> None:
    config = regression_config()
    raw = _text(spend_frame(8))
    raw["spend"] = ["12.5", " 7 ", "1e3", "abc", "", "inf", "-3", "n/a"]
    chunk = coerce_chunk(raw, config.dataset, "spend.csv")
    assert chunk.frame["spend"].dtype == np.float64
    assert chunk.frame["spend"].tolist() == [12.5, 7.0, 1000.0, -3.0]  # -3 is a number; the contract judges it
    assert _reasons(chunk.rejected) == {
        5: "spend: 'abc' is not a number; a regression label must be a number",
        6: "spend: missing label",
        7: "spend: 'inf' is not a finite number; a regression label must be a number",
        9: "spend: 'n/a' is not a number; a regression label must be a number",
    }


def test_many_distinct_bad_labels_share_one_reason_beyond_the_named_ones() -> None:
    config = regression_config()
    raw = _text(spend_frame(MAX_NAMED_LABEL_VALUES + 30))
    raw.loc[raw.index[:-10], "spend"] = [f"bad{i}" for i in range(MAX_NAMED_LABEL_VALUES + 20)]
    chunk = coerce_chunk(raw, config.dataset, "spend.csv")
    reasons = chunk.rejected[ROW_REASON_COLUMN].value_counts()
    assert len(chunk.frame) == 10 and len(chunk.rejected) == MAX_NAMED_LABEL_VALUES + 20
    assert reasons["spend: not a number; a regression label must be a number"] == 20
    assert reasons["spend: 'bad0' is not a number; a regression label must be a number"] == 1
    assert len(reasons) == MAX_NAMED_LABEL_VALUES + 1


def test_regression_label_reads_decimal_commas_like_numeric_features(tmp_path: Path) -> None:
    config = regression_config()
    frame = spend_frame(4).assign(spend=["12,5", "7", "x,y", "0,25"], monthly_charges=["1,5", "2", "3", "4"])
    path = tmp_path / "spend.csv"
    frame.to_csv(path, index=False, sep=";")
    ingest = config.ingest.model_copy(update={"csv_delimiter": ";", "csv_decimal": ",", "max_bad_row_fraction": 0.5})
    parsed = parse_landing_file(
        LandingFile(path=path, size=path.stat().st_size, sha256=sha256_file(path)), config.dataset, ingest
    )
    assert parsed.frame["spend"].tolist() == [12.5, 7.0, 0.25]
    assert parsed.frame["monthly_charges"].tolist() == [1.5, 2.0, 4.0]
    assert list(parsed.rejected[ROW_REASON_COLUMN]) == [
        "spend: 'x,y' is not a number; a regression label must be a number (decimal mark ',')"
    ]


def test_numeric_parquet_label_keeps_its_values_and_a_null_is_a_missing_label() -> None:
    config = regression_config()
    raw = spend_frame(3)
    raw["spend"] = [1.25, np.nan, 3.0]
    chunk = coerce_chunk(raw, config.dataset, "spend.parquet")
    assert chunk.frame["spend"].tolist() == [1.25, 3.0]
    assert list(chunk.rejected[ROW_REASON_COLUMN]) == [missing_label_reason(config.dataset)]


def test_snapshots_store_a_regression_label_as_float64(tmp_path: Path) -> None:
    config = regression_config()
    assert str(arrow_schema(config.dataset).field("spend").type) == "double"
    assert str(arrow_schema(multiclass_config().dataset).field("tier").type) == "string"
    store = ObjectStore(tmp_path.as_uri())
    frame = coerce_chunk(_text(spend_frame(20)), config.dataset, "s.csv").frame
    part = write_part(store, frame, config.dataset, SourceFile("s.csv", "0" * 64, 1))
    back = load_parts(store, [part])
    assert back["spend"].dtype == np.float64
    assert np.array_equal(back["spend"].to_numpy(), frame["spend"].to_numpy())


def _landing(path: Path) -> LandingFile:
    return LandingFile(path=path, size=path.stat().st_size, sha256=sha256_file(path))


def test_inboxes_accept_multiclass_and_regression_labels(tmp_path: Path) -> None:
    for config, frame in ((multiclass_config(), tiers_frame(6)), (regression_config(), spend_frame(6))):
        label = config.dataset.label
        batch = tmp_path / f"{label}-batch.csv"
        frame.drop(columns=[label]).to_csv(batch, index=False)
        unlabelled = read_unlabelled(_landing(batch), config.dataset, config.ingest)
        assert len(unlabelled.frame) == 6 and unlabelled.rejected.empty  # no row lost to a label placeholder
    config = regression_config()
    labels = spend_frame(6)[["customer_id", "spend"]].astype(object)
    labels.loc[1, "spend"] = "lots"
    path = tmp_path / "labels.csv"
    labels.to_csv(path, index=False)
    read = read_labels(_landing(path), config.dataset, config.ingest)
    assert read.frame["spend"].dtype == np.float64 and len(read.frame) == 5
    assert list(read.rejected[ROW_REASON_COLUMN]) == [
        "spend: 'lots' is not a number; a regression label must be a number"
    ]


def test_set_aside_missing_labels_are_counted_from_the_quarantined_rows(tmp_path: Path) -> None:
    reason = "spend: missing label"
    folder = tmp_path / f"rejected_{'a' * 16}"
    folder.mkdir(parents=True)
    pd.DataFrame({"x": [1, 2, 3], ROW_REASON_COLUMN: [reason, "spend: 'q' is not a number", reason]}).to_csv(
        folder / "f.rejected_rows.csv", index=False
    )
    assert count_set_aside(tmp_path, ["a" * 64, "b" * 64], reason) == 2  # b set nothing aside
    (tmp_path / ".pending").mkdir()
    (tmp_path / ".pending" / f"{'c' * 64}.1.rejected_rows.csv").write_text("x\n")
    assert count_set_aside(tmp_path, ["a" * 64, "c" * 64], reason) is None  # not committed: unknown


# -- the expectation suite ----------------------------------------------------------------------


def _ids(items: list[Any]) -> dict[str, Any]:
    return {e.id: e for e in items}


def test_suite_checks_classes_for_multiclass_and_numbers_for_regression() -> None:
    mc = multiclass_config()
    in_set = _ids(schema_expectations(mc.dataset, mc.validation.expectations))["expect_column_values_to_be_in_set:tier"]
    assert in_set.kwargs["value_set"] == TIERS

    config = regression_config(severity="fail")
    items = _ids(schema_expectations(config.dataset, config.validation.expectations, config.validation.label_contract))
    assert "expect_column_values_to_be_in_set:spend" not in items
    assert items["expect_column_values_to_be_in_type_list:spend"].kwargs["type_list"][0] == "float64"
    between = items["expect_column_values_to_be_between:spend"]
    assert (between.kwargs["min_value"], between.kwargs["max_value"], between.severity) == (0.0, 1000.0, "fail")


def test_generated_regression_suite_learns_the_label_range_and_fails_a_bad_batch() -> None:
    config = regression_config(max=None)
    reference = coerce_chunk(_text(spend_frame(2_000)), config.dataset, "r.csv").frame
    suite = generate_suite(config, summarise([compute_part_stats("p", reference, config)], config), "snap")
    learned = _ids(list(suite.expectations))["expect_column_values_to_be_between:spend:observed"]
    assert learned.kwargs["min_value"] == 0.0  # clipped to the contract's min
    assert learned.kwargs["max_value"] > reference["spend"].max()
    good = coerce_chunk(_text(spend_frame(300, seed=8)), config.dataset, "g.csv").frame
    bad = good.assign(spend=good["spend"] * 10 - 500)  # far outside both ranges, some below 0
    for frame, ok in ((good, True), (bad, False)):
        outcomes = {o.id: o for o in evaluate_suite(frame, bind_to_batch(suite, len(frame)), "fast")}
        assert outcomes["expect_column_values_to_be_between:spend:observed"].success is ok
        assert outcomes["expect_column_values_to_be_between:spend"].success is ok
        assert outcomes["expect_column_values_to_be_in_type_list:spend"].success


# -- the label contract -------------------------------------------------------------------------


def _counts(shares: dict[str, float], n: int) -> dict[str, int]:
    return {k: round(v * n) for k, v in shares.items()}


def test_multiclass_contract_holds_and_its_chi2_is_scipys_for_k_classes() -> None:
    expected = {"bronze": 0.5, "silver": 0.3, "gold": 0.2}
    counts = {"bronze": 480, "silver": 320, "gold": 200}
    result = check_label_contract_counts(counts, expected, 0.1)
    assert result.held and result.max_deviation == pytest.approx(0.02)
    want = stats.chisquare([480, 320, 200], [500, 300, 200])
    assert result.chi2 == pytest.approx(want.statistic, abs=1e-9)
    assert result.p_value == pytest.approx(want.pvalue, abs=1e-9)
    five = dict.fromkeys("abcde", 0.2)
    assert check_label_contract_counts(_counts(five, 1000), five, 0.05).held


def test_multiclass_contract_breaks_when_a_class_vanishes_or_an_unknown_one_appears() -> None:
    five = dict.fromkeys("abcde", 0.2)
    vanished = check_label_contract_counts({"a": 250, "b": 250, "c": 250, "d": 250}, five, 0.1)
    assert not vanished.held and "'e'" in vanished.message and "0.00" in vanished.message
    assert vanished.counts["e"] == 0 and vanished.p_value < 1e-9
    unknown = check_label_contract_counts(
        {"bronze": 50, "silver": 30, "gold": 15, "platinum": 5}, {"bronze": 0.5, "silver": 0.3, "gold": 0.2}, 0.1
    )
    assert not unknown.held and "unexpected class(es) 'platinum'" in unknown.message


def _reference(seed: int = 1, n: int = 3_000, loc: float = 100.0) -> pd.Series:
    return pd.Series(np.random.default_rng(seed).normal(loc, 15, n))


def test_regression_contract_holds_on_a_batch_like_the_reference() -> None:
    reference = profile_numeric("spend", _reference())
    batch = _reference(seed=2, n=800)
    result = check_regression_label(
        batch, "spend", reference, minimum=0, maximum=1000, max_missing_share=0.05, missing=10
    )
    assert result.held, result.message
    evidence = result.numeric
    assert evidence is not None and evidence.test == "ks" and not evidence.drifted
    want = stats.ks_2samp(reference.sorted_sample, batch.to_numpy())
    assert evidence.score == pytest.approx(want.pvalue, abs=1e-9)
    assert evidence.effect_size == pytest.approx(want.statistic, abs=1e-9)
    assert evidence.missing_share == pytest.approx(10 / 810)
    assert result.message.startswith("label contract ('spend', regression) held")
    json.dumps(result.to_dict(), allow_nan=False)  # storable as is


def test_regression_contract_breaks_on_drift_range_and_missing_labels() -> None:
    reference = profile_numeric("spend", _reference())
    shifted = check_regression_label(_reference(seed=3, n=800, loc=115.0), "spend", reference, missing=0)
    assert not shifted.held and shifted.numeric is not None and shifted.numeric.drifted
    assert "drifted from the reference: ks" in shifted.message and "'spend'" in shifted.message

    out_of_range = check_regression_label(
        pd.Series([-5.0, 10.0, 20.0, 2_000.0, 3_000.0]), "spend", None, minimum=0, maximum=1000
    )
    assert not out_of_range.held
    assert out_of_range.counts == {"labelled": 5, "below_min": 1, "above_max": 2, "missing": 0}
    assert "1 of 5 values below min 0 (lowest -5)" in out_of_range.message
    assert "2 of 5 values above max 1000 (highest 3000)" in out_of_range.message

    missing = check_regression_label(_reference(n=90), "spend", None, max_missing_share=0.05, missing=10)
    assert not missing.held
    assert "10 of 100 rows (10.0%) have no label, more than label_contract.max_missing_share=5.0%" in missing.message


def test_regression_contract_without_reference_or_ingest_record_says_what_it_did_not_measure() -> None:
    result = check_regression_label(_reference(n=50), "spend", None, max_missing_share=0.05, missing=None)
    assert result.held and result.numeric is not None and result.numeric.test is None
    assert "not counted (no ingest record)" in result.message and "no reference" in result.message
    nulls = check_regression_label(pd.Series([1.0, np.nan, 2.0]), "spend", None, max_missing_share=0.05, missing=None)
    assert not nulls.held and nulls.numeric is not None and nulls.numeric.missing == 1  # nulls in the batch count
    empty = check_regression_label(pd.Series([], dtype=float), "spend", None)
    assert not empty.held and "no numeric labels" in empty.message


# -- train/holdout parity -----------------------------------------------------------------------


def test_multiclass_parity_passes_and_a_skewed_holdout_fails() -> None:
    train = {"bronze": 4000, "silver": 2400, "gold": 1600}
    assert check_label_parity_counts(train, {"bronze": 510, "silver": 290, "gold": 200}, 0.05).held
    skewed = check_label_parity_counts(train, {"bronze": 300, "silver": 300, "gold": 400}, 0.05)
    assert not skewed.held and "'gold'" in skewed.message


def test_regression_parity_is_a_ks_gap_within_the_tolerance() -> None:
    train = profile_numeric("spend", _reference(seed=4, n=4_000))
    holdout = profile_numeric("spend", _reference(seed=5, n=1_000))
    held = check_label_parity_numeric(train, holdout, 0.05, label="spend")
    assert held.held, held.message
    want = stats.ks_2samp(train.sorted_sample, holdout.sorted_sample)
    assert held.max_deviation == pytest.approx(want.statistic, abs=1e-9)
    assert held.p_value == pytest.approx(want.pvalue, abs=1e-9)
    skewed = profile_numeric("spend", _reference(seed=5, n=1_000, loc=110.0))
    broken = check_label_parity_numeric(train, skewed, 0.05, label="spend")
    assert not broken.held and "'spend'" in broken.message and "parity_tolerance 0.050" in broken.message
    small = profile_numeric("spend", _reference(seed=6, n=30, loc=104.0))  # a gap, but chance at n=30
    assert check_label_parity_numeric(train, small, 0.05).held


# -- part statistics and the whole validation ---------------------------------------------------


def test_part_stats_summarise_a_regression_label_numerically(tmp_path: Path) -> None:
    config = regression_config()
    frame = coerce_chunk(_text(spend_frame(600)), config.dataset, "s.csv").frame
    part_stats = compute_part_stats("p1", frame, config)
    assert part_stats.labels == {}
    pieces = part_stats.label_pieces
    assert pieces[TRAIN].count + pieces[HOLDOUT].count == 600 and pieces[HOLDOUT].count > 0
    meta, samples = encode_part_stats(part_stats)
    back = decode_part_stats(meta, samples, encode_label_samples(part_stats))
    assert np.array_equal(back.label_pieces[TRAIN].sample, pieces[TRAIN].sample)
    assert decode_part_stats(meta).label_pieces[HOLDOUT].count == pieces[HOLDOUT].count
    profile = label_profile_from_stats([back], config)
    assert profile == profile_numeric("spend", frame["spend"])
    facts = summarise([back], config).numeric["spend"]
    assert (facts["count"], facts["min"], facts["max"]) == (600, frame["spend"].min(), frame["spend"].max())
    assert statistics_key(config) != statistics_key(config.model_copy(update={"dataset": multiclass_config().dataset}))

    binary = parse_config(_bundled())
    binary_stats = compute_part_stats("b", generate_batch(BatchSpec(rows=50, seed=1)), binary)
    assert set(json.loads(encode_part_stats(binary_stats)[0])) == {
        "format",
        "part_id",
        "rows",
        "numeric",
        "categorical",
        "labels",
    }  # a class label's statistics are stored as they always were
    assert binary_stats.labels and encode_label_samples(binary_stats) is None


def test_statistics_cache_merges_the_label_profile_of_a_snapshot(tmp_path: Path) -> None:
    from pipeline.data.snapshots import create_snapshot

    config = regression_config()
    store = ObjectStore(tmp_path.as_uri())
    frames = [
        coerce_chunk(_text(spend_frame(300, seed=s, first_id=s * 1000)), config.dataset, "x").frame for s in (1, 2)
    ]
    parts = [
        write_part(store, f, config.dataset, SourceFile(f"f{i}.csv", str(i) * 64, 1)) for i, f in enumerate(frames)
    ]
    snapshot = create_snapshot(store, config.dataset, None, parts)
    cache = StatisticsCache(store, config)
    profile = cache.label_profile(snapshot)
    assert profile == profile_numeric("spend", pd.concat(frames)["spend"])
    again = StatisticsCache(store, config)
    assert again.label_profile(snapshot) == profile and again.parts_read == 0


def test_validate_frames_runs_the_regression_contract_and_parity() -> None:
    config = regression_config(max=300.0)
    config = config.model_copy(
        update={
            "validation": config.validation.model_copy(
                update={"drift": config.validation.drift.model_copy(update={"tests": {"spend": "wasserstein"}})}
            )
        }
    )
    reference = coerce_chunk(_text(spend_frame(1_000, seed=1)), config.dataset, "r").frame
    new = coerce_chunk(_text(spend_frame(400, seed=2, shift=150.0)), config.dataset, "n").frame
    suite = generate_suite(config, summarise([compute_part_stats("r", reference, config)], config), "ref")
    train, holdout = profile_numeric("spend", reference["spend"]), profile_numeric("spend", new["spend"])
    report = validate_frames(
        config,
        "snap",
        new,
        suite,
        reference_snapshot_id="ref",
        reference_label_profile=profile_numeric("spend", reference["spend"]),
        train_label_profile=train,
        holdout_label_profile=holdout,
        missing_labels=3,
    )
    checks = {c.name: c for c in report.checks}
    contract = checks["label_contract"]
    assert not contract.passed and contract.severity == "warn"
    assert contract.details["numeric"]["test"] == "wasserstein" and contract.details["numeric"]["missing"] == 3
    assert "above max 300" in contract.message and "drifted" in contract.message
    assert not checks["split_parity"].passed and "KS D=" in checks["split_parity"].message
    json.dumps(report.to_dict(), allow_nan=False)


def test_compute_validation_counts_labels_set_aside_at_ingest(settings: Settings) -> None:
    from pipeline.app import stages
    from pipeline.app.workspace import Workspace
    from pipeline.quality.snapshot_validation import compute_validation

    config = regression_config(max_missing_share=0.02)
    ws = Workspace(settings=settings, config=config)
    frame = spend_frame(500).astype(object)
    frame.loc[:19, "spend"] = None  # 20 of 500 rows without a label: 4 %
    frame.loc[20, "spend"] = "unknown"
    settings.landing.mkdir(parents=True, exist_ok=True)
    frame.to_csv(settings.landing / "spend.csv", index=False)
    snapshot_id = stages.ingest_landing(ws).snapshot_id
    assert snapshot_id is not None

    run = compute_validation(ws, snapshot_id, None)

    contract = run.report.label_contract
    assert contract is not None and contract.numeric is not None
    assert (contract.numeric.rows, contract.numeric.missing) == (479, 20)
    assert not contract.held and "20 of 499 rows (4.0%) have no label" in contract.message
    parity = {c.name: c for c in run.report.checks}["split_parity"]
    assert parity.passed, parity.message
