"""great-expectations Data Docs for a validation, published under ``reports/validation/data_docs/``.

GX renders Data Docs from validation results kept in a context's stores, and only a file-backed
context builds a site, so each publication uses a throw-away file context in a temporary
directory: the suite and a GX validation result rebuilt from our own outcomes (the checks are not
run a second time) are stored there, the site is built, and its files are copied into the object
store. All validations share one site: static assets are written once, each validation page
lives at its own path (run name = snapshot id, run time = now), and the suite page and
``index.html`` show the latest suite and validation.

GX's renderer escapes some values and not others (column names in headings and the sidebar,
unexpected values in tables are emitted raw in 1.24), so no string from the data reaches it as
it is: every string that could be markup (``<``, ``>``, ``&``, quotes, backslash, control
characters) is swapped for an opaque alphanumeric token before rendering, and each token is
swapped back, escaped by us, in the rendered files. Whatever GX escapes or forgets, data can
never become markup, in text, attributes or inline scripts.

GX's pages load Bootstrap, Font Awesome, jQuery, bootstrap-table and vega from CDNs and a logo
from S3 (with the context's id in the URL).  Published pages must render without a network, so
:func:`offline_page` removes every remote ``<link>``, every ``<script>`` (all of GX's inline
scripts need jQuery), remote ``url(...)`` in styles and the remote logo (the site's own copy is
used), fills the tables GX builds with JavaScript (the index's lists) with static rows, and
inlines a bundled stylesheet (``pipeline/reporting/static/data_docs.css``) that styles the
classes GX uses.  Links to GX's documentation stay: they fetch nothing until clicked.
"""

from __future__ import annotations

import ast
import html
import logging
import re
import secrets
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from pipeline.core.storage import ObjectStore
from pipeline.quality.expectations import ExpectationOutcome
from pipeline.quality.suite import Suite

log = logging.getLogger(__name__)

DOCS_PREFIX = "reports/validation/data_docs"
_SHARED_PAGES = ("index.html", "expectations/")
"""Pages rebuilt by every publication (derived, so replacing them loses nothing)."""

_UNSAFE = re.compile(r"[<>&\"'`\\\x00-\x1f\x7f]")
"""Characters that let a string become markup or leave a quoted attribute or script string."""


OFFLINE_CSS = Path(__file__).resolve().parents[1] / "reporting" / "static" / "data_docs.css"
"""The stylesheet inlined into every published Data Docs page (in place of GX's CDN links)."""

OFFLINE_MARKER = "ct-offline-data-docs"
"""The id of the inlined ``<style>`` element: a published page carries it."""

_REMOTE = r"(?:https?:)?//"
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script\s*>", re.I | re.S)
_REMOTE_LINK = re.compile(rf"<link\b[^>]*\bhref\s*=\s*[\"']?{_REMOTE}[^>]*>", re.I)
_REMOTE_IMG = re.compile(rf"<img\b[^>]*\bsrc\s*=\s*[\"']?{_REMOTE}[^>]*>", re.I | re.S)
_REMOTE_CSS_URL = re.compile(rf"url\(\s*[\"']?{_REMOTE}[^)]*\)", re.I)
_JS_TABLE = re.compile(
    r"\$\('#([\w-]+)'\)\.bootstrapTable\(\s*Object\.assign\(\s*\{\s*columns:\s*(\[.*?\]),\s*data:\s*(\[.*?\]),\s*\n",
    re.S,
)
_TAG = re.compile(r"<[^>]*>")


@cache
def offline_css() -> str:
    """The bundled Data Docs stylesheet."""
    return OFFLINE_CSS.read_text(encoding="utf-8")


def _cell_text(value: Any) -> str:
    """A bootstrap-table cell value as escaped text (GX's own markup in it dropped; data stays text)."""
    text = "" if value is None else str(value)
    return html.escape(html.unescape(_TAG.sub("", text)))


