"""Metric conditions and ordering for ``ct models list`` (``--where roc_auc>=0.8 --sort f1``).

Alias and tag filters run in SQL; metric values sit in a JSON column whose operators differ
between SQLite and PostgreSQL, so metric filters and sorting run here, on the fetched versions.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.core.errors import CTError
from pipeline.core.metric_names import HIGHER_IS_BETTER
from pipeline.registry.base import ModelVersion

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
    "=": operator.eq,
}
_CONDITION = re.compile(
    r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|==|!=|>|<|=)\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?\d+)?)\s*$"
)


def _known_metric(name: str) -> str:
    if name not in HIGHER_IS_BETTER:
        raise CTError(f"unknown metric {name!r}; known metrics: {', '.join(sorted(HIGHER_IS_BETTER))}")
    return name


@dataclass(frozen=True)
class MetricCondition:
    """``metric op threshold`` on the holdout value of a metric."""

    metric: str
    op: str
    threshold: float

    def holds(self, mv: ModelVersion) -> bool:
        value = metric_value(mv, self.metric)
        return value is not None and _OPS[self.op](value, self.threshold)

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.threshold:g}"


def parse_condition(text: str) -> MetricCondition:
    """``"roc_auc>=0.8"`` -> :class:`MetricCondition`; a bad expression or metric is a :class:`CTError`."""
    match = _CONDITION.match(text)
    if not match:
        raise CTError(
            f"cannot read the condition {text!r}; write METRIC OP NUMBER with OP one of "
            ">=, <=, >, <, ==, !=, e.g. roc_auc>=0.8"
        )
    return MetricCondition(_known_metric(match[1]), match[2], float(match[3]))


def parse_tag(text: str) -> tuple[str, str]:
    """``"key=value"`` -> ``("key", "value")``; the key must not be empty, the value may be."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise CTError(f"a tag is written key=value, got {text!r}")
    return key.strip(), value


def metric_value(mv: ModelVersion, metric: str) -> float | None:
    """The holdout point value of ``metric`` (``metrics[m]["value"]``), or None when absent."""
    entry: Any = (mv.metrics or {}).get(metric)
    value = entry.get("value") if isinstance(entry, dict) else entry
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def filter_versions(versions: Sequence[ModelVersion], conditions: Sequence[MetricCondition]) -> list[ModelVersion]:
    """Versions meeting every condition; a version without the metric does not meet it."""
    return [v for v in versions if all(c.holds(v) for c in conditions)]


def sort_versions(versions: Sequence[ModelVersion], metric: str) -> list[ModelVersion]:
    """Best first by ``metric`` (descending when higher is better); versions without it last.

    Ties keep the incoming order (stable sort), which is newest version first.
    """
    sign = -1.0 if HIGHER_IS_BETTER[_known_metric(metric)] else 1.0
    scored = [(metric_value(v, metric), i, v) for i, v in enumerate(versions)]
    present = sorted(((value, i, v) for value, i, v in scored if value is not None), key=lambda s: (sign * s[0], s[1]))
    return [v for _, _, v in present] + [v for value, _, v in scored if value is None]
