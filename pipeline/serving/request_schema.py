"""What a ``POST /predict`` body must hold, checked field by field before any model sees it.

The body is one JSON object (a row) or an array of objects (a batch). Each row needs the dataset's
id columns (when declared) and the model's input columns, typed as the served version's feature
schema records them: numbers as JSON numbers, categoricals as strings (one of the declared levels
for one-hot features), datetimes as ISO 8601 strings; ``null`` only where the feature is nullable.
Every problem becomes one :class:`FieldError` (``loc``/``msg``/``type`` like FastAPI's 422 bodies),
so a caller fixes all of them at once and bad input is never a 500. Fields the schema does not
know are ignored (``/metadata`` says so).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import pandas as pd

from pipeline.core.config import DatasetConfig
from pipeline.core.errors import CTError
from pipeline.modeling.training import model_input_columns

ColumnKind = Literal["id", "number", "category", "datetime"]


class InvalidRequest(CTError):
    """A prediction request that does not match the schema; ``errors`` names each bad field."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors = tuple(errors)
        first = "; ".join(e.describe() for e in self.errors[:3])
        more = f" (and {len(self.errors) - 3} more)" if len(self.errors) > 3 else ""
        super().__init__(f"{len(self.errors)} invalid field(s): {first}{more}")


@dataclass(frozen=True)
class FieldError:
    """One problem with one field of one row (``row`` None: the body itself)."""

    row: int | None
    field: str | None
    msg: str
    type: str

    @property
    def loc(self) -> list[str | int]:
        loc: list[str | int] = ["body"]
        if self.row is not None:
            loc.append(self.row)
        if self.field is not None:
            loc.append(self.field)
        return loc

    def to_dict(self) -> dict[str, Any]:
        return {"loc": self.loc, "msg": self.msg, "type": self.type}

    def describe(self) -> str:
        where = ".".join(str(p) for p in self.loc)
        return f"{where}: {self.msg}"


@dataclass(frozen=True)
class ColumnRule:
    """How one request field is checked."""

    name: str
    kind: ColumnKind
    nullable: bool
    levels: frozenset[str] | None = None
    """Allowed values of a one-hot categorical; None: any string."""
    date_format: str | None = None

    def expected(self) -> str:
        if self.kind == "id":
            return "a string or integer identifier"
        if self.kind == "number":
            return "a number"
        if self.kind == "datetime":
            return f"a date or timestamp string ({self.date_format or 'ISO 8601, e.g. 2024-01-31T12:00:00Z'})"
        if self.levels is not None:
            return f"one of {sorted(self.levels)}"
        return "a string"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.kind,
            "nullable": self.nullable,
            "levels": sorted(self.levels) if self.levels is not None else None,
        }


_ARROW_KINDS: dict[str, ColumnKind] = {"double": "number", "float": "number", "string": "category"}


@dataclass(frozen=True)
class RequestSchema:
    """The fields a request row needs, in the order the prediction log stores them."""

    id_columns: tuple[str, ...]
    rules: tuple[ColumnRule, ...]
    input_columns: tuple[str, ...]
    """The columns the model reads (``model_input_columns``), in its order."""

    @property
    def feature_columns(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.rules if r.kind != "id")

    def to_dict(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.rules]


def build_request_schema(dataset: DatasetConfig) -> RequestSchema:
    """The request fields of ``dataset``: its id columns, then the columns the model reads."""
    numeric = {f.name: f for f in dataset.features.numeric}
    categorical = {f.name: f for f in dataset.features.categorical}
    dates = {f.name: f for f in dataset.features.datetime}
    rules = [ColumnRule(c, "id", nullable=False) for c in dataset.id_columns]
    for name in model_input_columns(dataset):
        if name in dataset.id_columns:
            continue
        if name in numeric:
            rules.append(ColumnRule(name, "number", numeric[name].nullable))
        elif name in categorical:
            cat = categorical[name]
            levels = frozenset(cat.levels) if cat.encoding == "onehot" and cat.levels else None
            rules.append(ColumnRule(name, "category", cat.nullable, levels))
        elif name in dates:
            rules.append(ColumnRule(name, "datetime", dates[name].nullable, date_format=dates[name].format))
    return RequestSchema(tuple(dataset.id_columns), tuple(rules), tuple(model_input_columns(dataset)))


def schema_problems(schema: RequestSchema, feature_schema: Sequence[Sequence[str]] | None) -> list[str]:
    """Where a version's recorded feature schema disagrees with the request schema (empty: it can be
    served under this config). None (a version recorded before schemas were) is taken on trust."""
    if feature_schema is None:
        return []
    recorded = {str(c[0]): str(c[1]) for c in feature_schema}
    problems = []
    for rule in schema.rules:
        kind = recorded.get(rule.name)
        if kind is None:
            problems.append(f"{rule.name!r} is not in the version's feature schema")
        elif rule.kind in ("number", "category"):
            if _ARROW_KINDS.get(kind, "") != rule.kind:
                problems.append(f"{rule.name!r} is {rule.kind} in the config but {kind} in the version's schema")
        elif rule.kind == "datetime" and not kind.startswith("timestamp"):
            problems.append(f"{rule.name!r} is a datetime in the config but {kind} in the version's schema")
    return problems


