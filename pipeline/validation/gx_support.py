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

from pipeline.validation.suite import Suite


def import_gx() -> Any:
    """Import great-expectations with its analytics off; returns the module."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import great_expectations as gx
    for name in ("great_expectations", "great_expectations.data_context", "great_expectations.render"):
        logging.getLogger(name).setLevel(logging.ERROR)  # its INFO/WARNING chatter is not ours to show
    return gx


def quiet_context(context: Any) -> Any:
    """Turn off GX's progress bars (they would fill the task log)."""
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    return context


@contextmanager
def silenced() -> Iterator[None]:
    """Suppress GX's deprecation and runtime warnings inside a block."""
    with warnings.catch_warnings():
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
