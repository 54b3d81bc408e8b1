"""Metric conditions, tag parsing and metric ordering behind ``ct models list``."""

from __future__ import annotations

import pytest

from pipeline.core.errors import CTError
from pipeline.registry.base import ModelVersion
from pipeline.registry.search import (
    MetricCondition,
    filter_versions,
    metric_value,
    parse_condition,
    parse_tag,
    sort_versions,
)


def mv(version: int, **metrics: float | None) -> ModelVersion:
    return ModelVersion(
        name="m",
        version=version,
        snapshot_id="s",
        config_hash="c",
        spec_name="d",
        params={},
        metrics={k: {"value": v, "lower": v, "upper": v} for k, v in metrics.items()},
        evaluation={},
        artifact_uri="a",
        artifact_sha256="0" * 64,
        validation_id=None,
        trigger={},
        code_version="x",
        lineage={},
        decision=None,
        aliases=(),
        created_at="",
    )


@pytest.mark.parametrize(
    "text, expected",
    [
        ("roc_auc>=0.8", MetricCondition("roc_auc", ">=", 0.8)),
        (" log_loss < .5 ", MetricCondition("log_loss", "<", 0.5)),
        ("f1==1", MetricCondition("f1", "==", 1.0)),
        ("f1=0.7", MetricCondition("f1", "=", 0.7)),
        ("brier!=-1e-3", MetricCondition("brier", "!=", -0.001)),
    ],
)
def test_parse_condition(text: str, expected: MetricCondition) -> None:
    assert parse_condition(text) == expected


def test_parse_condition_errors_say_what_to_write() -> None:
    with pytest.raises(CTError, match="METRIC OP NUMBER"):
        parse_condition("roc_auc is high")
    with pytest.raises(CTError, match="METRIC OP NUMBER"):
        parse_condition("roc_auc>=")
    with pytest.raises(CTError, match=r"unknown metric 'auc'.*roc_auc"):
        parse_condition("auc>=0.8")


def test_parse_tag() -> None:
    assert parse_tag("team=risk") == ("team", "risk")
    assert parse_tag(" note = a=b ") == ("note", " a=b ")
    assert parse_tag("empty=") == ("empty", "")
    for bad in ("novalue", "=x"):
        with pytest.raises(CTError, match="key=value"):
            parse_tag(bad)


def test_metric_value_reads_the_point_value_and_tolerates_gaps() -> None:
    assert metric_value(mv(1, roc_auc=0.8), "roc_auc") == 0.8
    assert metric_value(mv(1, roc_auc=None), "roc_auc") is None  # NaN stored as null
    assert metric_value(mv(1), "roc_auc") is None
    legacy = ModelVersion(**{**mv(1).to_dict(), "aliases": (), "metrics": {"roc_auc": 0.7, "n": True}})
    assert metric_value(legacy, "roc_auc") == 0.7 and metric_value(legacy, "n") is None


def test_filter_versions_needs_every_condition() -> None:
    versions = [mv(1, roc_auc=0.70, f1=0.9), mv(2, roc_auc=0.85, f1=0.6), mv(3, roc_auc=0.90, f1=0.8), mv(4)]

    def pick(*conds):
        return [v.version for v in filter_versions(versions, [parse_condition(c) for c in conds])]

    assert pick() == [1, 2, 3, 4]
    assert pick("roc_auc>=0.85") == [2, 3]
    assert pick("roc_auc>0.85") == [3]
    assert pick("roc_auc>=0.8", "f1>0.7") == [3]
    assert pick("f1<0.5") == []


def test_sort_is_best_first_by_direction_and_puts_missing_last() -> None:
    versions = [
        mv(4, roc_auc=0.8, log_loss=0.5),
        mv(3),
        mv(2, roc_auc=0.9, log_loss=0.4),
        mv(1, roc_auc=0.8, log_loss=0.3),
    ]
    assert [v.version for v in sort_versions(versions, "roc_auc")] == [2, 4, 1, 3]  # ties keep newest first
    assert [v.version for v in sort_versions(versions, "log_loss")] == [1, 2, 4, 3]  # lower is better
    with pytest.raises(CTError, match="unknown metric"):
        sort_versions(versions, "speed")
