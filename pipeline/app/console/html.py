"""Rendering a console page, and turning a page's read model into JSON.

Every page extends ``console/layout.html.j2`` in ``pipeline/reporting/templates`` and is rendered
with the project's one Jinja environment (autoescape, strict undefined, the shared number formats).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal

from pipeline.app.console.links import Links
from pipeline.reporting.templating import render

Section = Literal["models", "snapshots", "validation", "monitoring"]


def render_page(template: str, *, links: Links, title: str, section: Section, **context: Any) -> str:
    """One page of the console: ``console/<template>`` inside the shared layout."""
    return render(f"console/{template}", links=links, title=title, section=section, **context)


def to_json(value: Any) -> Any:
    """A read model as JSON-ready data: dataclasses to dicts, tuples to lists, NaN and ±inf to None."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
