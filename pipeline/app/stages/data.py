"""The rows a training run uses: the configured window over a snapshot, read once per stage.

Train and evaluate must see exactly the same parts, or the holdout would shift between them.
"""

from __future__ import annotations

import pandas as pd

from pipeline.app.workspace import Workspace
from pipeline.data.snapshots import Snapshot, load_parts, read_manifest, select_window


def training_data(ws: Workspace, snapshot_id: str) -> tuple[Snapshot, pd.DataFrame]:
    """The snapshot and the rows of its training window (``window:`` in the config)."""
    snapshot = read_manifest(ws.store, snapshot_id)
    return snapshot, load_parts(ws.store, select_window(snapshot, ws.config.window), snapshot.id)
