"""`ct db`: metadata database maintenance (create, migrate, show the schema version)."""

from __future__ import annotations

import argparse
from typing import Any

from pipeline.cli.output import emit_json
from pipeline.core.settings import Settings


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.registry import schema
    from pipeline.registry.sql import safe_url, stored_schema_version, upgrade_schema

    if args.action == "status":
        found = stored_schema_version(settings.database_url)
        state = (
            "missing"
            if found is None
            else "current"
            if found == schema.SCHEMA_VERSION
            else "older"
            if found < schema.SCHEMA_VERSION
            else "newer"
        )
        if args.json:
            emit_json({"schema_version": found, "code_schema_version": schema.SCHEMA_VERSION, "state": state})
        else:
            advice = {
                "missing": "; run `ct db upgrade` to create it",
                "older": "; run `ct db upgrade` to migrate it",
                "newer": "; upgrade this code to match it",
                "current": "",
            }[state]
            print(
                f"metadata schema version {found if found is not None else '—'} ({state}), this code expects "
                f"{schema.SCHEMA_VERSION}{advice}"
            )
        return 0 if state == "current" else 1

    result = upgrade_schema(settings.database_url)
    where = safe_url(settings.database_url)
    if result.created:
        print(f"created metadata schema v{result.version} in {where}")
    elif result.applied:
        steps = ", ".join(f"v{n} -> v{n + 1}" for n in result.applied)
        print(f"migrated metadata schema in {where}: {steps}")
    else:
        print(f"metadata schema v{result.version} is up to date in {where}")
    return 0


def register(sub: Any) -> None:
    """Add this module's commands to the ``ct`` parser."""
    p = sub.add_parser("db", help="metadata database maintenance")
    s = p.add_subparsers(dest="action", required=True)
    s.add_parser("upgrade", help="create or migrate the metadata schema (step by step, safe to repeat)")
    q = s.add_parser("status", help="the stored schema version against this code's (exit 1 unless current)")
    q.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_db)
