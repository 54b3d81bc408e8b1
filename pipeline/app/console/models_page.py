"""Placeholder: the models_page page of the console, being built (issue 17). Every function raises."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ModelsView:
    pass


@dataclass(frozen=True)
class VersionView:
    pass


@dataclass(frozen=True)
class CompareView:
    pass


def build_models(ws: Any, model: Any) -> Any:
    raise NotImplementedError


def build_version(ws: Any, model: Any, version: Any) -> Any:
    raise NotImplementedError


def build_compare(ws: Any, model: Any, a: Any, b: Any) -> Any:
    raise NotImplementedError


def report_html(ws: Any, model: Any, version: Any) -> Any:
    raise NotImplementedError


def render_models(view: Any, links: Any) -> str:
    raise NotImplementedError


def render_version(view: Any, links: Any) -> str:
    raise NotImplementedError


def render_compare(view: Any, links: Any) -> str:
    raise NotImplementedError