def example_record(schema: RequestSchema, dataset: DatasetConfig) -> dict[str, Any]:
    """A valid request row (ids ``example``, numbers within the declared range, first levels)."""
    numeric = {f.name: f for f in dataset.features.numeric}
    categorical = {f.name: f for f in dataset.features.categorical}
    row: dict[str, Any] = {}
    for rule in schema.rules:
        if rule.kind == "id":
            row[rule.name] = "example-1"
        elif rule.kind == "number":
            f = numeric[rule.name]
            low = f.min if f.min is not None else 0.0
            row[rule.name] = float((low + f.max) / 2 if f.max is not None else low + 1.0)
        elif rule.kind == "category":
            levels = categorical[rule.name].levels
            row[rule.name] = levels[0] if levels else "example"
        else:
            row[rule.name] = "2024-01-31T12:00:00Z"
    return row


@dataclass(frozen=True)
class ValidRows:
    """The checked rows of a request: the values column by column (ids as strings, missing numbers
    as NaN, datetimes as UTC ``datetime``) and, built when first asked for, the frame scikit-learn
    scores (the model's input columns only; the NumPy fast path never needs it)."""

    values: dict[str, list[Any]]
    schema: RequestSchema
    rows: int

    @property
    def ids(self) -> dict[str, list[str]]:
        return {c: self.values[c] for c in self.schema.id_columns}

    @functools.cached_property
    def frame(self) -> pd.DataFrame:
        kinds = {r.name: r.kind for r in self.schema.rules}
        return pd.DataFrame({c: _model_column(kinds[c], self.values[c]) for c in self.schema.input_columns})

    def __len__(self) -> int:
        return self.rows


def as_rows(body: Any) -> list[Any]:
    """The rows of a request body (an object is one row), or :class:`InvalidRequest`."""
    if isinstance(body, Mapping):
        return [body]
    if isinstance(body, list):
        if not body:
            raise InvalidRequest(
                [FieldError(None, None, "the batch is empty; send at least one row object", "too_short")]
            )
        return body
    raise InvalidRequest(
        [FieldError(None, None, "expected a JSON object (one row) or an array of objects (a batch)", "model_type")]
    )


def _check(rule: ColumnRule, value: Any, row: int) -> tuple[Any, FieldError | None]:
    """The value as the model reads it, or the reason it is refused."""
    if value is None:
        if rule.nullable:
            return (math.nan if rule.kind == "number" else None), None
        return None, FieldError(row, rule.name, f"must not be null: expected {rule.expected()}", "null_not_allowed")
    if rule.kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None, FieldError(row, rule.name, f"expected a number, got {_shown(value)}", "float_type")
        number = float(value)
        if not math.isfinite(number):
            return None, FieldError(row, rule.name, "expected a finite number", "finite_number")
        return number, None
    if rule.kind == "id":
        if isinstance(value, bool) or not isinstance(value, str | int):
            return None, FieldError(row, rule.name, f"expected {rule.expected()}, got {_shown(value)}", "string_type")
        text = str(value).strip()
        if not text:
            return None, FieldError(row, rule.name, "the identifier is empty", "string_too_short")
        return text, None
    if not isinstance(value, str):
        return None, FieldError(row, rule.name, f"expected {rule.expected()}, got {_shown(value)}", "string_type")
    if rule.kind == "category":
        if rule.levels is not None and value not in rule.levels:
            return None, FieldError(
                row, rule.name, f"unknown level {value[:60]!r}: expected one of {sorted(rule.levels)}", "enum"
            )
        return value, None
    try:
        stamp = (
            datetime.strptime(value, rule.date_format)
            if rule.date_format
            else datetime.fromisoformat(value.replace("Z", "+00:00"))
        )
    except ValueError:
        return None, FieldError(row, rule.name, f"{value[:60]!r} is not {rule.expected()}", "datetime_parsing")
    return (stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)), None


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    return f"{type(value).__name__} {str(value)[:40]!r}"


def _model_column(kind: ColumnKind, values: list[Any]) -> Any:
    """One column as the fitted pipeline reads it (what ``feature_frame`` makes of a snapshot column)."""
    if kind == "number":
        return np.asarray(values, dtype=np.float64)
    if kind == "datetime":
        return pd.to_datetime(values, utc=True)
    # object dtype, as feature_frame gives the encoders (not pandas' inferred string dtype)
    return pd.Series([np.nan if v is None else v for v in values], dtype=object)


def validate_rows(rows: Sequence[Any], schema: RequestSchema) -> ValidRows:
    """Check every field of every row; all problems at once as :class:`InvalidRequest`."""
    errors: list[FieldError] = []
    columns: dict[str, list[Any]] = {r.name: [] for r in schema.rules}
    for i, record in enumerate(rows):
        if not isinstance(record, Mapping):
            errors.append(FieldError(i, None, f"expected a row object, got {_shown(record)}", "model_type"))
            continue
        for rule in schema.rules:
            if rule.name not in record:
                errors.append(FieldError(i, rule.name, f"field required: {rule.expected()}", "missing"))
                continue
            value, error = _check(rule, record[rule.name], i)
            if error is not None:
                errors.append(error)
            else:
                columns[rule.name].append(value)
    if errors:
        raise InvalidRequest(errors)
    return ValidRows(values=columns, schema=schema, rows=len(rows))
