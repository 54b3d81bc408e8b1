"""Training windows over the snapshot history: config validation and the pure part selection."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from pipeline.core.config import WindowConfig, parse_config
from pipeline.core.errors import ConfigError, SnapshotError
from pipeline.core.settings import BUNDLED_CONFIG
from pipeline.data.snapshots import Part, Snapshot, SourceFile, select_window, window_lineage


def _part(i: int, ingested_at: str | None) -> Part:
    return Part(
        id=f"{i:064x}",
        key=f"snapshots/parts/{i:02d}/{i:064x}.parquet",
        rows=10 * (i + 1),
        source=SourceFile(f"f{i}.csv", f"{i:064x}", 100),
        ingested_at=ingested_at,
    )


# Five parts ingested on the 1st, 10th, 20th, 25th and 30th of June; the snapshot made on July 1st.
TIMES = [
    "2025-06-01T12:00:00+00:00",
    "2025-06-10T12:00:00+00:00",
    "2025-06-20T12:00:00+00:00",
    "2025-06-25T12:00:00+00:00",
    "2025-06-30T12:00:00+00:00",
]
SNAP = Snapshot(
    id="s" * 16,
    dataset="churn",
    parent=None,
    parts=tuple(_part(i, t) for i, t in enumerate(TIMES)),
    schema=(("a", "double"),),
    created_at="2025-07-01T00:00:00+00:00",
)


def _ids(parts: tuple[Part, ...]) -> list[int]:
    return [int(p.id, 16) for p in parts]


def test_all_takes_every_part() -> None:
    assert select_window(SNAP, WindowConfig()) == SNAP.parts


@pytest.mark.parametrize(("n", "expected"), [(1, [4]), (2, [3, 4]), (5, [0, 1, 2, 3, 4]), (50, [0, 1, 2, 3, 4])])
def test_last_parts(n: int, expected: list[int]) -> None:
    assert _ids(select_window(SNAP, WindowConfig(kind="last_parts", value=n))) == expected


@pytest.mark.parametrize(
    ("days", "expected"), [(1, [4]), (6.5, [3, 4]), (11, [2, 3, 4]), (21, [1, 2, 3, 4]), (365, [0, 1, 2, 3, 4])]
)
def test_last_days_counts_back_from_the_snapshot_not_the_clock(days: float, expected: list[int]) -> None:
    assert _ids(select_window(SNAP, WindowConfig(kind="last_days", value=days))) == expected


def test_last_days_boundary_is_inclusive() -> None:
    # exactly 6.5 days before 2025-07-01T00:00 is 2025-06-24T12:00; a part at that instant is in
    at_edge = Snapshot(**{**SNAP.__dict__, "parts": (_part(0, "2025-06-24T12:00:00+00:00"),)})
    assert len(select_window(at_edge, WindowConfig(kind="last_days", value=6.5))) == 1


def test_part_without_ingest_time_counts_as_snapshot_time() -> None:
    legacy = Snapshot(**{**SNAP.__dict__, "parts": (_part(0, None), _part(1, "2025-01-01T00:00:00+00:00"))})
    assert _ids(select_window(legacy, WindowConfig(kind="last_days", value=3))) == [0]


def test_empty_window_is_an_error() -> None:
    stale = Snapshot(**{**SNAP.__dict__, "created_at": "2026-01-01T00:00:00+00:00"})
    with pytest.raises(SnapshotError) as info:
        select_window(stale, WindowConfig(kind="last_days", value=7))
    assert "selects no part" in str(info.value) and stale.id in str(info.value)


def test_window_lineage_records_rule_and_selection() -> None:
    lineage = window_lineage(SNAP, WindowConfig(kind="last_parts", value=2))
    assert lineage == {
        "window": {"kind": "last_parts", "value": 2.0},
        "snapshot_parts": [SNAP.parts[3].id, SNAP.parts[4].id],
        "window_rows": 40 + 50,
        "snapshot_rows": 150,
    }


def _config_with(window: Any) -> dict[str, Any]:
    raw = yaml.safe_load(BUNDLED_CONFIG.read_text())
    raw["window"] = window
    return raw


def test_window_config_loads_and_defaults_to_all() -> None:
    raw = yaml.safe_load(BUNDLED_CONFIG.read_text())
    assert parse_config(raw).window == WindowConfig(kind="all", value=None)
    assert parse_config(_config_with({"kind": "last_days", "value": 30})).window.value == 30


@pytest.mark.parametrize(
    ("window", "fragment"),
    [
        ({"kind": "all", "value": 3}, "takes no value"),
        ({"kind": "last_parts", "value": 2.5}, "whole number"),
        ({"kind": "last_parts"}, "whole number"),
        ({"kind": "last_days", "value": 0}, "days > 0"),
        ({"kind": "recent"}, "window.kind"),
    ],
)
def test_bad_window_config_names_the_key(window: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(_config_with(window))
    assert fragment in str(info.value)
