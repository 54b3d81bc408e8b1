"""A great-expectations suite derived from the declared schema, and running it on new data.

The suite checks columns, types, nullability, declared ranges, category levels, label classes and
a minimum row count. Each failed expectation is reported with its counts and a few sample values.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from pipeline.config import DatasetConfig, ExpectationsConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str
    column: str | None
    success: bool
    unexpected_count: int | None
    unexpected_percent: float | None
    sample: list[Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        where = f" on {self.column!r}" if self.column else ""
        if self.unexpected_count:
            return (f"{self.expectation}{where}: {self.unexpected_count} unexpected "
                    f"({self.unexpected_percent:.2f}%), e.g. {self.sample[:3]}")
        return f"{self.expectation}{where}"


def build_suite(dataset: DatasetConfig, settings: ExpectationsConfig) -> Any:
    """The GX ExpectationSuite for ``dataset``: one expectation per declared property."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    items: list[Any] = [gxe.ExpectTableRowCountToBeBetween(min_value=settings.min_rows)]
    items.append(gxe.ExpectTableColumnsToMatchSet(column_set=dataset.columns, exact_match=True))
    for col in dataset.id_columns:
        items.append(gxe.ExpectColumnValuesToNotBeNull(column=col))
    for feat in dataset.features.numeric:
        items.append(gxe.ExpectColumnValuesToBeInTypeList(column=feat.name, type_list=["float64", "Float64", "float"]))
        if not feat.nullable:
            items.append(gxe.ExpectColumnValuesToNotBeNull(column=feat.name))
        if feat.min is not None or feat.max is not None:
            items.append(gxe.ExpectColumnValuesToBeBetween(column=feat.name, min_value=feat.min, max_value=feat.max))
    for feat in dataset.features.categorical:
        if not feat.nullable:
            items.append(gxe.ExpectColumnValuesToNotBeNull(column=feat.name))
        items.append(gxe.ExpectColumnValuesToBeInSet(column=feat.name, value_set=list(feat.levels)))
    items.append(gxe.ExpectColumnValuesToNotBeNull(column=dataset.label))
    items.append(gxe.ExpectColumnValuesToBeInSet(column=dataset.label, value_set=list(dataset.classes)))
    return gx.ExpectationSuite(name=f"{dataset.name}_schema", expectations=items)


def run_expectations(frame: pd.DataFrame, dataset: DatasetConfig, settings: ExpectationsConfig) -> list[ExpectationOutcome]:
    """Validate ``frame`` with the schema suite on an ephemeral GX context."""
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    source = context.data_sources.add_pandas("ct")
    batch_def = source.add_dataframe_asset("snapshot").add_batch_definition_whole_dataframe("new_parts")
    suite = build_suite(dataset, settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = batch_def.get_batch(batch_parameters={"dataframe": frame}).validate(suite, result_format="SUMMARY")
    outcomes = []
    for r in result.results:
        cfg = r.expectation_config
        res = r.result or {}
        outcomes.append(ExpectationOutcome(
            expectation=cfg.type, column=cfg.kwargs.get("column"), success=bool(r.success),
            unexpected_count=res.get("unexpected_count"), unexpected_percent=res.get("unexpected_percent"),
            sample=[_plain(v) for v in (res.get("partial_unexpected_list") or [])[:5]],
        ))
    return outcomes


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return value
