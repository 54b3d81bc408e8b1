"""Reference and current distributions of each feature of a validation, for the drift overlays.

A stored validation keeps the verdict per feature but not the distributions compared, so they are
rebuilt from what validation itself cached: the reference snapshot's drift profiles
(``snapshots/statistics/<key>/profiles/<snapshot>.npz``: a thinned sorted sample per numeric
feature, level shares per categorical one) and the per-part statistics of the parts new since the
reference (a thinned sorted sample per numeric feature, level counts per categorical one). Reading
one validation's overlays therefore reads one profile and a few small per-part objects, never the
snapshots. A profile or part statistics missing from the cache (the config changed the cache key,
or the cache was cleared) is computed in memory from the parts, as validation would, but not
written: a page view never changes the store.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.app.workspace import Workspace
from pipeline.core.errors import SnapshotError
from pipeline.data.snapshots import Part, Snapshot, load_parts, new_parts_since, read_manifest
from pipeline.quality.drift_profiles import NULL_LEVEL, CategoricalProfile, NumericProfile, Profile
from pipeline.quality.part_stats import (
    PartStats,
    StatisticsCache,
    add_counts,
    compute_part_stats,
    decode_part_stats,
    decode_profiles,
    profiles_from_stats,
)

log = logging.getLogger(__name__)

HISTOGRAM_BINS = 24
"""Bins of a numeric overlay (a feature of few whole numbers gets one bin per value instead)."""
MAX_INTEGER_BINS = 40
"""Largest range of a whole-number feature drawn with one bin per value."""
MAX_LEVELS = 10
"""Levels of a categorical overlay shown by name; the rest are summed into one bar."""
MISSING_LABEL = "(missing)"


@dataclass(frozen=True)
class NumericOverlay:
    """Shares of reference and current rows in the same bins (``edges`` has one more entry)."""

    edges: tuple[float, ...]
    reference_shares: tuple[float, ...]
    current_shares: tuple[float, ...]
    reference_rows: int
    current_rows: int


@dataclass(frozen=True)
class CategoryOverlay:
    """Shares of reference and current rows per level, the most common first."""

    levels: tuple[str, ...]
    reference_shares: tuple[float, ...]
    current_shares: tuple[float, ...]
    reference_rows: int
    current_rows: int


Overlay = NumericOverlay | CategoryOverlay


@dataclass(frozen=True)
class Overlays:
    """Per feature the overlay (features it could not be drawn for are absent), and why none when empty."""

    by_feature: dict[str, Overlay]
    note: str | None = None


def _part_stats(ws: Workspace, cache: StatisticsCache, part: Part) -> PartStats:
    """A part's cached statistics with samples, else computed from the part (not stored)."""
    key = cache.part_key(part.id)
    if ws.store.exists(key):
        samples = key.removesuffix(".json") + ".samples.npz"
        return decode_part_stats(ws.store.get(key), ws.store.get(samples) if ws.store.exists(samples) else None)
    log.info("no cached statistics for part %s: computing them from the part for the overlay", part.id)
    return compute_part_stats(part.id, load_parts(ws.store, [part]), ws.config)


def _reference_profiles(ws: Workspace, cache: StatisticsCache, reference: Snapshot) -> dict[str, Profile]:
    key = f"{cache.prefix}/profiles/{reference.id}.npz"
    if ws.store.exists(key):
        return decode_profiles(ws.store.get(key))
    log.info("no cached drift profiles for snapshot %s: merging them from its parts' statistics", reference.id)
    return profiles_from_stats([_part_stats(ws, cache, p) for p in reference.parts], ws.config)


def _bin_edges(values: np.ndarray) -> np.ndarray:
    lo, hi = float(values.min()), float(values.max())
    if np.all(np.mod(values, 1.0) == 0) and hi - lo <= MAX_INTEGER_BINS:
        return np.arange(lo - 0.5, hi + 1.5, 1.0)
    if hi == lo:
        return np.array([lo - 0.5, lo + 0.5])
    return np.linspace(lo, hi, HISTOGRAM_BINS + 1)


