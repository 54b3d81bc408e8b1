"""Placeholder: the monitoring_page page of the console, being built (issue 17). Every function raises."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class MonitoringView:
    pass


def build_monitoring(ws: Any, model: Any) -> Any:
    raise NotImplementedError


def render_monitoring(view: Any, links: Any) -> str:
    raise NotImplementedError
