"""The few places great-expectations is imported, kept quiet and out of the fast path.

Importing great-expectations costs 2.5-4 s on the reference machine (more than validating a
1 % append), so it is imported only when it adds something: running an expectation type our
own checks do not cover, ``expectations.engine: great_expectations``, and Data Docs.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pipeline.quality.suite import Suite

LIBRARY_LEVELS: dict[str, int] = {
    "great_expectations": logging.ERROR,  # ~200 "Skipping registering function ..." lines at import, and more
    "numexpr": logging.WARNING,  # "NumExpr defaulting to N threads."
    "matplotlib": logging.WARNING,
    "PIL": logging.WARNING,
}
"""Library loggers quietened while validation runs, and the least level they may then show."""


def inherit_levels(prefix: str, below: int) -> None:
    """Let the loggers under ``prefix`` that pinned a level lower than ``below`` inherit instead.

    Some libraries pin their own module loggers (great-expectations sets
    ``great_expectations.data_context.types.base`` to INFO at import), which would make them
    ignore the level of their parent; after this, the one level on ``prefix`` governs them all.
    """
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if (
            name.startswith(prefix + ".")
            and isinstance(logger, logging.Logger)
            and logging.NOTSET < logger.level < below
        ):
            logger.setLevel(logging.NOTSET)


@contextmanager
def quiet_libraries(levels: dict[str, int] | None = None) -> Iterator[None]:
    """Raise the level of chatty library loggers (by name) for the block, then restore them.

    Only the named loggers (and their children, which inherit the level) are touched: our own
    records, and every other library's, still reach the task log. Progress bars are turned off
    for the block too (``TQDM_DISABLE``), so none lands in the log as carriage-return noise.
    """
    chosen = LIBRARY_LEVELS if levels is None else levels
    saved = {name: logging.getLogger(name).level for name in chosen}
    saved_tqdm = os.environ.get("TQDM_DISABLE")
    for name, level in chosen.items():
        inherit_levels(name, level)
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < level:
            logger.setLevel(level)
    os.environ["TQDM_DISABLE"] = "1"
    try:
        yield
    finally:
        for name, level in saved.items():
            inherit_levels(name, chosen[name])  # modules imported inside the block pinned theirs meanwhile
            logging.getLogger(name).setLevel(level)
        if saved_tqdm is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = saved_tqdm


def import_gx() -> Any:
    """Import great-expectations with its analytics off and its import-time chatter silenced."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    with quiet_libraries(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import great_expectations as gx
    inherit_levels("great_expectations", LIBRARY_LEVELS["great_expectations"])
    return gx


def quiet_context(context: Any) -> Any:
    """Turn off GX's progress bars (they would fill the task log)."""
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    return context


@contextmanager
def silenced() -> Iterator[None]:
    """Suppress GX's deprecation and runtime warnings, and its log chatter, inside a block."""
    with quiet_libraries(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def to_gx_suite(suite: Suite, expectations: Any = None) -> Any:
    """A great-expectations ``ExpectationSuite`` of ``suite`` (or of a subset of its expectations)."""
    gx = import_gx()
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    chosen = suite.expectations if expectations is None else expectations
    items = [ExpectationConfiguration(**e.to_gx_dict()).to_domain_obj() for e in chosen]
    return gx.ExpectationSuite(name=suite.name, expectations=items, meta=suite.meta)
