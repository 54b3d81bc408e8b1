"""Run an expectation suite on new data: our own vectorised checks, great-expectations for the rest.

The suite is great-expectations' (:mod:`pipeline.quality.suite`), and every expectation type
the generated suite uses is evaluated here with one vectorised pandas pass per expectation,
with great-expectations' semantics (nulls ignored by value checks, ``mostly``, inclusive bounds
unless ``strict_*``) and the same result fields (``element_count``, ``unexpected_count``,
``unexpected_percent``, ``partial_unexpected_list``, ``observed_value``), so Data Docs render
them as GX would. Expectation types without a check here (anything a user adds in the overrides
file) run through great-expectations itself, as does everything with
``expectations.engine: great_expectations``. A parity test holds both engines to the same
verdicts.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipeline.quality.suite import Expectation, Suite

log = logging.getLogger(__name__)

PARTIAL = 20
"""Unexpected values kept per expectation (as great-expectations' SUMMARY format does)."""
SAMPLE = 5
"""Unexpected values quoted in the stored summary and in messages."""
FAST, GX = "fast", "great_expectations"


@dataclass(frozen=True)
class ExpectationOutcome:
    """The verdict of one expectation on the new data."""

    expectation: str
    column: str | None
    success: bool
    unexpected_count: int | None
    unexpected_percent: float | None
    sample: list[Any]
    id: str = ""
    severity: str = "fail"
    kwargs: dict[str, Any] = field(default_factory=dict)
    observed: Any = None
    error: str | None = None
    engine: str = FAST
    result: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """great-expectations-shaped result fields (for Data Docs); not stored in the summary."""
    sampled_rows: int | None = None
    """Rows of a seeded sample the expectation was run on, when it could not see every row
    (a great-expectations check on a batch of several chunks); None: it saw every row."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of everything but the raw ``result`` (``sampled_rows`` only when sampled)."""
        d = {
            "id": self.id,
            "expectation": self.expectation,
            "column": self.column,
            "success": self.success,
            "severity": self.severity,
            "kwargs": _plain(self.kwargs),
            "unexpected_count": self.unexpected_count,
            "unexpected_percent": _plain(self.unexpected_percent),
            "sample": self.sample,
            "observed": _plain(self.observed),
            "error": self.error,
            "engine": self.engine,
        }
        if self.sampled_rows is not None:
            d["sampled_rows"] = self.sampled_rows
        return d

    def describe(self) -> str:
        """One line for people: what was expected and what was found."""
        where = f" on {self.column!r}" if self.column else ""
        if self.sampled_rows is not None:
            where += f" (a seeded sample of {self.sampled_rows} rows)"
        expected = _expected_text(self.kwargs)
        if self.error:
            return f"{self.expectation}{where} could not be checked: {self.error}"
        if self.unexpected_count:
            pct = f" ({self.unexpected_percent:.2f}%)" if self.unexpected_percent is not None else ""
            return (
                f"{self.expectation}{where}: {self.unexpected_count} unexpected{pct}, e.g. {self.sample[:3]}"
                f"{'; expected ' + expected if expected else ''}"
            )
        if self.observed is not None:
            return f"{self.expectation}{where}: observed {_plain(self.observed)!r}; expected {expected}"
        return f"{self.expectation}{where}"


def _expected_text(kwargs: dict[str, Any]) -> str:
    shown = {k: v for k, v in kwargs.items() if k not in ("column", "result_format", "catch_exceptions")}
    text = ", ".join(f"{k}={_plain(v)!r}" for k, v in shown.items())
    return text if len(text) <= 160 else text[:157] + "..."


def _plain(value: Any) -> Any:
    """JSON-safe Python value: numpy scalars unwrapped, nan and infinities to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (ValueError, AttributeError):
            return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value


# -- our checks: one function per expectation type ---------------------------------------------------

Check = Callable[[pd.DataFrame, dict[str, Any]], dict[str, Any]]


def _mostly_ok(good: int, total: int, mostly: float | None) -> bool:
    if total == 0:
        return True
    if mostly is None:
        return good == total
    return good / total >= float(mostly) - 1e-12


def _within(value: float, kw: dict[str, Any]) -> bool:
    lo, hi = kw.get("min_value"), kw.get("max_value")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    if lo is not None and (value <= lo if kw.get("strict_min") else value < lo):
        return False
    return not (hi is not None and (value >= hi if kw.get("strict_max") else value > hi))


def _unexpected_counts(values: pd.Series) -> list[dict[str, Any]]:
    counted = values.value_counts(dropna=False).head(PARTIAL)
    return [{"value": _plain(v), "count": int(n)} for v, n in counted.items()]


Predicate = Callable[[pd.Series], Any]


def unexpected_values(series: pd.Series, is_unexpected: Predicate) -> tuple[int, int, pd.Series]:
    """Rows, non-null rows and the unexpected non-null values of a per-value check, in row order."""
    present = series.notna().to_numpy()
    values = series[present]
    bad = np.asarray(is_unexpected(values), dtype=bool)
    return len(series), int(values.size), values[bad]


def value_map_result(
    n: int, nonnull: int, k: int, partial: list[Any], partial_counts: list[dict[str, Any]], kw: dict[str, Any]
) -> dict[str, Any]:
    """The verdict and GX-shaped result of a per-value check from its counts (one frame or merged chunks)."""
    pct = 100.0 * k / nonnull if nonnull else 0.0
    result = {
        "element_count": n,
        "unexpected_count": k,
        "unexpected_percent": pct,
        "partial_unexpected_list": partial,
        "missing_count": n - nonnull,
        "missing_percent": 100.0 * (n - nonnull) / n if n else 0.0,
        "unexpected_percent_total": 100.0 * k / n if n else 0.0,
        "unexpected_percent_nonmissing": pct,
        "partial_unexpected_counts": partial_counts,
    }
    return {"success": _mostly_ok(nonnull - k, nonnull, kw.get("mostly")), "result": result}


def _value_map(series: pd.Series, is_unexpected: Predicate, kw: dict[str, Any]) -> dict[str, Any]:
    """A per-value check in GX's sense: nulls are neither expected nor unexpected."""
    n, nonnull, unexpected = unexpected_values(series, is_unexpected)
    k = int(unexpected.size)
    partial = [_plain(v) for v in unexpected.iloc[:PARTIAL]]
    return value_map_result(n, nonnull, k, partial, _unexpected_counts(unexpected) if k else [], kw)


def _column(frame: pd.DataFrame, kw: dict[str, Any]) -> pd.Series:
    column = kw.get("column")
    if column not in frame.columns:
        raise _CheckError(f"column {column!r} is not in the data (columns are {list(frame.columns)})")
    return frame[column]


class _CheckError(Exception):
    """An expectation that cannot be evaluated on this data (reported as failed, with the reason)."""


def _numeric(series: pd.Series) -> pd.Series:
    if not (pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype)):
        raise _CheckError(f"column {series.name!r} holds {series.dtype} values, not numbers")
    return series