def _shares(values: np.ndarray, weights: np.ndarray, edges: np.ndarray) -> tuple[float, ...]:
    counts, _ = np.histogram(values, bins=edges, weights=weights)
    total = float(counts.sum())
    return tuple(float(c) / total for c in counts) if total > 0 else tuple(0.0 for _ in counts)


def numeric_overlay(
    reference: NumericProfile, current: Sequence[tuple[np.ndarray, float, int]]
) -> NumericOverlay | None:
    """Overlay of a reference profile and current samples ``(sorted sample, weight, rows)``.

    The reference sample is evenly thinned, so each of its values stands for the same number of
    rows; a current sample value stands for ``weight`` rows of its part.
    """
    ref_values = np.asarray(reference.sorted_sample, dtype=float)
    pieces = [(np.asarray(s, dtype=float), w, n) for s, w, n in current if len(s)]
    if not ref_values.size or not pieces:
        return None
    cur_values = np.concatenate([s for s, _, _ in pieces])
    cur_weights = np.concatenate([np.full(s.size, w) for s, w, _ in pieces])
    edges = _bin_edges(np.concatenate([ref_values, cur_values]))
    return NumericOverlay(
        edges=tuple(float(e) for e in edges),
        reference_shares=_shares(ref_values, np.ones(ref_values.size), edges),
        current_shares=_shares(cur_values, cur_weights, edges),
        reference_rows=int(reference.count or ref_values.size),
        current_rows=int(sum(n for _, _, n in pieces)),
    )


def category_overlay(reference: CategoricalProfile, current: dict[str, int]) -> CategoryOverlay | None:
    """Overlay of a reference profile's level shares and current level counts."""
    total = sum(current.values())
    if not reference.count or not total:
        return None
    cur = {k: n / total for k, n in current.items()}
    levels = sorted(
        set(reference.shares) | set(cur), key=lambda k: (-max(reference.shares.get(k, 0.0), cur.get(k, 0.0)), k)
    )
    shown, rest = levels[:MAX_LEVELS], levels[MAX_LEVELS:]
    names = [MISSING_LABEL if k == NULL_LEVEL else k for k in shown]
    ref_shares = [reference.shares.get(k, 0.0) for k in shown]
    cur_shares = [cur.get(k, 0.0) for k in shown]
    if rest:
        names.append(f"{len(rest)} other levels")
        ref_shares.append(sum(reference.shares.get(k, 0.0) for k in rest))
        cur_shares.append(sum(cur.get(k, 0.0) for k in rest))
    return CategoryOverlay(
        levels=tuple(names),
        reference_shares=tuple(ref_shares),
        current_shares=tuple(cur_shares),
        reference_rows=int(reference.count),
        current_rows=int(total),
    )


def drift_overlays(ws: Workspace, snapshot_id: str, reference_id: str | None, features: Sequence[str]) -> Overlays:
    """The overlays of ``features`` for the validation of ``snapshot_id`` against ``reference_id``."""
    if reference_id is None or not features:
        return Overlays({}, "no reference snapshot: nothing was compared")
    try:
        snapshot, reference = read_manifest(ws.store, snapshot_id), read_manifest(ws.store, reference_id)
    except SnapshotError as err:
        return Overlays({}, f"distributions not shown: {err}")
    cache = StatisticsCache(ws.store, ws.config)
    try:
        profiles = _reference_profiles(ws, cache, reference)
        stats = [_part_stats(ws, cache, p) for p in new_parts_since(snapshot, reference)]
    except SnapshotError as err:
        return Overlays({}, f"distributions not shown: {err}")
    out: dict[str, Overlay] = {}
    for name in features:
        profile = profiles.get(name)
        overlay: Overlay | None = None
        if isinstance(profile, NumericProfile):
            pieces = [s.numeric[name] for s in stats if name in s.numeric]
            overlay = numeric_overlay(profile, [(p.sample, p.weight, p.count) for p in pieces])
        elif isinstance(profile, CategoricalProfile):
            overlay = category_overlay(profile, add_counts(s.categorical.get(name, {}) for s in stats))
        if overlay is not None:
            out[name] = overlay
    missing = [f for f in features if f not in out]
    note = (
        f"no distributions for {', '.join(missing)}: not profiled under the current config's feature lists"
        if missing
        else None
    )
    return Overlays(out, note)
