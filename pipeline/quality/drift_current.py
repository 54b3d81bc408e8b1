"""The current side of a drift check summarised chunk by chunk, so no frame of all new rows is built.

Validating millions of new rows reads them a chunk at a time (:mod:`pipeline.quality.chunked`).
Every drift test needs only a few facts about the current values, and each is mergeable: the
level counts of a categorical feature; for a numeric feature the count of finite values, their
counts in the reference profile's bins (``psi``, ``jensen_shannon``: exact) and a sample for the
sort-based tests (``ks``, ``wasserstein``), which already thin the current values to
:data:`MAX_CURRENT_SAMPLE`. Up to that many values the sample is every value, so the verdicts equal
those on the whole column; beyond it each chunk gives a seeded share in proportion to its rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.quality.drift_profiles import NumericProfile, Profile, _category_counts, _finite_values
from pipeline.quality.drift_tests import _SUBSAMPLE_SEED, MAX_CURRENT_SAMPLE, CurrentNumeric

CurrentColumn = CurrentNumeric | dict[str, int]
"""A numeric feature's summary, or a categorical feature's level counts."""


@dataclass(frozen=True)
class CurrentData:
    """Summaries of the current batch by feature, shaped for :func:`pipeline.quality.drift.detect_drift`.

    ``columns`` are the batch's columns (as a frame's would be, for the error naming a missing
    feature); ``summaries`` hold the profiled features found among them.
    """

    columns: tuple[str, ...]
    summaries: dict[str, CurrentColumn]

    def __getitem__(self, name: str) -> CurrentColumn:
        return self.summaries[name]


@dataclass
class CurrentAccumulator:
    """Adds chunks of the current batch into the summaries the drift tests read.

    ``total_rows`` (all chunks together, known from the manifest before reading) sets the share of
    each chunk's values kept for the sort-based tests when there are more than
    :data:`MAX_CURRENT_SAMPLE`; the draw is seeded by chunk position, so a run is reproducible.
    """

    profiles: Mapping[str, Profile]
    total_rows: int
    _columns: dict[str, None] = field(default_factory=dict)
    _counts: dict[str, int] = field(default_factory=dict)
    _samples: dict[str, list[np.ndarray]] = field(default_factory=dict)
    _bins: dict[str, np.ndarray] = field(default_factory=dict)
    _levels: dict[str, dict[str, int]] = field(default_factory=dict)
    _chunks: int = 0

    def add(self, chunk: pd.DataFrame) -> None:
        """Summarise one chunk of the current rows into the running totals."""
        self._columns.update(dict.fromkeys(str(c) for c in chunk.columns))
        keep_all = self.total_rows <= MAX_CURRENT_SAMPLE
        for name, profile in self.profiles.items():
            if name not in chunk.columns:
                continue
            if isinstance(profile, NumericProfile):
                finite = _finite_values(chunk[name])
                self._counts[name] = self._counts.get(name, 0) + int(finite.size)
                bins = np.bincount(
                    np.searchsorted(profile.quantiles, finite, side="right"), minlength=profile.quantiles.size + 1
                )
                self._bins[name] = bins if name not in self._bins else self._bins[name] + bins
                kept = finite if keep_all else self._share(finite, len(chunk))
                # a copy: the finite values may be a view that would keep the chunk's whole block alive
                self._samples.setdefault(name, []).append(np.array(kept, copy=True))
            else:
                levels = self._levels.setdefault(name, {})
                for level, n in _category_counts(chunk[name]).items():
                    levels[level] = levels.get(level, 0) + n
        self._chunks += 1

    def _share(self, finite: np.ndarray, chunk_rows: int) -> np.ndarray:
        """This chunk's seeded share of the sample: in proportion to its rows among all rows."""
        quota = min(finite.size, math.ceil(MAX_CURRENT_SAMPLE * chunk_rows / max(self.total_rows, 1)))
        if quota >= finite.size:
            return finite
        rng = np.random.default_rng(_SUBSAMPLE_SEED + self._chunks)
        return finite[np.sort(rng.choice(finite.size, quota, replace=False))]

    def result(self) -> CurrentData:
        """The summaries of every profiled feature seen in any chunk."""
        summaries: dict[str, CurrentColumn] = {}
        for name, profile in self.profiles.items():
            if isinstance(profile, NumericProfile) and name in self._counts:
                pieces = self._samples[name]
                sample = np.concatenate(pieces) if len(pieces) > 1 else pieces[0]
                summaries[name] = CurrentNumeric(self._counts[name], sample, self._bins[name])
            elif name in self._levels:
                summaries[name] = dict(self._levels[name])
        return CurrentData(columns=tuple(self._columns), summaries=summaries)
