"""`ct alerts`: what the pipeline alerted on (failures, validations, drops, drift, promotions), newest first.

Reads the alerts table only, so it works when the config is broken (often the very reason a
task failed). ``--json`` prints every stored field, including the webhook delivery status.
"""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.cli.output import emit_json, table
from pipeline.core.errors import CTError
from pipeline.core.settings import Settings
from pipeline.registry.alert import KINDS

DEFAULT_LIMIT = 50
_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|h|d|w)\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_TITLE_WIDTH = 80


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``24h``, ``30m``, ``7d``, ``2w`` back from now, or an ISO date/time (UTC when it has no zone)."""
    now = now or datetime.now(UTC)
    if match := _RELATIVE.match(text):
        return now - timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise CTError(
            f"--since {text!r}: expected a time back from now such as 30m, 24h, 7d or 2w, or an ISO "
            "date/time such as 2026-01-31 or 2026-01-31T08:00:00+00:00"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _delivery(status: str, detail: str | None) -> str:
    if status == "not_configured":
        return "—"
    return f"{status} ({detail})" if status == "failed" and detail else status


def _short(text: str, width: int = _TITLE_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def cmd_alerts(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.registry.sql import SqlMetadataStore

    if args.limit is not None and args.limit < 1:
        raise CTError(f"--limit {args.limit}: expected a whole number of alerts ≥ 1")
    since = parse_since(args.since) if args.since else None
    store = SqlMetadataStore(settings.database_url)
    try:
        alerts = store.list_alerts(kind=args.kind, since=since, limit=args.limit)
    finally:
        store.dispose()
    if args.json:
        emit_json([a.to_dict() for a in alerts])
        return 0
    if not alerts:
        print("no alerts match" if (args.kind or since) else "no alerts yet")
        return 0
    print(
        table(
            ["#", "when (UTC)", "severity", "kind", "title", "webhook"],
            [
                [
                    a.id,
                    a.created_at.replace("+00:00", ""),
                    a.severity,
                    a.kind,
                    _short(a.title),
                    _delivery(a.delivery_status, a.delivery_detail),
                ]
                for a in alerts
            ],
        )
    )
    if len(alerts) == args.limit:
        print(f"(the {args.limit} newest; --limit N for more, --json for messages and details)")
    return 0


def register(sub: Any) -> None:
    """Add this module's commands to the ``ct`` parser."""
    p = sub.add_parser("alerts", help="alerts raised by the pipeline (newest first)")
    p.add_argument("--kind", choices=KINDS, help="only this kind")
    p.add_argument("--since", metavar="ISO|24h", help="only alerts since this time, or this long ago (30m, 24h, 7d)")
    p.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help=f"at most this many (default {DEFAULT_LIMIT})")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_alerts)
