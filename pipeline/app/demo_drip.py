"""``ct demo-data``: drip demo batches into the landing area so a person can watch the loop run."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from pipeline.app.demo_data import drip_batch, generate_batch, split_labels
from pipeline.core.errors import ConfigError
from pipeline.core.storage import atomic_write_bytes

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


def drip(
    landing: Path,
    archive: Path,
    every: float,
    batches: int,
    rows: int = 2000,
    sleep: Callable[[float], None] = time.sleep,
    echo: Callable[[str], None] = print,
) -> list[Path]:
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


def drip_unlabelled(
    scoring: Path,
    labels: Path,
    archive: Path,
    every: float,
    batches: int,
    rows: int = 2000,
    sleep: Callable[[float], None] = time.sleep,
    echo: Callable[[str], None] = print,
) -> list[Path]:
    """Drip unlabelled batches into ``scoring/`` and each batch's labels into ``labels/`` one interval later.

    This is how predictions and outcomes arrive in production: the champion scores a batch first,
    and the outcomes are known only later (then joined to the predictions by ``ct_monitor``). Ids
    never collide with the labelled demo stream. Returns the files written, features and labels.
    """
    start = len({p.name for root in (scoring, archive) if root.exists() for p in root.rglob("unlabelled-*.csv")})
    written: list[Path] = []
    pending: tuple[Path, bytes] | None = None

    def drop_labels() -> None:
        assert pending is not None
        target, data = pending
        atomic_write_bytes(target, data)
        (target.parent / "_SUCCESS").touch()
        written.append(target)
        echo(f"dropped {target} (labels of an earlier unlabelled batch)")

    for n in range(batches):
        index = start + n
        spec = replace(drip_batch(index, rows), seed=5000 + index, first_id=50_000_000 + index * 100_000)
        features, late = split_labels(generate_batch(spec))
        name = f"{index + 1:04d}"
        target = scoring / f"unlabelled-{name}" / f"unlabelled-{name}.csv"
        atomic_write_bytes(target, features.to_csv(index=False).encode())
        (target.parent / "_SUCCESS").touch()
        written.append(target)
        echo(f"dropped {target} ({rows} rows without labels{', drifted' if spec.drift else ''})")
        if pending is not None:
            drop_labels()
        pending = (labels / f"labels-{name}" / f"labels-{name}.csv", late.to_csv(index=False).encode())
        sleep(every)
    if pending is not None:
        drop_labels()
    return written
