"""Unit tests for pipeline.core.config: loading, validation messages, hashing, spec lookup."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from pipeline.core.config import PipelineConfig, dump_config, load_config, parse_config
from pipeline.core.errors import ConfigError
from pipeline.core.settings import BUNDLED_CONFIG


@pytest.fixture
def raw() -> dict:
    """The bundled config as a plain mapping, to be broken one key at a time."""
    return yaml.safe_load(BUNDLED_CONFIG.read_text(encoding="utf-8"))


def _error(data: dict, source: str = "pipeline.yaml") -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data, source)
    return str(info.value)


# -- the bundled config -----------------------------------------------------------------------------
def test_bundled_config_loads_with_declared_values(config: PipelineConfig) -> None:
    assert config.dataset.name == "churn"
    assert config.dataset.label == "churned"
    assert config.dataset.classes == ("no", "yes")
    assert config.dataset.positive_class == "yes"
    assert config.dataset.id_columns == ("customer_id",)
    assert config.dataset.numeric_names[0] == "tenure_months"
    assert "contract" in config.dataset.categorical_names
    # the storage column order: ids, numeric, categorical, label
    cols = config.dataset.columns
    assert cols[0] == "customer_id" and cols[-1] == "churned"
    assert cols[1:-1] == config.dataset.numeric_names + config.dataset.categorical_names
    assert config.model.spec in config.model.specs
    assert config.promotion.primary_metric == "roc_auc"


def test_config_is_frozen(config: PipelineConfig) -> None:
    with pytest.raises(ValidationError, match="frozen"):
        config.evaluation.folds = 3  # type: ignore[misc]


def test_dump_config_round_trips(config: PipelineConfig) -> None:
    again = parse_config(yaml.safe_load(dump_config(config)))
    assert again == config
    assert again.content_hash() == config.content_hash()


# -- bad values name their key and value ------------------------------------------------------------
def test_holdout_fraction_out_of_range_names_key_and_value(raw: dict) -> None:
    raw["evaluation"]["holdout_fraction"] = 2
    msg = _error(raw)
    assert "evaluation.holdout_fraction" in msg
    assert "(got 2)" in msg
    assert "pipeline.yaml" in msg


def test_unknown_estimator_names_key_and_value(raw: dict) -> None:
    raw["model"]["specs"]["default"]["estimator"] = "xgboost"
    msg = _error(raw)
    assert "model.specs.default.estimator" in msg
    assert "xgboost" in msg
    assert "logistic_regression" in msg  # what was expected


def test_positive_class_not_in_classes(raw: dict) -> None:
    raw["dataset"]["positive_class"] = "maybe"
    msg = _error(raw)
    assert "dataset" in msg and "positive_class" in msg
    assert "'maybe'" in msg
    assert "['no', 'yes']" in msg


def test_expected_shares_naming_unknown_class(raw: dict) -> None:
    raw["validation"]["label_contract"]["expected_shares"] = {"no": 0.5, "maybe": 0.5}
    msg = _error(raw)
    assert "validation.label_contract.expected_shares" in msg
    assert "maybe" in msg


def test_expected_shares_not_summing_to_one(raw: dict) -> None:
    raw["validation"]["label_contract"]["expected_shares"] = {"no": 0.5, "yes": 0.6}
    msg = _error(raw)
    assert "validation.label_contract.expected_shares" in msg
    assert "sum to 1" in msg


def test_unknown_primary_metric(raw: dict) -> None:
    raw["promotion"]["primary_metric"] = "auc"
    msg = _error(raw)
    assert "promotion" in msg
    assert "'auc'" in msg
    assert "roc_auc" in msg  # the list of known metrics


def test_unknown_floor_metric_names_its_key_path(raw: dict) -> None:
    raw["promotion"]["floors"] = {"auc": 0.6}
    msg = _error(raw)
    assert "promotion.floors" in msg
    assert "'auc'" in msg


def test_unknown_default_spec_lists_declared_specs(raw: dict) -> None:
    raw["model"]["spec"] = "nope"
    msg = _error(raw)
    assert "model" in msg and "'nope'" in msg
    assert "default" in msg and "gradient_boosting" in msg


def test_unknown_key_is_rejected(raw: dict) -> None:
    raw["evaluation"]["foldz"] = 3
    msg = _error(raw)
    assert "evaluation.foldz" in msg


def test_every_error_is_listed(raw: dict) -> None:
    raw["evaluation"]["holdout_fraction"] = 2
    raw["evaluation"]["folds"] = 1
    msg = _error(raw)
    assert "evaluation.holdout_fraction" in msg
    assert "evaluation.folds" in msg


def test_non_mapping_top_level(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected a mapping"):
        parse_config(["a", "b"], "list.yaml")
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(path)


# -- files ------------------------------------------------------------------------------------------
def test_missing_file_gives_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "pipeline.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    msg = str(info.value)
    assert str(path) in msg
    assert "does not exist" in msg
    assert "ct init" in msg


def test_invalid_yaml_gives_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text("dataset: [unclosed\n  name: x\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "not valid YAML" in str(info.value)
    assert str(path) in str(info.value)


def test_load_config_from_written_file(tmp_path: Path, raw: dict) -> None:
    raw["evaluation"]["folds"] = 3
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    assert load_config(path).evaluation.folds == 3


def test_bad_value_in_file_names_file(tmp_path: Path, raw: dict) -> None:
    raw["evaluation"]["holdout_fraction"] = 2
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert "evaluation.holdout_fraction" in str(info.value)


# -- content hash -----------------------------------------------------------------------------------
def test_content_hash_is_stable(raw: dict) -> None:
    a = parse_config(copy.deepcopy(raw))
    b = load_config(BUNDLED_CONFIG)
    assert a.content_hash() == b.content_hash() == a.content_hash()
    assert len(a.content_hash()) == 16


def test_content_hash_ignores_key_order(raw: dict) -> None:
    reordered = {k: raw[k] for k in reversed(list(raw))}
    assert parse_config(reordered).content_hash() == parse_config(raw).content_hash()


def test_content_hash_changes_with_a_value(raw: dict) -> None:
    base = parse_config(copy.deepcopy(raw)).content_hash()
    raw["model"]["specs"]["default"]["params"]["C"] = 0.5
    assert parse_config(raw).content_hash() != base


def test_content_hash_changes_with_model_copy(config: PipelineConfig) -> None:
    changed = config.model_copy(update={"evaluation": config.evaluation.model_copy(update={"seed": 7})})
    assert changed.content_hash() != config.content_hash()


# -- model specs ------------------------------------------------------------------------------------
def test_model_spec_default_and_named(config: PipelineConfig) -> None:
    assert config.model_spec().estimator == "logistic_regression"
    assert config.model_spec("gradient_boosting").estimator == "gradient_boosting"


def test_model_spec_unknown_lists_declared(config: PipelineConfig) -> None:
    with pytest.raises(ConfigError) as info:
        config.model_spec("nope")
    msg = str(info.value)
    assert "'nope'" in msg
    assert "['default', 'gradient_boosting']" in msg


def test_model_identity_hash_ignores_policy_but_lineage_hash_does_not() -> None:
    """Changing a validation or promotion setting must not make a trained snapshot 'untrained'."""
    from pipeline.core.config import load_config
    from pipeline.core.settings import BUNDLED_CONFIG

    base = load_config(BUNDLED_CONFIG)
    policy = base.model_copy(update={"promotion": base.promotion.model_copy(update={"margin": 0.2})})
    assert policy.content_hash() == base.content_hash()
    assert policy.full_hash() != base.full_hash()
    model = base.model_copy(update={"evaluation": base.evaluation.model_copy(update={"seed": 7})})
    assert model.content_hash() != base.content_hash()
