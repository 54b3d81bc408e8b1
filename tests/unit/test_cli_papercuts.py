"""Small things a first hour with ``ct`` trips over: ``--version``, ``ct ... | head``, and a forced
``ct run`` without a reason."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.cli import main as ct_main
from pipeline.cli.running import cmd_run
from pipeline.core.errors import CTError
from pipeline.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as done:
        ct_main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"ct {version('ct-pipeline')}"


def test_piped_into_a_reader_that_stops_early_exits_quietly(tmp_path: Path) -> None:
    """``ct models list | head -1``: the reader goes away; no traceback, no "Exception ignored"."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CT_HOME": str(tmp_path / "home"),
        "CT_DATABASE_URL": f"sqlite:///{tmp_path / 'ct.db'}",
    }
    env.pop("CT_CONFIG", None)
    env.pop("CT_DATA_URL", None)
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before the command writes anything
    try:
        done = subprocess.run(
            [sys.executable, "-c", "import sys; from pipeline.cli import main; sys.exit(main())", "alerts"],
            env=env,
            cwd=tmp_path,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr
    assert done.returncode == 141  # what a shell shows for a command stopped by SIGPIPE


def test_ct_run_force_needs_a_reason(settings: Settings) -> None:
    args = argparse.Namespace(spec=None, force=True, reason=None, json=False)
    with pytest.raises(CTError, match=r"--force.*needs a reason \(--reason TEXT\)"):
        cmd_run(args, settings)
    with pytest.raises(CTError, match="needs a reason"):
        cmd_run(argparse.Namespace(spec=None, force=True, reason="   ", json=False), settings)
