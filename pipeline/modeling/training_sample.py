"""A cap on training rows: above ``model.max_train_rows`` the fit takes a stratified sample.

A snapshot of millions of rows would exhaust memory in the fit (encoded matrices, a copy per
cross-validation fold) long before more rows stop helping the model. Above the cap the training
part is sampled, stratified on the label (classification) or on quantile bins of the target
(regression), so every class keeps its share and a rare class is never sampled away; the draw
uses the evaluation seed, so a rerun on the same snapshot trains on the same rows. Only the
training part is sampled: the holdout, the evidence for promotion, keeps every row. The sample
travels on the :class:`~pipeline.modeling.splits.Split`, and the evaluation records it with the
split (lineage, the model report).
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import pandas as pd

from pipeline.modeling.splits import Split, TrainingSample, target_bins

logger = logging.getLogger(__name__)


def allocate(counts: np.ndarray, total: int) -> np.ndarray:
    """Rows to draw per group: proportional to ``counts`` (largest remainder), summing to ``total``.

    Every non-empty group keeps at least one row while ``total`` allows it, so a rare class is never
    sampled away; no group is asked for more rows than it has.
    """
    counts = np.asarray(counts, dtype=np.int64)
    n = int(counts.sum())
    if total >= n:
        return counts.copy()
    exact = counts * (total / n)
    quota = np.floor(exact).astype(np.int64)
    present = counts > 0
    if int(present.sum()) <= total:
        quota[present & (quota == 0)] = 1
    while quota.sum() > total:  # the minimum of one row per group overshot: take back from the largest
        quota[int(np.argmax(quota))] -= 1
    order = np.argsort(-(exact - np.floor(exact)), kind="stable")
    for g in order:
        if quota.sum() >= total:
            break
        if quota[g] < counts[g]:
            quota[g] += 1
    return quota


def sample_training_rows(split: Split, target: pd.Series, max_rows: int, seed: int, classification: bool) -> Split:
    """``split`` with its training part cut to ``max_rows`` by a stratified sample (unchanged when
    the training part is not larger than that). ``target`` holds the label of every row of the frame
    the split indexes; the sampled indices stay in their original order (time folds rely on it)."""
    if split.n_train <= max_rows:
        return split
    labels = target.iloc[split.train_index]
    if classification:
        groups = pd.factorize(labels.astype("string").fillna("<NA>"))[0]
        stratified_on = "label"
    else:
        groups = target_bins(pd.to_numeric(labels, errors="coerce").to_numpy(dtype=np.float64), 2)
        stratified_on = "target quantile bins"
    counts = np.bincount(groups)
    quota = allocate(counts, max_rows)
    rng = np.random.default_rng(seed)
    picked = [
        rng.choice(np.flatnonzero(groups == g), size=int(quota[g]), replace=False)
        for g in range(counts.size)
        if quota[g]
    ]
    chosen = np.sort(np.concatenate(picked))
    sample = TrainingSample(from_rows=split.n_train, rows=int(chosen.size), stratified_on=stratified_on, seed=seed)
    logger.warning(
        "Training on a sample: %d of %d training rows, stratified on the %s (seed %d), because "
        "model.max_train_rows is %d; the holdout keeps all %d rows.",
        sample.rows,
        sample.from_rows,
        stratified_on,
        seed,
        max_rows,
        split.n_holdout,
    )
    return replace(split, train_index=split.train_index[chosen], sample=sample)
