"""The Jinja2 environment of the reports: every template autoescaped, missing fields fail loudly,
the shared filters escape what they wrap, and the templates ship with the package."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path

import pytest
from jinja2 import StrictUndefined, UndefinedError
from markupsafe import Markup
from test_reports import EVIL, _model_version, _report

from pipeline.reporting import templating
from pipeline.reporting.pages import render_model_html
from pipeline.reporting.plots import PALETTE, Series, confusion_svg, unit_chart
from pipeline.reporting.templating import environment, fmt, render, unreliable, verdict

TEMPLATES = Path(templating.__file__).parent / "templates"
ROOT = Path(__file__).resolve().parents[2]


def _template_files() -> list[str]:
    """Every template, by its name for the loader (``console/models.html.j2`` for the console's)."""
    return sorted(p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.rglob("*") if p.is_file())


def test_the_environment_loads_every_template_file() -> None:
    files = _template_files()
    assert files and any(f.startswith("console/") for f in files)
    assert sorted(environment().list_templates()) == files


@pytest.mark.parametrize("name", _template_files())
def test_autoescape_is_on_for_every_template(name: str) -> None:
    env = environment()
    assert env.undefined is StrictUndefined
    assert callable(env.autoescape) and env.autoescape(name) is True
    # what the loaded template really renders with, whatever the name-based rule says
    assert env.get_template(name).new_context({}).eval_ctx.autoescape is True


def test_autoescape_is_on_for_templates_of_any_name() -> None:
    env = environment()
    for name in ("page.html", "page.txt", "page", "chart.svg.j2"):
        assert env.autoescape(name) is True, name
    assert env.from_string("{{ x }}").render(x=EVIL) == "&lt;script&gt;alert(1)&lt;/script&gt;"


def test_a_missing_field_fails_loudly() -> None:
    with pytest.raises(UndefinedError, match="failed"):
        render("validation.html.j2", report=_report(), data_docs_href=None)  # `failed` not given
    version = _model_version()
    evaluation = {k: v for k, v in version.evaluation.items() if k != "holdout_rows"}
    with pytest.raises(UndefinedError, match="holdout_rows"):
        render_model_html(replace(version, evaluation=evaluation))


def test_filters_format_numbers_and_escape_what_they_wrap() -> None:
    assert fmt(0.876543) == "0.8765" and fmt(None) == "—" and fmt(3) == "3" and fmt(EVIL) == EVIL
    assert verdict(True) == '<span class="ok">passed</span>' and verdict(None) == "—"
    assert verdict(False, "ok", EVIL) == '<span class="bad">&lt;script&gt;alert(1)&lt;/script&gt;</span>'
    assert isinstance(verdict(True), Markup)
    assert unreliable({"reliable": True, "n": 5}) == "" and unreliable(None) == ""
    assert unreliable({"reliable": False, "n": EVIL}) == (
        ' <span class="bad">(unreliable, n=&lt;script&gt;alert(1)&lt;/script&gt;)</span>'
    )


def test_charts_escape_every_caller_text_before_they_are_marked_safe() -> None:
    chart = unit_chart(EVIL, EVIL, EVIL, [Series(EVIL, [0, 1], [0, 1], color=f'{PALETTE[0]}" onload="x')])
    assert isinstance(chart, Markup)
    assert "<script>" not in chart and 'onload="x"' not in chart and "&lt;script&gt;" in chart
    matrix = confusion_svg(1, 2, 3, 4, 0.5)
    assert isinstance(matrix, Markup) and ">1</text>" in matrix


def test_templates_ship_as_package_data() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    globs = data["pipeline.reporting"]
    package = TEMPLATES.parent
    shipped = {p.relative_to(package).as_posix() for g in globs for p in package.glob(g)}
    wanted = {f"templates/{name}" for name in _template_files()}
    static = {p.relative_to(package).as_posix() for p in (package / "static").iterdir() if p.is_file()}
    assert static and shipped == wanted | static
