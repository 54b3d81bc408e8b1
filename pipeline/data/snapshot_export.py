"""Export a snapshot's rows to one local file (``ct snapshots export``): this project's ``dvc checkout``.

Every part is read through :func:`pipeline.data.snapshots.load_snapshot`, so a damaged part stops the
export exactly as it stops training. The file appears whole or not at all (written beside the
target, then linked or renamed into place), and an existing file is never replaced unless asked.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pipeline.core.errors import SnapshotError
from pipeline.core.storage import ObjectStore, fsync_dir
from pipeline.data.snapshots import Snapshot, load_snapshot

FORMATS = {".parquet": "parquet", ".csv": "csv"}


@dataclass(frozen=True)
class SnapshotExport:
    """What was written: where, in which format, how many rows and columns, and its size."""

    snapshot_id: str
    path: str
    format: str
    rows: int
    columns: int
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def export_format(target: Path) -> str:
    """``parquet`` or ``csv`` from the file name; any other extension is refused with the choices."""
    fmt = FORMATS.get(target.suffix.lower())
    if fmt is None:
        raise SnapshotError(
            f"--to {target}: unknown extension {target.suffix or '(none)'!r}; name the file "
            f"{' or '.join('…' + s for s in FORMATS)} to choose the format"
        )
    return fmt


def export_snapshot(store: ObjectStore, snapshot: Snapshot, target: Path, force: bool = False) -> SnapshotExport:
    """Write every row of ``snapshot`` (all parts, each verified) to ``target`` atomically.

    Refuses an existing ``target`` unless ``force``; the check and the write are one step (a hard
    link that fails when the name is taken), so a file created meanwhile is not overwritten either.
    """
    fmt = export_format(target)
    if target.exists() and not force:
        raise SnapshotError(f"{target} exists already; pass --force to replace it, or choose another file")
    if not target.parent.is_dir():
        raise SnapshotError(f"--to {target}: folder {target.parent} does not exist; create it first")
    frame = load_snapshot(store, snapshot)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        if fmt == "parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        if force:
            os.replace(tmp, target)
        else:
            try:
                os.link(tmp, target)
            except FileExistsError:
                raise SnapshotError(f"{target} was created while the export ran; pass --force to replace it") from None
            except OSError:  # a filesystem without hard links: the exists check above has to do
                if target.exists():
                    raise SnapshotError(
                        f"{target} was created while the export ran; pass --force to replace it"
                    ) from None
                os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(target.parent)
    return SnapshotExport(
        snapshot_id=snapshot.id,
        path=str(target),
        format=fmt,
        rows=len(frame),
        columns=frame.shape[1],
        bytes=target.stat().st_size,
    )
