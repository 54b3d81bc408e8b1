"""A hostile file beside good ones, for a regression and a multiclass project: only it is quarantined.

A file whose label is text where a number (or a declared class) is expected in most rows exceeds
``ingest.max_bad_row_fraction`` and is quarantined with a reason naming the label; a file with a
few bad labels is taken with those rows set aside; the good file goes through; a second run
changes nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fault_helpers import quarantined_names, reasons

from pipeline.app import stages
from pipeline.app.demo_datasets import HOUSE_PRICES, TICKET_PRIORITY, DemoDataset
from pipeline.app.workspace import Workspace
from pipeline.core.config import parse_config
from pipeline.core.settings import Settings
from pipeline.data.snapshots import read_manifest


def _workspace(home: Path, demo: DemoDataset) -> Workspace:
    home.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        home=home,
        config_path=home / "pipeline.yaml",
        database_url=f"sqlite:///{home / 'ct.db'}",
        data_url=home.as_uri(),
    )
    mapping = demo.config_mapping()
    mapping["ingest"] = {**mapping.get("ingest", {}), "stable_seconds": 0}  # files written just now are complete
    return Workspace(settings=settings, config=parse_config(mapping))


@pytest.mark.parametrize(("demo", "bad_label"), [(HOUSE_PRICES, "call us"), (TICKET_PRIORITY, "whenever")])
def test_a_file_of_bad_labels_quarantines_only_itself(tmp_path: Path, demo: DemoDataset, bad_label: str) -> None:
    home = tmp_path / demo.name
    landing = home / "landing"
    landing.mkdir(parents=True)
    label = demo.config().dataset.label
    frame = demo.batch(0, rows=300)
    frame.iloc[:100].to_csv(landing / "good.csv", index=False)
    hostile = frame.iloc[100:200].copy()
    hostile[label] = bad_label  # every label wrong: far beyond max_bad_row_fraction
    hostile.to_csv(landing / "hostile.csv", index=False)
    some_bad = frame.iloc[200:300].astype({label: object})
    some_bad.iloc[:5, some_bad.columns.get_loc(label)] = bad_label  # 5%: set aside, file taken
    some_bad.to_csv(landing / "some-bad.csv", index=False)

    first = stages.ingest_landing(_workspace(home, demo))
    second = stages.ingest_landing(_workspace(home, demo))

    assert sorted(first.accepted) == ["good.csv", "some-bad.csv"]
    assert quarantined_names(home) == ["hostile.csv"]
    (reason,) = reasons(home)
    assert reason["file"] == "hostile.csv" and label in reason["message"]
    expected = bad_label if demo is HOUSE_PRICES else "not one of the classes"  # the value, or what is allowed
    assert expected in reason["message"]
    assert read_manifest(_workspace(home, demo).store, first.snapshot_id).rows == 195
    assert second.snapshot_id in (None, first.snapshot_id) and not second.accepted
