"""`ct models`: list and inspect model versions."""

from __future__ import annotations

import argparse
import json
from typing import Any

from pipeline.cli.output import (
    emit_json,
    fmt_metric,
    model_json,
    open_workspace_for,
    table,
)
from pipeline.errors import CTError
from pipeline.settings import Settings


def _model_ref(ws: Any, ref: list[str]) -> tuple[str, int]:
    if len(ref) == 1:
        name, version = ws.config.model.name, ref[0]
    elif len(ref) == 2:
        name, version = ref
    else:
        raise CTError("expected [NAME] VERSION, e.g. `ct models show 3` or `ct models show churn-classifier 3`")
    try:
        return name, int(str(version).lstrip("v"))
    except ValueError:
        raise CTError(f"version must be a number like 3 or v3, got {version!r}") from None


def cmd_models(args: argparse.Namespace, settings: Settings) -> int:
    ws = open_workspace_for(settings)
    primary = ws.config.promotion.primary_metric
    if args.action == "list":
        versions = ws.meta.list_model_versions(args.name)
        if args.json:
            emit_json([model_json(v) for v in versions])
        else:
            print(table(["name", "version", "aliases", "snapshot", primary + " (95% CI)", "trigger", "created_at"],
                        [[v.name, v.version, ",".join(v.aliases) or "—", v.snapshot_id,
                          fmt_metric(v.metrics.get(primary)), v.trigger.get("kind"), v.created_at]
                         for v in versions]) if versions else "no model versions yet")
        return 0
    name, version = _model_ref(ws, args.ref)
    mv = ws.meta.get_model_version(name, version)
    if args.json:
        emit_json(model_json(mv, full=True))
        return 0
    from pipeline.reports import model_report_key

    print(f"{mv.name} v{mv.version}  aliases: {', '.join(mv.aliases) or '—'}\n"
          f"  snapshot {mv.snapshot_id}, spec {mv.spec_name}, config {mv.config_hash}, code {mv.code_version}\n"
          f"  trigger: {json.dumps(mv.trigger)}\n  artifact: {mv.artifact_uri} (sha256 {mv.artifact_sha256[:16]}…)\n"
          f"  created {mv.created_at}; report {ws.store.uri(model_report_key(mv.name, mv.version))}")
    cv = mv.evaluation.get("cross_validation", {})
    print(table(["metric", "holdout (95% CI)", "CV mean ± std"],
                [[m, fmt_metric(e), f"{cv[m]['mean']:.3f} ± {cv[m]['std']:.3f}" if m in cv else "—"]
                 for m, e in mv.metrics.items()]))
    if mv.decision:
        print(f"decision: {'promoted' if mv.decision['promote'] else 'not promoted'} — {mv.decision['reason']}")
    return 0


def register(sub: Any) -> None:
    """Add this module's commands to the ``ct`` parser."""
    p = sub.add_parser("models", help="list and show model versions")
    s = p.add_subparsers(dest="action", required=True)
    q = s.add_parser("list")
    q.add_argument("--name", help="only this model")
    q.add_argument("--json", action="store_true")
    q = s.add_parser("show")
    q.add_argument("ref", nargs="+", metavar="[NAME] VERSION")
    q.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models)
