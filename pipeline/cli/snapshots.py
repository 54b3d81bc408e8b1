"""`ct snapshots`: list and inspect snapshots."""

from __future__ import annotations

import argparse
from typing import Any

from pipeline.cli.output import (
    emit_json,
    open_workspace_for,
    snapshot_json,
    table,
)
from pipeline.settings import Settings


def cmd_snapshots(args: argparse.Namespace, settings: Settings) -> int:
    ws = open_workspace_for(settings)
    if args.action == "list":
        records = ws.meta.list_snapshots()
        if args.json:
            emit_json([snapshot_json(r) for r in records])
        else:
            print(table(["id", "parent", "rows", "parts", "created_at"],
                        [[r.id, r.parent or "—", r.rows, r.parts, r.created_at] for r in records]) if records
                  else "no snapshots yet")
        return 0
    from pipeline.snapshots import read_manifest

    rec = ws.meta.get_snapshot(args.id)
    manifest = read_manifest(ws.store, rec.id)
    validation = ws.meta.latest_validation(rec.id)
    data = {**snapshot_json(rec), "schema": [list(c) for c in manifest.schema],
            "part_list": [p.to_dict() for p in manifest.parts],
            "validation": validation.to_dict() if validation else None}
    if args.json:
        emit_json(data)
        return 0
    print(f"snapshot {rec.id} ({rec.dataset}): {rec.rows} rows in {rec.parts} part(s), parent {rec.parent or '—'}, "
          f"created {rec.created_at}\nmanifest: {rec.manifest_uri}")
    print(table(["part", "rows", "source file", "source sha256"],
                [[p.id[:16], p.rows, p.source.name, p.source.sha256[:16]] for p in manifest.parts]))
    if validation:
        s = validation.summary
        print(f"validation #{validation.id}: {'passed' if validation.passed else 'FAILED'}; drifted "
              f"{s.get('drifted_features') or 'none'}; label contract held: {s.get('label_contract_held')}; "
              f"report {validation.report_uri}")
    return 0


def register(sub: Any) -> None:
    """Add this module's commands to the ``ct`` parser."""
    p = sub.add_parser("snapshots", help="list and show snapshots")
    s = p.add_subparsers(dest="action", required=True)
    q = s.add_parser("list")
    q.add_argument("--json", action="store_true")
    q = s.add_parser("show")
    q.add_argument("id", help="snapshot id or a unique prefix")
    q.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_snapshots)
