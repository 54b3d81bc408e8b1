"""Unit tests of pipeline.quality.suite: generation from data, location, overrides, no overwrite."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from pipeline.core.config import PipelineConfig
from pipeline.core.errors import ConfigError
from pipeline.core.settings import BUNDLED_CONFIG, Settings
from pipeline.quality.part_stats import DataSummary
from pipeline.quality.suite import (
    PROFILE,
    SCHEMA,
    apply_overrides,
    bind_to_batch,
    generate_suite,
    load_suite,
    range_allowance,
    range_mostly,
    save_suite,
    schema_expectations,
    suite_location,
)


def _summary(**numeric_over) -> DataSummary:
    numeric = {
        "tenure_months": {"count": 100, "missing": 0, "min": 1.0, "max": 71.0},
        "monthly_charges": {"count": 100, "missing": 0, "min": 20.0, "max": 120.0},
        "total_charges": {"count": 100, "missing": 0, "min": 10.0, "max": 20.0},
        "support_calls": {"count": 100, "missing": 0, "min": 0.0, "max": 8.0},
        "data_usage_gb": {"count": 90, "missing": 10, "min": 0.5, "max": 50.0},
        "age": {"count": 100, "missing": 0, "min": 18.0, "max": 90.0},
    }
    numeric.update(numeric_over)
    categorical = {
        "contract": {"month-to-month": 50, "one-year": 30, "two-year": 20},
        "payment_method": {"card": 60, "bank-transfer": 40},  # two of four declared levels seen
        "region": {"north": 25, "south": 25, "east": 25, "west": 25},
        "plan": {"basic": 50, "standard": 45, "__null__": 5},
    }
    return DataSummary(rows=100, numeric=numeric, categorical=categorical)


def _by_id(config: PipelineConfig, summary: DataSummary | None = None) -> dict:
    suite = generate_suite(config, summary or _summary(), "snap1")
    return {e.id: e for e in suite.expectations}


def test_ranges_are_widened_by_the_margin_and_kept_inside_declared_bounds(config: PipelineConfig) -> None:
    items = _by_id(config)
    total = items["expect_column_values_to_be_between:total_charges:observed"]
    assert total.kwargs == {
        "column": "total_charges",
        "min_value": 9.0,
        "max_value": 21.0,  # 10% of width 10
        "mostly": 0.88,
    }  # 12 of 100 new values may fall outside by chance (alarm rate 0.001)
    assert total.meta == {"ct_range_rule": {"reference_rows": 100, "alarm_rate": 0.001}}
    assert total.source == PROFILE and total.severity == "warn"
    tenure = items["expect_column_values_to_be_between:tenure_months:observed"]
    assert tenure.kwargs["min_value"] == 0.0  # 1 - 7 would be below the declared min of 0
    assert tenure.kwargs["max_value"] == 78.0
    declared = items["expect_column_values_to_be_between:tenure_months"]
    assert (declared.kwargs["min_value"], declared.kwargs["max_value"]) == (0, 120)
    assert declared.source == SCHEMA and declared.severity == "fail"
    constant = _by_id(config, _summary(age={"count": 5, "missing": 0, "min": 40.0, "max": 40.0}))
    assert constant["expect_column_values_to_be_between:age:observed"].kwargs["min_value"] == 36.0


def test_categories_row_count_and_null_shares(config: PipelineConfig) -> None:
    items = _by_id(config)
    seen = items["expect_column_values_to_be_in_set:payment_method:observed"]
    assert seen.kwargs["value_set"] == ["card", "bank-transfer"]
    assert "expect_column_values_to_be_in_set:region:observed" not in items  # every declared level was seen
    assert items["expect_column_values_to_be_in_set:region"].kwargs["value_set"] == ["north", "south", "east", "west"]
    rows = items["expect_table_row_count_to_be_between:observed"]
    assert rows.kwargs == {"min_value": 1, "max_value": 1000}  # 10 x the 100 reference rows
    assert items["expect_column_values_to_not_be_null:data_usage_gb:observed"].kwargs["mostly"] == 0.88
    assert items["expect_column_values_to_not_be_null:plan:observed"].kwargs["mostly"] == 0.93
    # contract is declared non-nullable: the schema expectation already covers it
    assert "expect_column_values_to_not_be_null:contract:observed" not in items
    assert items["expect_column_values_to_not_be_null:contract"].severity == "fail"


def test_suite_file_is_great_expectations_json(config: PipelineConfig, tmp_path: Path) -> None:
    path = save_suite(generate_suite(config, _summary(), "snap1"), tmp_path / "churn.json")
    data = json.loads(path.read_text())
    assert data["name"] == "churn" and data["meta"]["ct"]["generated_from"] == "snap1"
    first = data["expectations"][0]
    assert set(first) == {"type", "kwargs", "severity", "meta"} and first["severity"] == "critical"
    warned = [e for e in data["expectations"] if e["meta"]["ct_source"] == PROFILE]
    assert warned and all(e["severity"] == "warning" for e in warned)


def test_existing_suite_is_never_overwritten_silently(config: PipelineConfig, tmp_path: Path) -> None:
    path = save_suite(generate_suite(config, _summary(), "snap1"), tmp_path / "churn.json")
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="never overwritten"):
        save_suite(generate_suite(config, _summary(), "snap2"), path)
    assert path.read_bytes() == before
    save_suite(generate_suite(config, _summary(), "snap2"), path, replace_existing=True)
    assert json.loads(path.read_text())["meta"]["ct"]["generated_from"] == "snap2"
    assert path.with_name("churn.json.bak").read_bytes() == before


def _settings(tmp_path: Path, config_path: Path) -> Settings:
    home = tmp_path / "home"
    return Settings(home=home, config_path=config_path, database_url="sqlite://", data_url=home.as_uri())


def test_location_beside_user_config_and_never_in_the_checkout(config: PipelineConfig, tmp_path: Path) -> None:
    user = tmp_path / "cfg" / "pipeline.yaml"
    user.parent.mkdir()
    assert suite_location(_settings(tmp_path, user), config).target == tmp_path / "cfg" / "expectations" / "churn.json"
    bundled = suite_location(_settings(tmp_path, BUNDLED_CONFIG), config)
    assert bundled.write_dir == tmp_path / "home" / "expectations"
    assert bundled.search[0] == BUNDLED_CONFIG.parent / "expectations"  # a reviewed, checked-in suite is read
    configured = config.model_copy(
        update={
            "validation": config.validation.model_copy(
                update={"expectations": config.validation.expectations.model_copy(update={"suite_dir": "suites"})}
            )
        }
    )
    assert suite_location(_settings(tmp_path, user), configured).target == tmp_path / "cfg" / "suites" / "churn.json"


def _stored(config: PipelineConfig, tmp_path: Path, overrides: str | None = None):
    settings = _settings(tmp_path, tmp_path / "pipeline.yaml")
    location = suite_location(settings, config)
    save_suite(generate_suite(config, _summary(), "snap1"), location.target)
    if overrides is not None:
        location.overrides.write_text(overrides)
    return location


def test_overrides_change_remove_and_add(config: PipelineConfig, tmp_path: Path) -> None:
    location = _stored(
        config,
        tmp_path,
        """
