"""Request rows are checked field by field against the dataset's schema: every problem is one
FastAPI-style message (loc, msg, type), and a valid row becomes the frame the model reads."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from pipeline.core.config import PipelineConfig
from pipeline.modeling.training import feature_frame
from pipeline.serving.request_schema import (
    InvalidRequest,
    RequestSchema,
    as_rows,
    build_request_schema,
    example_record,
    schema_problems,
    validate_rows,
)


@pytest.fixture
def schema(config: PipelineConfig) -> RequestSchema:
    return build_request_schema(config.dataset)


@pytest.fixture
def row(schema: RequestSchema, config: PipelineConfig) -> dict:
    return example_record(schema, config.dataset)


def errors_of(rows: list, schema: RequestSchema) -> list[dict]:
    with pytest.raises(InvalidRequest) as caught:
        validate_rows(rows, schema)
    return [e.to_dict() for e in caught.value.errors]


def test_the_example_row_is_valid_and_becomes_the_models_input(schema, row, config):
    valid = validate_rows([row, {**row, "customer_id": 17}], schema)
    assert list(valid.frame.columns) == config.dataset.feature_names
    assert valid.ids == {"customer_id": ["example-1", "17"]}
    # the same frame feature_frame makes of a snapshot's rows
    expected = feature_frame(pd.DataFrame([row, row]), config.dataset)
    pd.testing.assert_frame_equal(valid.frame, expected, check_dtype=False)


def test_each_kind_of_error_is_one_message_naming_row_and_field(schema, row):
    bad = {**row, "tenure_months": "12", "contract": "weekly", "region": 3}
    del bad["plan"]
    rows = [row, bad, {**row, "customer_id": None, "monthly_charges": float("inf")}]
    errors = errors_of(rows, schema)
    by_loc = {tuple(e["loc"]): e for e in errors}
    assert set(by_loc) == {
        ("body", 1, "tenure_months"),
        ("body", 1, "contract"),
        ("body", 1, "region"),
        ("body", 1, "plan"),
        ("body", 2, "customer_id"),
        ("body", 2, "monthly_charges"),
    }
    assert by_loc[("body", 1, "tenure_months")]["type"] == "float_type"
    assert by_loc[("body", 1, "contract")]["type"] == "enum"
    assert "month-to-month" in by_loc[("body", 1, "contract")]["msg"]
    assert by_loc[("body", 1, "region")]["type"] == "string_type"
    assert by_loc[("body", 1, "plan")]["type"] == "missing"
    assert by_loc[("body", 2, "customer_id")]["type"] == "null_not_allowed"
    assert by_loc[("body", 2, "monthly_charges")]["type"] == "finite_number"


def test_null_is_refused_only_where_the_feature_is_not_nullable(schema, row):
    errors = errors_of([{**row, "tenure_months": None, "contract": None}], schema)
    assert {tuple(e["loc"]) for e in errors} == {("body", 0, "tenure_months"), ("body", 0, "contract")}
    valid = validate_rows([{**row, "age": None, "region": None}], schema)
    assert math.isnan(valid.frame["age"].iloc[0])
    assert pd.isna(valid.frame["region"].iloc[0])


def test_booleans_are_not_numbers_and_unknown_fields_are_ignored(schema, row):
    errors = errors_of([{**row, "age": True}], schema)
    assert errors[0]["loc"] == ["body", 0, "age"]
    valid = validate_rows([{**row, "favourite_colour": "green"}], schema)
    assert "favourite_colour" not in valid.frame.columns


def test_the_body_is_a_row_or_a_non_empty_array_of_row_objects(schema, row):
    assert as_rows(row) == [row]
    for body in ([], "text", 3, None):
        with pytest.raises(InvalidRequest) as caught:
            as_rows(body)
        assert caught.value.errors[0].to_dict()["loc"] == ["body"]
    errors = errors_of([row, [1, 2]], schema)
    assert errors == [{"loc": ["body", 1], "msg": "expected a row object, got an array", "type": "model_type"}]


def test_datetime_features_take_iso_strings_as_utc(config):
    data = config.model_dump()
    data["dataset"]["features"]["datetime"] = [{"name": "signed_up", "derive": ["year", "month"]}]
    dataset = PipelineConfig.model_validate({**data, "model": config.model.model_dump()}).dataset
    schema = build_request_schema(dataset)
    row = example_record(schema, dataset)
    rows = [{**row, "signed_up": "2024-03-01T10:00:00+02:00"}, {**row, "signed_up": "2024-03-02"}]
    valid = validate_rows(rows, schema)
    assert list(valid.frame["signed_up"].dt.hour) == [8, 0]
    assert str(valid.frame["signed_up"].dt.tz) == "UTC"
    errors = errors_of([{**row, "signed_up": "yesterday"}], schema)
    assert errors[0]["type"] == "datetime_parsing"


def test_a_version_recorded_under_another_schema_is_named_with_the_difference(schema):
    assert schema_problems(schema, None) == []
    recorded = [[r.name, "double" if r.kind == "number" else "string"] for r in schema.rules]
    assert schema_problems(schema, recorded) == []
    changed = [[n, "string" if n == "age" else t] for n, t in recorded if n != "plan"]
    problems = schema_problems(schema, changed)
    assert any("'plan'" in p for p in problems) and any("'age'" in p for p in problems)
