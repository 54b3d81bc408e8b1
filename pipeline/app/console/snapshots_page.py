"""Placeholder: the snapshots_page page of the console, being built (issue 17). Every function raises."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SnapshotsView:
    pass


@dataclass(frozen=True)
class SnapshotView:
    pass


@dataclass(frozen=True)
class SnapshotDiffView:
    pass


def build_snapshots(ws: Any, dataset: Any) -> Any:
    raise NotImplementedError


def build_snapshot(ws: Any, snapshot_id: Any) -> Any:
    raise NotImplementedError


def build_snapshot_diff(ws: Any, a: Any, b: Any) -> Any:
    raise NotImplementedError


def render_snapshots(view: Any, links: Any) -> str:
    raise NotImplementedError


def render_snapshot(view: Any, links: Any) -> str:
    raise NotImplementedError


def render_snapshot_diff(view: Any, links: Any) -> str:
    raise NotImplementedError
