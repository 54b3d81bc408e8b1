"""``ct``: run and inspect the continuous-training loop from a terminal.

Every read command takes ``--json`` and then prints stable field names only. Paths and URLs
come from ``CT_HOME``, ``CT_CONFIG`` and ``CT_DATABASE_URL`` (see ``settings.py``). Each command
group lives in its own module with a ``register(subparsers)`` function.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from pipeline.cli import alerts, db, models, onboard, running, runs, scoring, serve, snapshots, validate
from pipeline.core.errors import CTError
from pipeline.core.settings import load_settings

COMMAND_GROUPS = (onboard, running, runs, scoring, serve, snapshots, models, validate, alerts, db)
BROKEN_PIPE_EXIT = 141
"""What a shell reports for a command killed by SIGPIPE (128 + 13): ``ct ... | head`` ends quietly."""


def package_version() -> str:
    """The installed ``ct-pipeline`` version (``unknown`` when run from a tree that was never installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ct-pipeline")
    except PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ct", description="Continuous training for tabular models on Airflow.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--version", action="version", version=f"ct {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return _run(argv)
    except BrokenPipeError:
        # As POSIX tools do: the reader has all it wanted. Point stdout at /dev/null so the
        # interpreter's final flush does not print "Exception ignored ... BrokenPipeError".
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):  # a stdout without a file descriptor (captured in a test)
            pass
        return BROKEN_PIPE_EXIT


def _run(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        code = int(args.func(args, load_settings()) or 0)
    except CTError as err:
        print(f"error: {err}", file=sys.stderr)
        code = 2
    sys.stdout.flush()  # here, not at exit: a reader that went away (``| head``) is met inside main
    return code


if __name__ == "__main__":
    sys.exit(main())