change:
  "expect_column_values_to_be_between:total_charges:observed": {max_value: 300, severity: fail}
  "expect_column_values_to_be_in_set:region": {severity: warning}
remove: ["expect_column_values_to_not_be_null:data_usage_gb:observed"]
add:
  - {type: expect_column_mean_to_be_between, kwargs: {column: age, min_value: 30, max_value: 60}, severity: warn}
""",
    )
    suite = load_suite(location, config)
    items = {e.id: e for e in suite.expectations}
    changed = items["expect_column_values_to_be_between:total_charges:observed"]
    assert changed.kwargs["max_value"] == 300 and changed.kwargs["min_value"] == 9.0 and changed.severity == "fail"
    assert items["expect_column_values_to_be_in_set:region"].severity == "warn"
    assert "expect_column_values_to_not_be_null:data_usage_gb:observed" not in items
    added = items["expect_column_mean_to_be_between:age:added0"]
    assert added.kwargs == {"column": "age", "min_value": 30, "max_value": 60} and added.severity == "warn"
    assert suite.overrides_path == location.overrides


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('change: {"expect_nothing:age": {max_value: 1}}', "no expectation with id 'expect_nothing:age'"),
        ('change: {"expect_column_values_to_be_in_set:region": {severity: urgent}}', "severity 'urgent'"),
        ("remove: [nope]", "no expectation with id 'nope'"),
        ("add: [{kwargs: {column: age}}]", "needs a 'type'"),
        ("replace: {}", "keys among"),
    ],
)
def test_bad_overrides_name_the_file_and_the_problem(
    config: PipelineConfig, tmp_path: Path, text: str, match: str
) -> None:
    location = _stored(config, tmp_path, text)
    with pytest.raises(ConfigError, match=match) as info:
        load_suite(location, config)
    assert str(location.overrides) in str(info.value)


def test_schema_expectations_follow_the_current_config(
    config: PipelineConfig, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    location = _stored(config, tmp_path)
    dataset = config.dataset
    region = dataset.features.categorical[2].model_copy(update={"levels": ("north", "south", "east", "west", "mars")})
    changed = config.model_copy(
        update={
            "dataset": dataset.model_copy(
                update={
                    "features": dataset.features.model_copy(
                        update={
                            "categorical": (*dataset.features.categorical[:2], region, dataset.features.categorical[3])
                        }
                    )
                }
            )
        }
    )
    with caplog.at_level(logging.WARNING):
        suite = load_suite(location, changed)
    items = {e.id: e for e in suite.expectations}
    assert "mars" in items["expect_column_values_to_be_in_set:region"].kwargs["value_set"]
    assert "another version of the declared schema" in caplog.text
    assert "expect_column_values_to_be_between:total_charges:observed" in items  # data-derived part kept
    assert [e.id for e in schema_expectations(changed.dataset, changed.validation.expectations)] == [
        e.id for e in suite.expectations if e.source == SCHEMA
    ]


def test_apply_overrides_without_a_file_changes_nothing(config: PipelineConfig, tmp_path: Path) -> None:
    suite = generate_suite(config, _summary(), "snap1")
    assert apply_overrides(suite, tmp_path / "missing.yaml") is suite


def test_range_allowance_holds_its_alarm_rate_whatever_the_distribution() -> None:
    """Distribution-free: a batch drawn like the reference exceeds the allowance at most alarm_rate of the time."""
    rng = np.random.default_rng(3)
    n, m, alarm, trials = 60, 40, 0.05, 4000
    allowed = range_allowance(n, m, alarm)
    for draw in (rng.standard_normal, rng.standard_cauchy, lambda size: rng.poisson(3.0, size).astype(float)):
        values = draw((trials, n + m))
        ref, new = values[:, :n], values[:, n:]
        outside = (new < ref.min(axis=1, keepdims=True)) | (new > ref.max(axis=1, keepdims=True))
        assert np.mean(outside.sum(axis=1) > allowed) <= alarm + 0.01
    # the tolerance shrinks as the reference grows, and a single new row is judged by chance too
    assert range_mostly(190, 190, 0.001) < range_mostly(1_000, 190, 0.001) < range_mostly(100_000, 190, 0.001)
    assert range_mostly(100_000, 20, 0.001) is None  # a big reference leaves no room: every value inside
    assert range_mostly(190, 1, 0.001) == 0.0 and range_mostly(5_000, 1, 0.001) is None
    # huge batches use a bound a little above the exact quantile, never below it
    from scipy import stats

    for n, m in ((190, 20_001), (20_000, 50_000)):
        exact = stats.betabinom(m, 2, n - 1).ppf(0.999)
        assert exact <= range_allowance(n, m, 0.001) <= 1.2 * exact + 10


def test_learned_ranges_are_bound_to_the_batch_size(config: PipelineConfig, tmp_path: Path) -> None:
    suite = generate_suite(config, _summary(), "snap1")
    key = "expect_column_values_to_be_between:total_charges:observed"
    for rows in (5, 100, 10_000):
        bound = {e.id: e for e in bind_to_batch(suite, rows).expectations}
        assert bound[key].kwargs.get("mostly") == range_mostly(100, rows, 0.001)
        declared = bound["expect_column_values_to_be_between:total_charges"]
        assert declared.source == SCHEMA and "mostly" not in declared.kwargs  # declared ranges are never loosened
    # a mostly set by hand in the overrides file is the user's, never rebound
    path = save_suite(suite, tmp_path / "churn.json")
    path.with_name("churn.overrides.yaml").write_text(f'change: {{"{key}": {{mostly: 1.0}}}}\n')
    location = suite_location(
        Settings(
            home=tmp_path, config_path=tmp_path / "pipeline.yaml", database_url="sqlite://", data_url=tmp_path.as_uri()
        ),
        config.model_copy(
            update={
                "validation": config.validation.model_copy(
                    update={
                        "expectations": config.validation.expectations.model_copy(update={"suite_dir": str(tmp_path)})
                    }
                )
            }
        ),
    )
    loaded = load_suite(location, config)
    assert loaded is not None
    assert {e.id: e for e in bind_to_batch(loaded, 20).expectations}[key].kwargs["mostly"] == 1.0


def test_a_suite_written_before_ranges_carried_a_rule_is_bound_too(config: PipelineConfig) -> None:
    from dataclasses import replace

    key = "expect_column_values_to_be_between:total_charges:observed"
    fresh = generate_suite(config, _summary(), "snap1")
    legacy = replace(
        fresh,
        expectations=tuple(
            replace(e, meta={}, kwargs={k: v for k, v in e.kwargs.items() if k != "mostly"})
            if e.id.endswith(":observed")
            else e
            for e in fresh.expectations
        ),
    )
    assert "mostly" not in {e.id: e for e in legacy.expectations}[key].kwargs
    bound = {e.id: e for e in bind_to_batch(legacy, 50, 0.001).expectations}
    assert bound[key].kwargs["mostly"] == range_mostly(100, 50, 0.001)  # the suite's 100 reference rows
    assert {e.id: e for e in bind_to_batch(legacy, 50).expectations}[key].kwargs == {
        e.id: e for e in legacy.expectations
    }[key].kwargs  # without an alarm rate nothing is guessed
