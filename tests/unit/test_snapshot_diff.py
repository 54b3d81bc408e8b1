"""`diff_snapshots`: parts, rows, schema and per-column summary changes between two snapshots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.app.demo_data import BatchSpec, generate_batch
from pipeline.core.config import PipelineConfig
from pipeline.core.storage import ObjectStore
from pipeline.data.snapshots import (
    Snapshot,
    SourceFile,
    create_snapshot,
    diff_snapshots,
    write_part,
)


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    return ObjectStore((tmp_path / "store").as_uri())


def _src(name: str) -> SourceFile:
    return SourceFile(name, name.encode().hex().ljust(64, "0")[:64], 1)


@pytest.fixture
def history(store: ObjectStore, config: PipelineConfig) -> tuple[Snapshot, Snapshot, pd.DataFrame, pd.DataFrame]:
    ds = config.dataset
    b1 = generate_batch(BatchSpec(rows=300, seed=1, first_id=0))
    b2 = generate_batch(BatchSpec(rows=200, seed=2, first_id=10_000)).assign(contract="two-year")
    b2.loc[:49, "monthly_charges"] = np.nan
    first = create_snapshot(
        store,
        ds,
        None,
        [write_part(store, b1.iloc[:150], ds, _src("a1")), write_part(store, b1.iloc[150:], ds, _src("a2"))],
    )
    second = create_snapshot(store, ds, first, [write_part(store, b2, ds, _src("b"))])
    return first, second, b1, pd.concat([b1, b2], ignore_index=True)


def test_added_parts_and_rows(store: ObjectStore, config: PipelineConfig, history) -> None:
    first, second, _, _ = history
    diff = diff_snapshots(store, first, second, config.dataset)
    assert (diff["a"], diff["b"]) == (first.id, second.id)
    assert diff["rows"] == {"a": 300, "b": 500}
    assert [p["id"] for p in diff["parts_added"]] == [second.parts[2].id]
    assert (diff["rows_added"], diff["rows_removed"], diff["parts_removed"]) == (200, 0, [])
    assert diff["schema"] == {"added": [], "removed": [], "changed": []}
    back = diff_snapshots(store, second, first, config.dataset)
    assert (back["rows_added"], back["rows_removed"]) == (0, 200)
    assert [p["id"] for p in back["parts_removed"]] == [second.parts[2].id]


def test_numeric_summaries_match_pandas(store: ObjectStore, config: PipelineConfig, history) -> None:
    first, second, old, new = history
    diff = diff_snapshots(store, first, second, config.dataset)
    for name in config.dataset.numeric_names:
        col = diff["columns"][name]
        assert col["kind"] == "numeric"
        for side, frame in (("a", old), ("b", new)):
            values = frame[name].astype(float)
            got = col[side]
            assert got["mean"] == pytest.approx(values.mean(), rel=1e-12), (name, side)
            assert got["std"] == pytest.approx(values.std(ddof=1), rel=1e-9), (name, side)
            assert (got["min"], got["max"]) == (values.min(), values.max())
            assert got["null_share"] == pytest.approx(values.isna().mean())
        assert col["change"]["mean"] == pytest.approx(col["b"]["mean"] - col["a"]["mean"])
    assert diff["columns"]["monthly_charges"]["change"]["null_share"] == pytest.approx(50 / 500)
    assert "customer_id" not in diff["columns"]  # identifiers are not summarised


def test_level_shares(store: ObjectStore, config: PipelineConfig, history) -> None:
    first, second, old, new = history
    contract = diff_snapshots(store, first, second, config.dataset)["columns"]["contract"]
    assert contract["kind"] == "categorical"
    expected_a = old["contract"].value_counts(normalize=True).to_dict()
    expected_b = new["contract"].value_counts(normalize=True).to_dict()
    assert contract["a"]["levels"] == pytest.approx(expected_a)
    assert contract["b"]["levels"] == pytest.approx(expected_b)
    assert contract["change"]["two-year"] == pytest.approx(expected_b["two-year"] - expected_a["two-year"])
    assert contract["change"]["two-year"] > 0.25
    assert sum(contract["change"][lvl] for lvl in expected_b) == pytest.approx(0.0, abs=1e-12)


def test_schema_changes_are_listed(store: ObjectStore, config: PipelineConfig, history) -> None:
    first, _, _, _ = history
    widened = config.dataset.model_copy(
        update={
            "features": config.dataset.features.model_copy(
                update={
                    "numeric": (
                        *config.dataset.features.numeric,
                        config.dataset.features.numeric[0].model_copy(update={"name": "late_payments"}),
                    )
                }
            )
        }
    )
    batch = generate_batch(BatchSpec(rows=50, seed=3, first_id=20_000)).assign(late_payments=1.0)
    later = create_snapshot(store, widened, first, [write_part(store, batch, widened, _src("c"))])
    changed = Snapshot(
        **{**later.__dict__, "schema": tuple((c, "string" if c == "age" else t) for c, t in later.schema)}
    )
    diff = diff_snapshots(store, first, changed, widened)
    assert diff["schema"]["added"] == [{"column": "late_payments", "type": "double"}]
    assert diff["schema"]["changed"] == [{"column": "age", "a": "double", "b": "string"}]
    assert "age" not in diff["columns"]  # a column whose type changed has no comparable summary