def _static_table(columns: list[dict[str, Any]], rows: list[dict[str, Any]]) -> str:
    """The header and body of a table GX fills with bootstrap-table, as static markup; the first
    cell of a row links where GX's row click would go (relative links only)."""
    fields = [str(c.get("field")) for c in columns]
    head = "".join(f"<th>{_cell_text(c.get('title', c.get('field')))}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        link = str(row.get("_table_row_link_path") or "")
        for k, name in enumerate(fields):
            text = _cell_text(row.get(name))
            if k == 0 and link and ":" not in link and not link.startswith("//"):
                text = f'<a href="{html.escape(link, quote=True)}">{text}</a>'
            cells.append(f"<td>{text}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody>"


def _js_tables(text: str) -> dict[str, str]:
    """Static markup for each table the page's scripts would fill, by table id."""
    out = {}
    for m in _JS_TABLE.finditer(text):
        try:
            columns, rows = ast.literal_eval(m[2]), ast.literal_eval(m[3])
        except (ValueError, SyntaxError):
            log.debug("Data Docs table %s: its data could not be read; left empty", m[1])
            continue
        if isinstance(columns, list) and isinstance(rows, list):
            out[m[1]] = _static_table(
                [c for c in columns if isinstance(c, dict)], [r for r in rows if isinstance(r, dict)]
            )
    return out


def offline_page(text: str, rel: str) -> str:
    """A rendered Data Docs page (at ``rel`` in the site) that renders styled with no network.

    See the module docstring: remote stylesheets, scripts, images and style URLs are removed,
    the GX logo comes from the site's ``static/images``, tables built by script are written
    out, and the bundled stylesheet is inlined before ``</head>``.
    """
    tables = _js_tables(text)
    text = _SCRIPT.sub("", text)
    text = _REMOTE_LINK.sub("", text)
    logo = "../" * rel.count("/") + "static/images/logo-long.png"
    text = _REMOTE_IMG.sub(
        lambda m: f'<img src="{logo}" alt="Great Expectations" style="height:32px">' if "NO-CACHE" in m[0] else "", text
    )
    text = _REMOTE_CSS_URL.sub("none", text)
    # GX writes the favicon's path one level short on validation pages: point it at the site's copy
    text = re.sub(r'(<link rel="shortcut icon" href=")[./]*static/', rf"\g<1>{'../' * rel.count('/')}static/", text)
    for table_id, markup in tables.items():
        text = re.sub(
            rf"(<table\b[^>]*\bid=\"{re.escape(table_id)}\"[^>]*>)\s*(</table>)",
            lambda m, markup=markup: m[1] + markup + m[2],  # type: ignore[misc]
            text,
            count=1,
        )
    style = f'<style id="{OFFLINE_MARKER}">\n{offline_css()}</style>\n'
    head_end = re.search(r"</head\s*>", text, re.I)
    return text[: head_end.start()] + style + text[head_end.start() :] if head_end else style + text


def escape_everywhere(text: str) -> str:
    """``text`` as character references except letters, digits and ``_.,:/+-``.

    Safe in element text, in quoted and unquoted attributes and inside a script's string
    literal (no quote, backslash or angle bracket survives), and it reads the same in a browser.
    """
    return "".join(c if c.isalnum() or c in "_.,:/+-" else f"&#{ord(c)};" for c in text)


@dataclass
class DataMask:
    """Swaps strings that could be markup for opaque tokens, and back (escaped) in rendered text."""

    nonce: str = field(default_factory=lambda: secrets.token_hex(6))
    originals: list[str] = field(default_factory=list)
    _tokens: dict[str, str] = field(default_factory=dict)

    def token(self, text: str) -> str:
        if text not in self._tokens:
            self._tokens[text] = f"ctm{self.nonce}v{len(self.originals)}z"
            self.originals.append(text)
        return self._tokens[text]

    def mask(self, value: Any) -> Any:
        """``value`` with every unsafe string (keys included) replaced by its token, recursively."""
        if isinstance(value, str):
            return self.token(value) if _UNSAFE.search(value) else value
        if isinstance(value, dict):
            return {self.mask(k): self.mask(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.mask(v) for v in value)
        return value

    def unmask(self, text: str) -> str:
        """Rendered ``text`` with each token replaced by its original, escaped everywhere-safe."""
        if not self.originals:
            return text
        return re.sub(f"ctm{self.nonce}v(\\d+)z", lambda m: escape_everywhere(self.originals[int(m[1])]), text)


def publish_data_docs(
    store: ObjectStore,
    suite: Suite,
    outcomes: Sequence[ExpectationOutcome],
    snapshot_id: str,
    reference_snapshot_id: str | None,
    prefix: str = DOCS_PREFIX,
) -> str:
    """Render the Data Docs page of one validation and store the site; returns the page's URI."""
    from pipeline.quality.gx_support import import_gx, quiet_context, silenced

    gx = import_gx()
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResult,
        ExpectationValidationResult,
    )
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    masks = DataMask()
    configs = {e.id: masks.mask(e.to_gx_dict()) for e in suite.expectations}
    results = [
        ExpectationValidationResult(
            success=o.success,
            expectation_config=ExpectationConfiguration(**configs[o.id]),
            result=masks.mask(o.result),
            exception_info={
                "raised_exception": bool(o.error),
                "exception_message": masks.mask(o.error),
                "exception_traceback": None,
            },
        )
        for o in outcomes
    ]
    gx_suite = gx.ExpectationSuite(
        name=suite.name,
        meta=masks.mask(suite.meta),
        expectations=[ExpectationConfiguration(**c).to_domain_obj() for c in configs.values()],
    )
    passed = sum(o.success for o in outcomes)
    run_id = RunIdentifier(run_name=snapshot_id, run_time=datetime.now(UTC))
    batch = f"{snapshot_id}-new-since-{reference_snapshot_id or 'start'}"
    result = ExpectationSuiteValidationResult(
        success=passed == len(outcomes),
        results=results,
        suite_name=suite.name,
        statistics={
            "evaluated_expectations": len(outcomes),
            "successful_expectations": passed,
            "unsuccessful_expectations": len(outcomes) - passed,
            "success_percent": 100.0 * passed / len(outcomes) if outcomes else 100.0,
        },
        meta={
            "run_id": run_id,
            "validation_time": run_id.run_time,
            "active_batch_definition": None,
            "batch_spec": {"snapshot_id": snapshot_id, "reference_snapshot_id": reference_snapshot_id},
            "great_expectations_version": gx.__version__,
        },
    )
    key = ValidationResultIdentifier(
        expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite.name), run_id=run_id, batch_identifier=batch
    )
    with tempfile.TemporaryDirectory(prefix="ct-data-docs-") as tmp, silenced():
        context = quiet_context(gx.get_context(mode="file", project_root_dir=tmp))
        context.suites.add(gx_suite)
        context.validation_results_store.set(key, result)
        context.build_data_docs(resource_identifiers=[key, ExpectationSuiteIdentifier(name=suite.name)])
        page = Path(context.get_docs_sites_urls(resource_identifier=key)[0]["site_url"].removeprefix("file://"))
        site = next(p for p in page.parents if p.name == "local_site")
        for path in sorted(p for p in site.rglob("*") if p.is_file()):
            rel = path.relative_to(site).as_posix()
            data = path.read_bytes()
            if path.suffix in (".html", ".json", ".js"):
                data = masks.unmask(data.decode("utf-8")).encode("utf-8")
            if path.suffix == ".html":
                data = offline_page(data.decode("utf-8"), rel).encode("utf-8")
            elif path.suffix == ".css":
                data = _REMOTE_CSS_URL.sub("none", data.decode("utf-8")).encode("utf-8")
            if rel.startswith(_SHARED_PAGES):
                store.replace(f"{prefix}/{rel}", data)
            else:
                store.put(f"{prefix}/{rel}", data)
        page_key = f"{prefix}/{page.relative_to(site).as_posix()}"
    log.info("Data Docs of snapshot %s: %s", snapshot_id, store.uri(page_key))
    return store.uri(page_key)
