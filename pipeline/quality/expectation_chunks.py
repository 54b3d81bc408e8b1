"""Run an expectation suite over a batch that arrives in chunks, and merge the verdicts.

Validating millions of new rows must not build one frame of them (plus the copies a check makes),
so :class:`SuiteAccumulator` sees the batch a chunk at a time and keeps only what each expectation
needs: row-level checks (not null, between, in set, not in set) add their counts, keep the first
:data:`~pipeline.quality.expectations.PARTIAL` unexpected values in row order and count at most
:data:`MAX_COUNTED_VALUES` distinct unexpected values; aggregates keep count, sum, minimum and
maximum; schema checks (columns, types) read the columns and types of each chunk. The merged outcome equals what
:func:`~pipeline.quality.expectations.evaluate_suite` finds on the whole frame (the mean up to
floating-point rounding). Expectations that only great-expectations can run cannot be merged in
general (uniqueness, medians, ...), so they run once on a seeded sample of at most ``sample_rows``
rows drawn from every chunk in proportion, and their outcome says so (``sampled_rows``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from pipeline.quality.expectations import (
    FAST,
    FAST_CHECKS,
    GX,
    PARTIAL,
    VALUE_CHECKS,
    ExpectationOutcome,
    _CheckError,
    _column,
    _datetimes_as_seconds,
    _mostly_ok,
    _numeric,
    _outcome,
    _plain,
    _run_fast,
    _run_gx,
    _within,
    unexpected_values,
    value_map_result,
)
from pipeline.quality.suite import Expectation, Suite

MAX_COUNTED_VALUES = 10_000
"""Distinct unexpected values counted per expectation (for Data Docs' "partial unexpected counts");
values first seen after that many are still counted as unexpected, just not listed by value."""

SCHEMA_TYPES = frozenset(
    {
        "expect_table_columns_to_match_set",
        "expect_column_to_exist",
        "expect_column_values_to_be_in_type_list",
    }
)
"""Expectation types decided by the columns and their types alone (no rows needed)."""

AGGREGATES = {
    "expect_column_min_to_be_between": "min",
    "expect_column_max_to_be_between": "max",
    "expect_column_mean_to_be_between": "mean",
}

_SAMPLE_SEED = 20_251_204


@dataclass
class _Tally:
    """The running state of one expectation over the chunks seen so far."""

    error: str | None = None
    rows: int = 0
    nonnull: int = 0
    unexpected: int = 0
    partial: list[Any] = field(default_factory=list)
    counts: dict[Any, int] = field(default_factory=dict)
    total: float = 0.0
    low: Any = None
    high: Any = None


@dataclass
class SuiteAccumulator:
    """Evaluates ``suite`` over chunks of one batch of ``total_rows`` rows (see the module doc).

    ``sample_rows`` bounds the sample given to great-expectations; ``engine`` is
    ``expectations.engine`` (``great_expectations`` sends every expectation there).
    """

    suite: Suite
    total_rows: int
    sample_rows: int
    engine: str = FAST
    chunks: int = 0
    sampled: int = 0
    """Rows of the sample great-expectations ran on (0: it ran on none, or on every row)."""
    _tallies: dict[str, _Tally] = field(default_factory=dict)
    _heads: list[pd.DataFrame] = field(default_factory=list)
    _samples: list[pd.DataFrame] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.engine not in (FAST, GX):
            raise ValueError(f"unknown expectation engine {self.engine!r}; use {FAST!r} or {GX!r}")
        self._by_gx = [e for e in self.suite.expectations if self.engine == GX or e.type not in FAST_CHECKS]
        gx_ids = {e.id for e in self._by_gx}
        self._tallies = {e.id: _Tally() for e in self.suite.expectations if e.id not in gx_ids}

    def add(self, chunk: pd.DataFrame) -> None:
        """Check one chunk of the batch and fold the findings into the running tallies."""
        chunk = _datetimes_as_seconds(chunk)
        self._heads.append(_empty_like(chunk))
        if self._by_gx:
            self._samples.append(self._share(chunk))
        for exp in self.suite.expectations:
            tally = self._tallies.get(exp.id)
            if tally is None or tally.error is not None or exp.type in SCHEMA_TYPES:
                continue
            try:
                _fold(tally, exp, chunk)
            except _CheckError as err:
                tally.error = str(err)
        self.chunks += 1

    def _share(self, chunk: pd.DataFrame) -> pd.DataFrame:
        """This chunk's seeded share of the great-expectations sample, in row order."""
        quota = math.ceil(self.sample_rows * len(chunk) / max(self.total_rows, 1))
        if quota >= len(chunk):
            return chunk.copy()
        rng = np.random.default_rng(_SAMPLE_SEED + self.chunks)
        return chunk.iloc[np.sort(rng.choice(len(chunk), quota, replace=False))].copy()

    def outcomes(self) -> list[ExpectationOutcome]:
        """Every expectation's merged outcome, in suite order."""
        found: dict[str, ExpectationOutcome] = {}
        if self._by_gx:
            sample = pd.concat(self._samples, ignore_index=True)
            self.sampled = len(sample) if len(sample) < self.total_rows else 0
            for o in _run_gx(sample, self.suite, self._by_gx):
                found[o.id] = replace(o, sampled_rows=self.sampled) if self.sampled else o
        schema = pd.concat(self._heads, ignore_index=True) if self._heads else pd.DataFrame()
        for exp in self.suite.expectations:
            if exp.id in found:
                continue
            if exp.type in SCHEMA_TYPES:
                found[exp.id] = _run_fast(schema, exp)
            else:
                found[exp.id] = _merged(exp, self._tallies[exp.id])
        return [found[e.id] for e in self.suite.expectations]


def _empty_like(frame: pd.DataFrame) -> pd.DataFrame:
    """No rows, the same columns and types: what the schema checks read. Not a slice, which (for
    Arrow-backed strings even after ``copy()``) would keep the whole chunk's buffers alive."""
    return pd.DataFrame({c: pd.Series([], dtype=frame[c].dtype, name=c) for c in frame.columns}, columns=frame.columns)


def _fold(tally: _Tally, exp: Expectation, chunk: pd.DataFrame) -> None:
    """Add one chunk's findings for ``exp`` to its tally (raises _CheckError as the check would)."""
    kw = exp.kwargs
    if exp.type == "expect_table_row_count_to_be_between":
        tally.rows += len(chunk)
    elif exp.type == "expect_column_values_to_not_be_null":
        series = _column(chunk, kw)
        tally.rows += len(series)
        tally.unexpected += int(series.isna().sum())
    elif exp.type in VALUE_CHECKS:
        n, nonnull, bad = unexpected_values(*VALUE_CHECKS[exp.type](chunk, kw))
        tally.rows += n
        tally.nonnull += nonnull
        tally.unexpected += int(bad.size)
        if len(tally.partial) < PARTIAL:
            tally.partial.extend(_plain(v) for v in bad.iloc[: PARTIAL - len(tally.partial)])
        # first-seen order across chunks, so the stable sort by count breaks ties as on the whole frame
        for value, n_value in bad.value_counts(dropna=False, sort=False).items():
            if value in tally.counts or len(tally.counts) < MAX_COUNTED_VALUES:
                tally.counts[value] = tally.counts.get(value, 0) + int(n_value)
    elif exp.type in AGGREGATES:
        values = _numeric(_column(chunk, kw)).dropna()
        if len(values):
            tally.nonnull += len(values)
            tally.total += float(values.sum())
            low, high = _plain(values.min()), _plain(values.max())
            tally.low = low if tally.low is None else min(tally.low, low)
            tally.high = high if tally.high is None else max(tally.high, high)
    else:  # a fast type this module does not know how to merge: a programming error, not bad data
        raise NotImplementedError(f"no chunk merge for expectation type {exp.type!r}")


def _merged(exp: Expectation, tally: _Tally) -> ExpectationOutcome:
    """The outcome of ``exp`` over every chunk, shaped as :func:`_run_fast` shapes one frame's."""
    if tally.error is not None:
        return _outcome(exp, False, {}, tally.error, FAST)
    kw = exp.kwargs
    if exp.type == "expect_table_row_count_to_be_between":
        return _outcome(exp, _within(tally.rows, kw), {"observed_value": tally.rows}, None, FAST)
    if exp.type == "expect_column_values_to_not_be_null":
        n, k = tally.rows, tally.unexpected
        result = {
            "element_count": n,
            "unexpected_count": k,
            "unexpected_percent": 100.0 * k / n if n else 0.0,
            "partial_unexpected_list": [None] * min(k, PARTIAL),
            "partial_unexpected_counts": [{"value": None, "count": k}] if k else [],
        }
        return _outcome(exp, _mostly_ok(n - k, n, kw.get("mostly")), result, None, FAST)
    if exp.type in VALUE_CHECKS:
        ranked = sorted(tally.counts.items(), key=lambda item: -item[1])[:PARTIAL]  # stable: ties keep first-seen
        counts = [{"value": _plain(v), "count": n} for v, n in ranked]
        found = value_map_result(tally.rows, tally.nonnull, tally.unexpected, tally.partial, counts, kw)
        return _outcome(exp, found["success"], found["result"], None, FAST)
    kind = AGGREGATES[exp.type]
    observed = None
    if tally.nonnull:
        observed = {"min": tally.low, "max": tally.high, "mean": tally.total / tally.nonnull}[kind]
    return _outcome(
        exp, observed is not None and _within(observed, kw), {"observed_value": _plain(observed)}, None, FAST
    )
