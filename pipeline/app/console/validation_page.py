"""Placeholder: the validation_page page of the console, being built (issue 17). Every function raises."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ValidationsView:
    pass


@dataclass(frozen=True)
class ValidationView:
    pass


def build_validations(ws: Any) -> Any:
    raise NotImplementedError


def build_validation(ws: Any, validation_id: Any) -> Any:
    raise NotImplementedError


def data_docs_file(ws: Any, validation_id: Any, path: Any) -> Any:
    raise NotImplementedError


def render_validations(view: Any, links: Any) -> str:
    raise NotImplementedError


def render_validation(view: Any, links: Any) -> str:
    raise NotImplementedError
