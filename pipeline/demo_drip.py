"""``ct demo-data``: drip demo batches into the landing area so a person can watch the loop run."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from pathlib import Path

from pipeline.demo import drip_batch, generate_batch
from pipeline.errors import ConfigError
from pipeline.storage import atomic_write_bytes

log = logging.getLogger(__name__)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h)?\s*$")


def parse_duration(text: str) -> float:
    """``30s``, ``2m``, ``1h`` or a plain number of seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ConfigError(f"--every {text!r}: expected a duration like 30s, 2m or 1h")
    return float(match.group(1)) * {"s": 1, "m": 60, "h": 3600, None: 1}[match.group(2)]


def existing_batches(landing: Path, archive: Path) -> int:
    """How many demo batches were dropped before (so a restart continues the stream)."""
    names = {p.name for root in (landing, archive) if root.exists() for p in root.rglob("demo-*.csv")}
    return len(names)


def drip(landing: Path, archive: Path, every: float, batches: int, rows: int = 2000,
         sleep: Callable[[float], None] = time.sleep, echo: Callable[[str], None] = print) -> list[Path]:
    """Write ``batches`` demo batches, one every ``every`` seconds, each with a ``_SUCCESS`` marker."""
    start = existing_batches(landing, archive)
    written = []
    for n in range(batches):
        index = start + n
        spec = drip_batch(index, rows)
        folder = landing / f"demo-{index + 1:04d}"
        target = folder / f"demo-{index + 1:04d}.csv"
        atomic_write_bytes(target, generate_batch(spec).to_csv(index=False).encode())
        (folder / "_SUCCESS").touch()
        written.append(target)
        echo(f"dropped {target} ({rows} rows{', drifted' if spec.drift else ''}, churn share {spec.churn_share:.0%})")
        if n + 1 < batches:
            sleep(every)
    return written
