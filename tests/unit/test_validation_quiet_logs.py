"""quiet_libraries: named library loggers are quiet inside the block, ours and others are not."""

from __future__ import annotations

import logging
import os

import pytest

from pipeline.quality.gx_support import quiet_libraries


def test_only_the_named_loggers_are_quietened_and_then_restored(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    pinned = logging.getLogger("chatty_lib.types.base")
    pinned.setLevel(logging.INFO)  # as great-expectations pins some of its own module loggers
    levels = {"chatty_lib": logging.ERROR}
    before_tqdm = os.environ.get("TQDM_DISABLE")

    with quiet_libraries(levels):
        logging.getLogger("chatty_lib").info("registering things")
        pinned.info("created a temporary directory")
        pinned.warning("a deprecation")
        logging.getLogger("pipeline.app.stages.validate").info("ours")
        logging.getLogger("other_lib").info("someone else's")
        logging.getLogger("chatty_lib.fatal").error("a real error still shows")
        assert os.environ["TQDM_DISABLE"] == "1"

    assert [(r.name, r.getMessage()) for r in caplog.records] == [
        ("pipeline.app.stages.validate", "ours"),
        ("other_lib", "someone else's"),
        ("chatty_lib.fatal", "a real error still shows"),
    ]
    assert logging.getLogger("chatty_lib").level == logging.NOTSET  # restored
    assert os.environ.get("TQDM_DISABLE") == before_tqdm
    caplog.clear()
    logging.getLogger("chatty_lib").info("after the block the library speaks again")
    assert len(caplog.records) == 1
