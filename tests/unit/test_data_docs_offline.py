"""Published Data Docs render styled with no network: nothing in a page is fetched from elsewhere
(no remote stylesheet, script, image or style URL), the bundled stylesheet is inlined, and the
lists GX builds with JavaScript are written out as plain links."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from pipeline.app.demo_data import BatchSpec, generate_batch
from pipeline.core.config import PipelineConfig
from pipeline.core.storage import ObjectStore
from pipeline.quality.data_docs import OFFLINE_CSS, OFFLINE_MARKER, offline_page, publish_data_docs
from pipeline.quality.expectations import evaluate_suite
from pipeline.quality.suite import Suite, schema_expectations

REMOTE = re.compile(r"^\s*(?:https?:)?//", re.I)


class _Fetches(HTMLParser):
    """What a browser would load for a page: link hrefs, script and image sources, style urls."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.loads: list[tuple[str, str]] = []
        self.scripts = 0
        self.styles: list[str] = []
        self.links: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script":
            self.scripts += 1
        for name in ("href", "src"):
            if tag in ("link", "script", "img") and values.get(name):
                self.loads.append((tag, str(values[name])))
        if tag == "a" and values.get("href"):
            self.links.append(str(values["href"]))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)


def _fetches(text: str) -> _Fetches:
    parser = _Fetches()
    parser.feed(text)
    parser.close()
    return parser


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The Data Docs of a small churn frame, one expectation failing, published to a local store."""
    import yaml

    from pipeline.core.config import parse_config
    from pipeline.core.settings import BUNDLED_CONFIG

    config: PipelineConfig = parse_config(yaml.safe_load(BUNDLED_CONFIG.read_text()))
    frame = generate_batch(BatchSpec(rows=200, seed=1))
    frame = frame[list(config.dataset.columns)]
    frame.loc[frame.index[:5], "contract"] = "lifetime"  # not a declared level: one failed expectation
    suite = Suite(name="churn", expectations=tuple(schema_expectations(config.dataset, config.validation.expectations)))
    outcomes = evaluate_suite(pd.DataFrame(frame), suite)
    assert not all(o.success for o in outcomes)
    root = tmp_path_factory.mktemp("docs")
    uri = publish_data_docs(ObjectStore(root.as_uri()), suite, outcomes, "snap1", None)
    return root / "reports" / "validation" / "data_docs", uri


def test_no_page_fetches_anything_from_the_network(site: tuple[Path, str]) -> None:
    docs, _ = site
    pages = sorted(docs.rglob("*.html"))
    assert {p.relative_to(docs).parts[0] for p in pages} == {"index.html", "expectations", "validations"}
    for page in pages:
        text = page.read_text()
        found = _fetches(text)
        remote = [(tag, url) for tag, url in found.loads if REMOTE.match(url)]
        assert remote == [], (page.name, remote)
        assert found.scripts == 0, page.name  # GX's inline scripts all need jQuery from a CDN
        assert not re.search(r"url\(\s*['\"]?(?:https?:)?//", text), page.name
        for tag, url in found.loads:  # what is left (logo, favicon) is in the site itself
            assert (page.parent / url).resolve().is_file(), (page.name, tag, url)
    for sheet in docs.rglob("*.css"):
        assert not re.search(r"url\(\s*['\"]?(?:https?:)?//", sheet.read_text()), sheet.name


def test_every_page_carries_the_bundled_style(site: tuple[Path, str]) -> None:
    docs, _ = site
    bundled = OFFLINE_CSS.read_text()
    assert ".badge-secondary" in bundled and ".fa-check-circle::before" in bundled and ".table td" in bundled
    for page in docs.rglob("*.html"):
        text = page.read_text()
        assert f'<style id="{OFFLINE_MARKER}">' in text, page.name
        assert bundled.strip() in "".join(_fetches(text).styles), page.name
        assert text.index(OFFLINE_MARKER) < text.index("</head>")


def test_the_validation_page_still_shows_its_results(site: tuple[Path, str]) -> None:
    docs, uri = site
    page = docs / uri.split("/data_docs/", 1)[1]
    text = page.read_text()
    assert "fa-times text-danger" in text and "fa-check-circle text-success" in text  # drawn by the bundled css
    assert "lifetime" in text and "badge badge-secondary" in text


def test_the_index_lists_the_suite_as_a_static_link(site: tuple[Path, str]) -> None:
    docs, _ = site
    found = _fetches((docs / "index.html").read_text())
    assert "expectations/churn.html" in found.links
    assert (docs / "expectations" / "churn.html").is_file()


def test_offline_page_on_a_small_document() -> None:
    page = (
        "<html><head><link rel='stylesheet' href='https://cdn.example/x.css'>"
        '<link rel="stylesheet" href="//cdn.example/y.css"/><style>.a{background:url("https://x/y.png")}</style>'
        '<script src="https://code.jquery.com/jquery.js"></script></head><body>'
        '<img class="NO-CACHE" src="https://assets.example/logo.png?id=1"/><img src="https://tracker.example/p.gif">'
        '<table id="t1" data-toggle="table">\n</table><script>\n  $(\'#t1\').bootstrapTable(\n    Object.assign(\n'
        "      {\n        columns: [{'field': 'name', 'title': 'Suites'}],\n"
        "        data: [{'name': '&#60;b&#62;x', '_table_row_link_path': 'expectations/x.html'}, "
        "{'name': 'evil', '_table_row_link_path': 'javascript:alert(1)'}],\n        toolbar: '#t'\n      }, {}));\n"
        "</script></body></html>"
    )
    out = offline_page(page, "validations/a/b.html")
    assert "cdn.example" not in out and "jquery" not in out and "tracker" not in out and "<script" not in out
    assert 'url("https://x/y.png")' not in out
    assert '<img src="../../static/images/logo-long.png"' in out
    assert '<a href="expectations/x.html">&lt;b&gt;x</a>' in out  # data stays text
    assert "javascript:" not in out and "<td>evil</td>" in out  # no link that is not a relative path
    assert out.index(OFFLINE_MARKER) < out.index("</head>")
