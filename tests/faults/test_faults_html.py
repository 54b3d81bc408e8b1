"""Hostile data never becomes markup: every HTML page the project publishes escapes what it shows.

A landing file is data from outside. Its column names (a config made by ``ct init --from-sample``
copies them) and its category values reach the validation summary, the great-expectations Data
Docs and the model report; a value such as ``<script>`` must show as text there, never run.
Pages are parsed with ``html.parser``; any element or attribute carrying our markers is a leak.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.app import stages
from pipeline.app.demo_data import BatchSpec, generate_batch
from pipeline.app.training_flow import run_training
from pipeline.app.workspace import Workspace
from pipeline.core.config import PipelineConfig, parse_config
from pipeline.core.settings import BUNDLED_CONFIG, Settings

HOSTILE_COLUMN = "<img src=x onerror=alert('ct-xss-column')>"
HOSTILE_LEVEL = "<script>alert('ct-xss-level')</script>"
HOSTILE_UNEXPECTED = "<img src=x onerror=alert('ct-xss-unexpected')>"
MARKER = "ct-xss"


class _Leaks(HTMLParser):
    """Collects elements whose tag, attributes or script/style body carry the marker."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.leaks: list[str] = []
        self._raw: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._raw = tag
        for name, value in attrs:
            if MARKER in name or (value and MARKER in value and (name.startswith("on") or tag in ("img", "script"))):
                self.leaks.append(f"<{tag} {name}={value!r}>")
        if tag == "img" and any(name.startswith("on") for name, _ in attrs):
            self.leaks.append(f"<{tag} {attrs}>")

    def handle_endtag(self, tag: str) -> None:
        if tag == self._raw:
            self._raw = None

    def handle_data(self, data: str) -> None:
        if self._raw and MARKER in data:
            self.leaks.append(f"<{self._raw}>{data[:80]}")


def html_leaks(text: str) -> list[str]:
    """Markup from data in one page (empty when everything hostile was shown as text)."""
    parser = _Leaks()
    parser.feed(text)
    parser.close()
    return parser.leaks


def test_the_leak_detector_sees_raw_markup() -> None:
    assert html_leaks(f"<p>{HOSTILE_LEVEL}</p>")
    assert html_leaks(f"<td>{HOSTILE_COLUMN}</td>")
    assert not html_leaks("<p>&lt;script&gt;alert('ct-xss')&lt;/script&gt;</p><script src='vendor.js'></script>")


def _hostile_config() -> PipelineConfig:
    """The demo config with the ``plan`` column renamed and a ``region`` level made hostile.

    Expectations only warn, so a batch with unexpected (hostile) values still trains and the
    model report, with ``region`` slices, is written too.
    """
    data = yaml.safe_load(BUNDLED_CONFIG.read_text())
    data["model"].pop("candidates", None)
    cats = data["dataset"]["features"]["categorical"]
    for cat in cats:
        if cat["name"] == "plan":
            cat["name"] = HOSTILE_COLUMN
        if cat["name"] == "region":
            cat["levels"] = [HOSTILE_LEVEL if v == "north" else v for v in cat["levels"]]
    data["validation"]["expectations"]["severity"] = "warn"
    data["evaluation"].update(bootstrap_resamples=100, folds=3)
    data["ingest"]["stable_seconds"] = 0
    data["promotion"]["slice_gates"]["min_rows"] = 10_000  # slices shown, not gated
    return parse_config(data, BUNDLED_CONFIG)


def _hostile_batch(rows: int, seed: int, first_id: int) -> Any:
    frame = generate_batch(BatchSpec(rows=rows, seed=seed, first_id=first_id)).rename(columns={"plan": HOSTILE_COLUMN})
    frame["region"] = frame["region"].replace({"north": HOSTILE_LEVEL})
    frame.loc[frame.index[:15], "payment_method"] = HOSTILE_UNEXPECTED  # not a declared level: unexpected
    return frame


pytestmark = pytest.mark.usefixtures("fixed_code_version")


def test_hostile_column_names_and_values_are_escaped_in_every_published_page(settings: Settings) -> None:
    ws = Workspace(settings=settings, config=_hostile_config())
    settings.landing.mkdir(parents=True, exist_ok=True)
    _hostile_batch(600, 21, 0).to_csv(settings.landing / "hostile.csv", index=False)
    snapshot_id = stages.ingest_landing(ws).snapshot_id
    assert snapshot_id

    validation = run_training(ws, trigger={"kind": "test"}).validation
    assert validation is not None and validation.data_docs_uri, "Data Docs were not built, so they were not checked"

    pages = sorted(Path(settings.home).rglob("*.html"))
    shown = {p.relative_to(settings.home).as_posix(): p.read_text(encoding="utf-8", errors="replace") for p in pages}
    assert any("/models/" in k for k in shown), sorted(shown)
    assert any("data_docs/validations/" in k for k in shown), sorted(shown)
    # the hostile strings are really on the pages (escaped), or this test would prove nothing
    assert any("ct-xss-level" in t for k, t in shown.items() if "data_docs/validations/" in k)
    assert any("ct-xss-unexpected" in t for k, t in shown.items() if "data_docs/validations/" in k)
    assert any("ct-xss-column" in t for k, t in shown.items() if "data_docs/" in k)
    assert any("ct-xss-level" in t for k, t in shown.items() if "/models/" in k)
    assert not [k for k, t in shown.items() if re.search(r"ctm[0-9a-f]{12}v\d+z", t)], "a masked value was not restored"
    leaks = {k: found for k, t in shown.items() if (found := html_leaks(t))}
    assert not leaks, f"data became markup in {len(leaks)} page(s): {leaks}"