def _not_null(frame: pd.DataFrame, kw: dict[str, Any]) -> dict[str, Any]:
    series = _column(frame, kw)
    n = len(series)
    k = int(series.isna().sum())
    result = {
        "element_count": n,
        "unexpected_count": k,
        "unexpected_percent": 100.0 * k / n if n else 0.0,
        "partial_unexpected_list": [None] * min(k, PARTIAL),
        "partial_unexpected_counts": [{"value": None, "count": k}] if k else [],
    }
    return {"success": _mostly_ok(n - k, n, kw.get("mostly")), "result": result}


def _between_values(frame: pd.DataFrame, kw: dict[str, Any]) -> tuple[pd.Series, Predicate]:
    series = _numeric(_column(frame, kw))
    lo, hi = kw.get("min_value"), kw.get("max_value")

    def outside(values: pd.Series) -> np.ndarray:
        x = values.to_numpy(dtype=float)
        bad = np.zeros(x.size, dtype=bool)
        if lo is not None:
            bad |= x <= lo if kw.get("strict_min") else x < lo
        if hi is not None:
            bad |= x >= hi if kw.get("strict_max") else x > hi
        return bad

    return series, outside


def _in_set_values(frame: pd.DataFrame, kw: dict[str, Any]) -> tuple[pd.Series, Predicate]:
    allowed = list(kw.get("value_set") or [])
    return _column(frame, kw), lambda v: ~v.isin(allowed).to_numpy(dtype=bool)


