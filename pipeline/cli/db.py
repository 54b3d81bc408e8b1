"""`ct db`: metadata database maintenance."""

from __future__ import annotations

import argparse
from typing import Any

from pipeline.settings import Settings


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.registry.sql import SqlMetadataStore

    store = SqlMetadataStore(settings.database_url, create=True)
    print(f"metadata schema is up to date in {store.safe_url}")
    return 0


def register(sub: Any) -> None:
    """Add this module's commands to the ``ct`` parser."""
    p = sub.add_parser("db", help="metadata database maintenance")
    s = p.add_subparsers(dest="action", required=True)
    s.add_parser("upgrade", help="create or migrate the metadata schema")
    p.set_defaults(func=cmd_db)
