"""The one Jinja2 environment every HTML page of the project is rendered with.

Templates live in ``pipeline/reporting/templates`` (shipped as package data) and share one base
layout. Autoescape is on for every template and undefined names fail loudly
(``StrictUndefined``), so a value from the data can never become markup and a field a template
expects but is not given is an error, not an empty cell. The filters below are the number and
verdict formats the pages share; the only markup they produce is our own, with every value in it
escaped.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

DASH = "—"
"""Shown where a value is missing."""


def fmt(value: Any) -> str:
    """A number as the reports show it: floats to 4 significant digits (large ones, such as a
    regression error in currency, rounded to a whole number rather than in exponent form),
    ``None`` as a dash."""
    if isinstance(value, float):
        return f"{value:.0f}" if 1e4 <= abs(value) < 1e15 else f"{value:.4g}"
    return DASH if value is None else str(value)


def verdict(ok: bool | None, yes: str = "passed", no: str = "failed") -> Markup:
    """``yes`` in green or ``no`` in red (bold); a dash when there is no verdict."""
    if ok is None:
        return Markup(DASH)
    return Markup('<span class="ok">{}</span>').format(yes) if ok else Markup('<span class="bad">{}</span>').format(no)


def unreliable(estimate: dict[str, Any] | None) -> Markup:
    """`` (unreliable, n=…)`` after an interval from too few rows (``reliable`` false), else nothing."""
    if not estimate or estimate.get("reliable") is not False:
        return Markup("")
    return Markup(' <span class="bad">(unreliable, n={})</span>').format(estimate.get("n"))


def pct(value: Any, digits: int = 1) -> str:
    """A share (0.25) as a percentage ("25.0%"); a dash when missing."""
    if value is None:
        return DASH
    return f"{100 * float(value):.{digits}f}%"


def pvalue(value: Any) -> str:
    """A p-value to 2 significant digits, or "< 0.001" when smaller; a dash when missing."""
    if value is None:
        return DASH
    v = float(value)
    return "< 0.001" if v < 0.001 else f"{v:.2g}"


def when(value: Any) -> str:
    """An ISO timestamp to the minute in UTC ("2026-12-03 22:10 UTC"); a dash when missing."""
    if not value:
        return DASH
    text = str(value).replace("T", " ")
    return f"{text[:16]} UTC" if len(text) >= 16 else text


def short_id(value: Any, length: int = 12) -> str:
    """A content hash shortened to ``length`` characters, as git shows commits."""
    return DASH if value is None else str(value)[:length]


def dumps(value: Any) -> str:
    """JSON as it is stored (keys in their order), to show parameters and settings verbatim."""
    return json.dumps(value)


@cache
def environment() -> Environment:
    """The shared environment: package templates, autoescape everywhere, strict undefined."""
    env = Environment(
        loader=PackageLoader("pipeline.reporting"),
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2", "svg.j2"), default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        fmt=fmt,
        verdict=verdict,
        unreliable=unreliable,
        dumps=dumps,
        pct=pct,
        pvalue=pvalue,
        when=when,
        short_id=short_id,
    )
    return env


def render(template: str, **context: Any) -> str:
    """Render one template of ``pipeline/reporting/templates`` with ``context``."""
    return environment().get_template(template).render(**context)