def _not_in_set_values(frame: pd.DataFrame, kw: dict[str, Any]) -> tuple[pd.Series, Predicate]:
    banned = list(kw.get("value_set") or [])
    return _column(frame, kw), lambda v: v.isin(banned).to_numpy(dtype=bool)


ValueCheck = Callable[[pd.DataFrame, dict[str, Any]], tuple[pd.Series, Predicate]]

VALUE_CHECKS: dict[str, ValueCheck] = {
    "expect_column_values_to_be_between": _between_values,
    "expect_column_values_to_be_in_set": _in_set_values,
    "expect_column_values_to_not_be_in_set": _not_in_set_values,
}
"""Per-value expectation types: the column to check and the test of one value (nulls excluded)."""


def _value_check(select: ValueCheck) -> Check:
    def check(frame: pd.DataFrame, kw: dict[str, Any]) -> dict[str, Any]:
        return _value_map(*select(frame, kw), kw)

    return check


def _type_list(frame: pd.DataFrame, kw: dict[str, Any]) -> dict[str, Any]:
    series = _column(frame, kw)
    observed = str(series.dtype)
    allowed = {str(t) for t in kw.get("type_list") or []}
    return {
        "success": observed in allowed or series.dtype.type.__name__ in allowed,
        "result": {"observed_value": observed},
    }


def _row_count(frame: pd.DataFrame, kw: dict[str, Any]) -> dict[str, Any]:
    n = len(frame)
    return {"success": _within(n, kw), "result": {"observed_value": n}}


def _columns_match(frame: pd.DataFrame, kw: dict[str, Any]) -> dict[str, Any]:
    expected = [str(c) for c in kw.get("column_set") or []]
    observed = [str(c) for c in frame.columns]
    missing = sorted(set(expected) - set(observed))
    unexpected = sorted(set(observed) - set(expected))
    exact = kw.get("exact_match", True) is not False
    success = not missing and (not unexpected or not exact)
    result: dict[str, Any] = {"observed_value": sorted(observed)}  # sorted, as great-expectations reports it
    if missing or unexpected:
        result["details"] = {"mismatched": {"unexpected": unexpected, "missing": missing}}
    return {"success": success, "result": result}


def _column_exists(frame: pd.DataFrame, kw: dict[str, Any]) -> dict[str, Any]:
    return {"success": kw.get("column") in frame.columns, "result": {}}


def _aggregate(fn: Callable[[pd.Series], Any]) -> Check:
    def check(frame: pd.DataFrame, kw: dict[str, Any]) -> dict[str, Any]:
        series = _numeric(_column(frame, kw)).dropna()
        observed = _plain(fn(series)) if len(series) else None
        return {"success": observed is not None and _within(observed, kw), "result": {"observed_value": observed}}

    return check


FAST_CHECKS: dict[str, Check] = {
    "expect_table_row_count_to_be_between": _row_count,
    "expect_table_columns_to_match_set": _columns_match,
    "expect_column_to_exist": _column_exists,
    "expect_column_values_to_not_be_null": _not_null,
    "expect_column_values_to_be_between": _value_check(VALUE_CHECKS["expect_column_values_to_be_between"]),
    "expect_column_values_to_be_in_set": _value_check(VALUE_CHECKS["expect_column_values_to_be_in_set"]),
    "expect_column_values_to_not_be_in_set": _value_check(VALUE_CHECKS["expect_column_values_to_not_be_in_set"]),
    "expect_column_values_to_be_in_type_list": _type_list,
    "expect_column_min_to_be_between": _aggregate(lambda s: s.min()),
    "expect_column_max_to_be_between": _aggregate(lambda s: s.max()),
    "expect_column_mean_to_be_between": _aggregate(lambda s: s.mean()),
}
"""Expectation types evaluated without great-expectations."""


