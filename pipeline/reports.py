"""HTML reports for each validation and each model version, stored under ``reports/``.

Deliberately plain (one self-contained page, no JavaScript) so they open from a file or an
object-store link; the task log prints where they are.
"""

from __future__ import annotations

import hashlib
import html
import json
from typing import TYPE_CHECKING, Any

from pipeline.storage import ObjectStore

if TYPE_CHECKING:
    from pipeline.registry.base import ModelVersion
    from pipeline.validation.report import ValidationReport

_STYLE = """<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse;
margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}th{background:#f4f4f4}
.bad{color:#b00020;font-weight:600}.ok{color:#1b5e20}code{background:#f4f4f4;padding:1px 3px}</style>"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _verdict(ok: bool | None, yes: str = "passed", no: str = "failed") -> str:
    if ok is None:
        return "—"
    return f'<span class="ok">{yes}</span>' if ok else f'<span class="bad">{no}</span>'


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.4g}"
    return _e(x) if x is not None else "—"


def render_validation_html(report: ValidationReport) -> str:
    checks = [[_e(c.name), _e(c.severity), _verdict(c.passed), _e(c.message)] for c in report.checks]
    parts = [f"<html><head><meta charset='utf-8'><title>Validation {_e(report.snapshot_id)}</title>{_STYLE}</head><body>",
             f"<h1>Validation of snapshot <code>{_e(report.snapshot_id)}</code>: {_verdict(report.passed)}</h1>",
             f"<p>{report.new_rows} new rows checked against reference snapshot "
             f"<code>{_e(report.reference_snapshot_id or 'none')}</code>.</p>",
             "<h2>Checks</h2>", _table(["check", "severity", "outcome", "details"], checks)]
    if report.drift:
        rows = [[_e(f.feature), _e(f.kind), _e(f.test), _fmt(f.score), _fmt(f.p_value), _fmt(f.adjusted_p_value),
                 _fmt(f.effect_size), _fmt(f.threshold), _verdict(not f.drifted, "stable", "drifted")]
                for f in report.drift.features]
        parts += [f"<h2>Drift (share of drifted features {report.drift.drift_share:.0%})</h2>",
                  _table(["feature", "kind", "test", "score", "p-value", "BH p-value", "effect size", "threshold",
                          "verdict"], rows)]
    if report.label_contract:
        lc = report.label_contract
        rows = [[_e(k), _fmt(lc.expected_shares.get(k)), _fmt(v), _e(lc.counts.get(k, 0))]
                for k, v in lc.observed_shares.items()]
        parts += ["<h2>Label contract</h2>", f"<p>{_verdict(lc.held, 'held', 'broken')}: {_e(lc.message)}</p>",
                  _table(["class", "expected share", "observed share", "count"], rows)]
    parts.append("</body></html>")
    return "".join(parts)


def write_validation_report(store: ObjectStore, report: ValidationReport) -> str:
    """Store the HTML and JSON of a validation; returns the HTML URL."""
    stem = f"reports/validation/{report.snapshot_id}_{report.reference_snapshot_id or 'noref'}"
    payload = json.dumps(report.to_dict(), sort_keys=True, default=str).encode()
    stem += "_" + hashlib.sha256(payload).hexdigest()[:8]
    store.put(f"{stem}.json", payload)
    store.put(f"{stem}.html", render_validation_html(report).encode())
    return store.uri(f"{stem}.html")


def render_model_html(mv: ModelVersion) -> str:
    ev = mv.evaluation
    rows = [[_e(m), _fmt(e["value"]), f"{_fmt(e['lower'])} – {_fmt(e['upper'])}",
             _fmt(ev["cross_validation"].get(m, {}).get("mean")), _fmt(ev["cross_validation"].get(m, {}).get("std"))]
            for m, e in ev["holdout"].items()]
    parts = [f"<html><head><meta charset='utf-8'><title>{_e(mv.name)} v{mv.version}</title>{_STYLE}</head><body>",
             f"<h1>{_e(mv.name)} v{mv.version}</h1>",
             _table(["field", "value"], [
                 ["aliases", _e(", ".join(mv.aliases) or "—")], ["snapshot", f"<code>{_e(mv.snapshot_id)}</code>"],
                 ["spec", _e(mv.spec_name)], ["params", f"<code>{_e(json.dumps(mv.params))}</code>"],
                 ["config hash", _e(mv.config_hash)], ["code version", _e(mv.code_version)],
                 ["trigger", f"<code>{_e(json.dumps(mv.trigger))}</code>"], ["created", _e(mv.created_at)],
                 ["artifact", f"<code>{_e(mv.artifact_uri)}</code> sha256 {_e(mv.artifact_sha256[:16])}…"]]),
             f"<h2>Holdout metrics ({ev['holdout_rows']} rows, 95% bootstrap intervals) and cross-validation "
             f"({ev['train_rows']} training rows)</h2>",
             _table(["metric", "holdout", "95% interval", "CV mean", "CV std"], rows)]
    if ev.get("champion"):
        cmp = ev["champion"]["comparison"]
        parts += [f"<h2>Against champion v{ev['champion']['version']}</h2>",
                  _table(["metric", "challenger", "champion", "difference", "95% interval", "P(challenger better)"],
                         [[_e(cmp["metric"]), _fmt(cmp["challenger"]), _fmt(cmp["champion"]), _fmt(cmp["difference"]),
                           f"{_fmt(cmp['lower'])} – {_fmt(cmp['upper'])}", _fmt(cmp["prob_challenger_better"])]])]
    if mv.decision:
        parts += ["<h2>Promotion decision</h2>",
                  f"<p>{_verdict(mv.decision['promote'], 'promoted', 'not promoted')}: {_e(mv.decision['reason'])}</p>",
                  _table(["check", "passed", "details"],
                         [[_e(c["check"]), _verdict(c["passed"]),
                           _e(json.dumps({k: v for k, v in c.items() if k not in ("check", "passed")}))]
                          for c in mv.decision["checks"]])]
    parts.append("</body></html>")
    return "".join(parts)


def model_report_key(name: str, version: int) -> str:
    return f"reports/models/{name}/v{version}.html"


def write_model_report(store: ObjectStore, mv: ModelVersion) -> str:
    """(Re)write the page of a model version; it changes once the decision is recorded."""
    key = model_report_key(mv.name, mv.version)
    data = render_model_html(mv).encode()
    store.replace(key, data)  # derived from the registry, so rewriting it loses nothing
    return store.uri(key)
