"""``ct``: run and inspect the continuous-training loop from a terminal.

Every read command takes ``--json`` and then prints stable field names only. Paths and URLs
come from ``CT_HOME``, ``CT_CONFIG`` and ``CT_DATABASE_URL`` (see ``settings.py``). Each command
group lives in its own module with a ``register(subparsers)`` function.
"""

from __future__ import annotations

import argparse
import logging
import sys

from pipeline.cli import alerts, db, models, onboard, running, runs, scoring, snapshots, validate
from pipeline.errors import CTError
from pipeline.settings import load_settings

COMMAND_GROUPS = (onboard, running, runs, scoring, snapshots, models, validate, alerts, db)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ct", description="Continuous training for tabular models on Airflow.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args, load_settings()) or 0)
    except CTError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