def _outcome(
    exp: Expectation, success: bool, result: dict[str, Any], error: str | None, engine: str
) -> ExpectationOutcome:
    partial = result.get("partial_unexpected_list") or []
    return ExpectationOutcome(
        expectation=exp.type,
        column=exp.column,
        success=bool(success) and error is None,
        unexpected_count=result.get("unexpected_count"),
        unexpected_percent=_plain(result.get("unexpected_percent")),
        sample=[_plain(v) for v in partial[:SAMPLE]],
        id=exp.id,
        severity=exp.severity,
        kwargs=dict(exp.kwargs),
        observed=_plain(result.get("observed_value")),
        error=error,
        engine=engine,
        result=result,
    )


def _run_fast(frame: pd.DataFrame, exp: Expectation) -> ExpectationOutcome:
    try:
        found = FAST_CHECKS[exp.type](frame, exp.kwargs)
    except _CheckError as err:
        return _outcome(exp, False, {}, str(err), FAST)
    return _outcome(exp, found["success"], found["result"], None, FAST)


def _gx_error(exception_info: Any) -> str | None:
    """The exception message of a GX result, if it raised (GX nests it in two shapes)."""
    if not isinstance(exception_info, dict):
        return None
    infos = [exception_info] if "raised_exception" in exception_info else list(exception_info.values())
    for info in infos:
        if isinstance(info, dict) and info.get("raised_exception"):
            return str(info.get("exception_message") or "great-expectations raised an exception")
    return None


def _run_gx(frame: pd.DataFrame, suite: Suite, items: Sequence[Expectation]) -> list[ExpectationOutcome]:
    """Evaluate ``items`` with great-expectations on an ephemeral context."""
    from pipeline.quality.gx_support import (
        import_gx,
        quiet_context,
        silenced,
        to_gx_suite,
    )

    gx = import_gx()
    context = quiet_context(gx.get_context(mode="ephemeral"))
    batch = (
        context.data_sources.add_pandas("ct")
        .add_dataframe_asset("new_data")
        .add_batch_definition_whole_dataframe("new_parts")
    )
    with silenced():
        result = batch.get_batch(batch_parameters={"dataframe": frame}).validate(
            to_gx_suite(suite, items), result_format="SUMMARY"
        )
    by_id = {e.id: e for e in items}
    outcomes = []
    for r in result.results:
        exp = by_id[r.expectation_config.meta["ct_id"]]
        outcomes.append(_outcome(exp, bool(r.success), dict(r.result or {}), _gx_error(r.exception_info), GX))
    return outcomes


def _datetimes_as_seconds(frame: pd.DataFrame) -> pd.DataFrame:
    """Datetime columns as float epoch seconds (NaT as NaN), so ranges on them are numeric ranges."""
    dates = [c for c in frame.columns if pd.api.types.is_datetime64_any_dtype(frame[c].dtype)]
    if not dates:
        return frame
    frame = frame.copy()
    for c in dates:
        values = frame[c] if frame[c].dt.tz is not None else frame[c].dt.tz_localize("UTC")
        seconds = (values - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
        frame[c] = seconds.astype("float64")
    return frame


def evaluate_suite(frame: pd.DataFrame, suite: Suite, engine: str = FAST) -> list[ExpectationOutcome]:
    """Every expectation of ``suite`` on ``frame``, in suite order.

    ``engine="fast"`` uses :data:`FAST_CHECKS` and hands only the remaining types to
    great-expectations (imported only then); ``engine="great_expectations"`` runs all of them
    through great-expectations.
    """
    if engine not in (FAST, GX):
        raise ValueError(f"unknown expectation engine {engine!r}; use {FAST!r} or {GX!r}")
    frame = _datetimes_as_seconds(frame)
    by_gx = [e for e in suite.expectations if engine == GX or e.type not in FAST_CHECKS]
    found: dict[str, ExpectationOutcome] = {}
    if by_gx:
        if engine == FAST:
            log.info(
                "expectation types without a fast check run through great-expectations: %s",
                sorted({e.type for e in by_gx}),
            )
        found.update({o.id: o for o in _run_gx(frame, suite, by_gx)})
    for exp in suite.expectations:
        if exp.id not in found:
            found[exp.id] = _run_fast(frame, exp)
    return [found[e.id] for e in suite.expectations]
