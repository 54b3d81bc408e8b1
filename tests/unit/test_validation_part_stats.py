"""Per-part statistics: mergeable, cached by part id, and enough to rebuild reference profiles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.app.demo_data import BatchSpec, generate_batch
from pipeline.core.config import PipelineConfig
from pipeline.core.storage import ObjectStore
from pipeline.quality.drift import (
    DRIFT_TESTS,
    MAX_REFERENCE_SAMPLE,
    profile_frame,
    profile_numeric,
)
from pipeline.quality.part_stats import (
    HOLDOUT,
    TRAIN,
    StatisticsCache,
    compute_part_stats,
    decode_part_stats,
    decode_profiles,
    encode_part_stats,
    encode_profiles,
    label_totals,
    merge_moments,
    numeric_piece,
    numeric_profile_from_pieces,
    profiles_from_stats,
    statistics_key,
    summarise,
)


def test_small_parts_merge_to_exactly_the_profile_of_their_union() -> None:
    rng = np.random.default_rng(1)
    chunks = [rng.normal(5, 2, n) for n in (300, 1_000, 2_500)]
    pieces = [numeric_piece(pd.Series(c)) for c in chunks]
    assert all(p.exact for p in pieces)
    assert numeric_profile_from_pieces("x", pieces) == profile_numeric("x", pd.Series(np.concatenate(chunks)))


def test_thinned_parts_merge_to_nearly_the_profile_of_their_union() -> None:
    rng = np.random.default_rng(2)
    chunks = [rng.lognormal(0, 1, n) for n in (60_000, 30_000, 500)]
    pieces = [numeric_piece(pd.Series(c)) for c in chunks]
    assert not pieces[0].exact and pieces[0].sample.size == MAX_REFERENCE_SAMPLE
    merged = numeric_profile_from_pieces("x", pieces)
    exact = profile_numeric("x", pd.Series(np.concatenate(chunks)))
    assert merged.count == exact.count == 90_500
    assert merged.mean == pytest.approx(exact.mean) and merged.std == pytest.approx(exact.std)
    assert merged.quantiles == pytest.approx(exact.quantiles, rel=2e-3)
    assert merged.ref_bin_shares == pytest.approx(exact.ref_bin_shares, abs=1e-3)
    assert merged.iqr == pytest.approx(exact.iqr, rel=2e-3)
    fresh = rng.lognormal(0, 1, 20_000)
    for name in ("wasserstein", "psi", "jensen_shannon", "ks"):
        test = DRIFT_TESTS[name]
        assert test.fn(merged, fresh).score == pytest.approx(test.fn(exact, fresh).score, abs=5e-3), name


def test_merged_moments_are_exact() -> None:
    rng = np.random.default_rng(3)
    chunks = [rng.normal(m, s, n) for m, s, n in ((0, 1, 100), (10, 3, 5_000), (-4, 0.5, 7))]
    n, mean, std = merge_moments([numeric_piece(pd.Series(c)) for c in chunks])
    union = np.concatenate(chunks)
    assert (n, mean, std) == (union.size, pytest.approx(union.mean()), pytest.approx(union.std()))


def test_part_stats_round_trip_and_summaries(config: PipelineConfig, demo_frame: pd.DataFrame) -> None:
    stats = compute_part_stats("p1", demo_frame, config)
    meta, samples = encode_part_stats(stats)
    back = decode_part_stats(meta, samples)
    assert back.rows == 600 and back.categorical == stats.categorical and back.labels == stats.labels
    for name, piece in stats.numeric.items():
        assert np.array_equal(back.numeric[name].sample, piece.sample)
        assert (back.numeric[name].count, back.numeric[name].missing) == (piece.count, piece.missing)
    light = decode_part_stats(meta)  # without samples: counts only
    assert light.numeric["age"].sample.size == 0 and light.numeric["age"].count == 600
    assert sum(label_totals([stats]).values()) == 600
    assert sum(label_totals([stats], HOLDOUT).values()) + sum(label_totals([stats], TRAIN).values()) == 600
    summary = summarise([stats, stats], config)
    assert summary.rows == 1_200
    assert summary.numeric["data_usage_gb"]["missing"] == 2 * int(demo_frame["data_usage_gb"].isna().sum())
    assert summary.numeric["age"]["min"] == demo_frame["age"].min()
    assert sum(summary.categorical["region"].values()) == 1_200
    expected = profile_frame(demo_frame, config.dataset.numeric_names, config.dataset.categorical_names)
    assert profiles_from_stats([back], config) == expected


def test_cache_computes_each_part_once(config: PipelineConfig, demo_frame: pd.DataFrame, tmp_path) -> None:
    store = ObjectStore(tmp_path.as_uri())
    first = StatisticsCache(store, config)
    first.remember("p1", demo_frame)
    second = StatisticsCache(store, config)
    again = second.remember("p1", demo_frame.iloc[:0])  # the frame is not looked at: the cache answers
    assert (first.computed, second.computed, second.hits) == (1, 0, 1)
    assert again.rows == 600


def test_statistics_key_follows_the_settings_they_depend_on(config: PipelineConfig) -> None:
    fewer = config.dataset.features.model_copy(update={"numeric": config.dataset.features.numeric[:-1]})
    changed = config.model_copy(update={"dataset": config.dataset.model_copy(update={"features": fewer})})
    assert statistics_key(changed) != statistics_key(config)
    relaxed = config.model_copy(update={"validation": config.validation.model_copy(update={"parity_tolerance": 0.2})})
    assert statistics_key(relaxed) == statistics_key(config)


def test_demo_batch_statistics_count_missing_values(config: PipelineConfig) -> None:
    frame = generate_batch(BatchSpec(rows=2_000, seed=9))
    stats = compute_part_stats("p", frame, config)
    piece = stats.numeric["data_usage_gb"]
    assert piece.missing == int(frame["data_usage_gb"].isna().sum()) > 0
    assert piece.count + piece.missing == 2_000


def test_profiles_round_trip_through_the_binary_cache(config: PipelineConfig, demo_frame: pd.DataFrame) -> None:
    profiles = profile_frame(demo_frame, config.dataset.numeric_names, config.dataset.categorical_names)
    assert decode_profiles(encode_profiles(profiles)) == profiles
