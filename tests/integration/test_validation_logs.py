"""The validate task log shows the stage's own lines, not great-expectations' chatter.

A fresh process (validate_log_probe.py) imports great-expectations for the first time inside the
stage, as an Airflow task does; before this was fixed, its import alone logged about 200
"Skipping registering function ..." lines at INFO ahead of the result.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.core.settings import PROJECT_ROOT

pytestmark = pytest.mark.slow

MAX_LIBRARY_RECORDS = 5


def test_one_validation_logs_our_lines_first_and_hardly_any_library_lines(tmp_path: Path) -> None:
    probe = Path(__file__).with_name("validate_log_probe.py")
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "CT_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, str(probe), str(tmp_path)],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    records = found["records"]

    assert found["passed"] is True and records
    ours = [r for r in records if r[0].split(".")[0] in ("pipeline", "ct")]
    foreign = [r for r in records if r not in ours]
    assert records[0][0] == "pipeline.app.stages.validate" and "validating snapshot" in records[0][2]
    assert len(foreign) <= MAX_LIBRARY_RECORDS, foreign[:10]
    assert not any("Skipping registering function" in r[2] for r in records)
    assert any(r[0] == "ct.progress" and "validate: passed" in r[2] for r in ours)
    for bar in ("it/s]", "%|", "Calculating Metrics"):  # no progress bar reached stderr
        assert bar not in found["stderr"], found["stderr"][-500:]
