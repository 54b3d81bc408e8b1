"""Data types (issue 14): datetime features, encoded high-cardinality categoricals, CSV delimiters.

Each test is about what a user sees: the same data from CSV and Parquet give the same snapshot
rows, a model trains and scores with the new types, and ``ct init`` proposes them from a sample.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import yaml

from pipeline.app.onboarding import infer_config, read_sample
from pipeline.core.config import ModelSpec, PipelineConfig, dump_config, load_config, parse_config
from pipeline.core.errors import ConfigError
from pipeline.core.settings import BUNDLED_CONFIG
from pipeline.core.storage import ObjectStore
from pipeline.data.ingestion import ROW_REASON_COLUMN, LandingFile, parse_landing_file, sha256_file
from pipeline.data.snapshots import SourceFile, arrow_schema, load_parts, write_part
from pipeline.modeling.training import fit_model, predict_proba
from pipeline.quality.expectations import evaluate_suite
from pipeline.quality.suite import Suite, schema_expectations

ROWS = 400
LR = ModelSpec(estimator="logistic_regression", params={"max_iter": 500})
HGB = ModelSpec(estimator="gradient_boosting", params={"max_iter": 20})


def _landing(path: Path) -> LandingFile:
    return LandingFile(path=path, size=path.stat().st_size, sha256=sha256_file(path))


def _events(rows: int = ROWS, seed: int = 3) -> pd.DataFrame:
    """Rows with a signup date, an event timestamp (the row's time) and a label that depends on both."""
    rng = np.random.default_rng(seed)
    event = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 365 * 24, rows), unit="h")
    signup = (event - pd.to_timedelta(rng.integers(1, 2000, rows), unit="D")).normalize()
    tenure_days = (event - signup).days
    churned = np.where(rng.random(rows) < np.where(tenure_days < 500, 0.75, 0.2), "yes", "no")
    return pd.DataFrame(
        {
            "customer_id": [f"c{i:05d}" for i in range(rows)],
            "spend": rng.normal(50, 10, rows).round(2),
            "plan": rng.choice(["basic", "premium"], rows),
            "signup_date": signup,
            "event_time": event,
            "churned": churned,
        }
    )


def _config(**dataset: object) -> PipelineConfig:
    base = {
        "name": "events",
        "label": "churned",
        "classes": ["no", "yes"],
        "positive_class": "yes",
        "id_columns": ["customer_id"],
        "features": {
            "numeric": [{"name": "spend"}],
            "categorical": [{"name": "plan", "levels": ["basic", "premium"]}],
            "datetime": [{"name": "signup_date"}, {"name": "event_time"}],
        },
        "time_column": "event_time",
    }
    base.update(dataset)
    return parse_config({"dataset": base, "model": {"name": "m", "specs": {"default": LR.model_dump()}}}, "test")


def _as_csv(frame: pd.DataFrame, path: Path) -> Path:
    text = frame.copy()
    text["signup_date"] = frame["signup_date"].dt.strftime("%Y-%m-%d")  # a plain ISO date
    text["event_time"] = frame["event_time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    text.to_csv(path, index=False)
    return path


def _as_parquet(frame: pd.DataFrame, path: Path) -> Path:
    naive = frame.assign(signup_date=frame["signup_date"].dt.tz_localize(None))  # a naive timestamp column
    naive.to_parquet(path, index=False)
    return path


# -- datetime ------------------------------------------------------------------------------------------
def test_csv_and_parquet_give_the_same_snapshot_rows(tmp_path: Path) -> None:
    cfg = _config()
    frame = _events()
    from_csv = parse_landing_file(_landing(_as_csv(frame, tmp_path / "b.csv")), cfg.dataset, cfg.ingest)
    from_pq = parse_landing_file(_landing(_as_parquet(frame, tmp_path / "b.parquet")), cfg.dataset, cfg.ingest)
    assert from_csv.rejected.empty and from_pq.rejected.empty  # neither is quarantined nor loses rows
    pd.testing.assert_frame_equal(from_csv.frame, from_pq.frame)
    assert str(from_csv.frame["event_time"].dtype) == "datetime64[us, UTC]"
    assert (from_csv.frame["event_time"] == frame["event_time"]).all()

    schema = arrow_schema(cfg.dataset)
    assert schema.field("signup_date").type == pa.timestamp("us", tz="UTC")
    root = tmp_path / "store"
    root.mkdir()
    store = ObjectStore(root.as_uri())
    a = write_part(store, from_csv.frame, cfg.dataset, SourceFile(name="b.csv", sha256="a" * 64, size=1))
    b = write_part(store, from_pq.frame, cfg.dataset, SourceFile(name="b.parquet", sha256="b" * 64, size=1))
    assert a.id == b.id  # the same rows, the same content hash
    stored = load_parts(store, [a])
    assert str(stored["signup_date"].dtype) == "datetime64[us, UTC]"
    assert stored["signup_date"].iloc[0] == frame["signup_date"].iloc[0]


def test_unparseable_dates_are_rejected_rows_with_a_reason(tmp_path: Path) -> None:
    cfg = _config()
    frame = _events(20)
    path = _as_csv(frame, tmp_path / "b.csv")
    text = pd.read_csv(path, dtype=str)
    text.loc[3, "signup_date"] = "31/02/2024"
    text.loc[5, "signup_date"] = ""  # missing is allowed (nullable)
    text.to_csv(path, index=False)
    parsed = parse_landing_file(_landing(path), cfg.dataset, cfg.ingest)
    assert len(parsed.rejected) == 1
    assert "signup_date: not a date" in parsed.rejected[ROW_REASON_COLUMN].iloc[0]
    assert parsed.frame["signup_date"].isna().sum() == 1


def test_declared_format_parses_day_first_dates(tmp_path: Path) -> None:
    cfg = _config(
        features={
            "numeric": [{"name": "spend"}],
            "datetime": [{"name": "signup_date", "format": "%d/%m/%Y"}, {"name": "event_time"}],
        }
    )
    frame = _events(10)
    path = _as_csv(frame, tmp_path / "b.csv")
    text = pd.read_csv(path, dtype=str)
    text["signup_date"] = frame["signup_date"].dt.strftime("%d/%m/%Y")
    text.to_csv(path, index=False)
    parsed = parse_landing_file(_landing(path), cfg.dataset, cfg.ingest)
    assert parsed.rejected.empty
    assert (parsed.frame["signup_date"] == frame["signup_date"]).all()


def test_a_model_trains_and_predicts_with_datetime_features(tmp_path: Path) -> None:
    cfg = _config()
    frame = parse_landing_file(_landing(_as_csv(_events(), tmp_path / "b.csv")), cfg.dataset, cfg.ingest).frame
    for spec in (LR, HGB):
        model = fit_model(frame, cfg.dataset, spec, seed=1)
        p = predict_proba(model, frame.drop(columns=["churned"]), cfg.dataset)
        assert p.shape == (len(frame),) and np.isfinite(p).all()
    # age in days relative to the row's time carries the signal: the model finds it
    model = fit_model(frame, cfg.dataset, HGB, seed=1)
    young = predict_proba(model, frame[(frame["event_time"] - frame["signup_date"]).dt.days < 500], cfg.dataset)
    old = predict_proba(model, frame[(frame["event_time"] - frame["signup_date"]).dt.days >= 500], cfg.dataset)
    assert young.mean() > old.mean() + 0.2
    derive = model.named_steps["preprocess"].named_transformers_["datetime"].named_steps["derive"]
    # signup_date: year, month, day of week, hour, age; the time column itself: no age against itself
    assert derive.parts == (
        ("year", "month", "day_of_week", "hour", "age_days"),
        ("year", "month", "day_of_week", "hour"),
    )


def test_derived_parts_are_configurable_per_feature(tmp_path: Path) -> None:
    cfg = _config(
        features={
            "numeric": [{"name": "spend"}],
            "datetime": [{"name": "signup_date", "derive": ["month"]}, {"name": "event_time"}],
        }
    )
    frame = parse_landing_file(_landing(_as_csv(_events(), tmp_path / "b.csv")), cfg.dataset, cfg.ingest).frame
    model = fit_model(frame, cfg.dataset, LR, seed=1)
    derive = model.named_steps["preprocess"].named_transformers_["datetime"].named_steps["derive"]
    assert derive.parts[0] == ("month",)
    with pytest.raises(ConfigError, match="derive"):
        _config(features={"numeric": [{"name": "spend"}], "datetime": [{"name": "d", "derive": ["minute"]}]})


@pytest.mark.parametrize("engine", ["fast", "great_expectations"])
def test_datetime_range_is_validated(tmp_path: Path, engine: str) -> None:
    cfg = _config(
        features={
            "numeric": [{"name": "spend"}],
            "datetime": [{"name": "signup_date", "min": "2015-01-01"}, {"name": "event_time"}],
        }
    )
    frame = parse_landing_file(_landing(_as_csv(_events(), tmp_path / "b.csv")), cfg.dataset, cfg.ingest).frame
    items = schema_expectations(cfg.dataset, cfg.validation.expectations)
    suite = Suite(name="s", expectations=tuple(items))
    ok = {o.id: o for o in evaluate_suite(frame, suite, engine)}
    assert all(o.success for o in ok.values())
    frame.loc[0, "signup_date"] = pd.Timestamp("2001-05-01", tz="UTC")
    failed = [o for o in evaluate_suite(frame, suite, engine) if not o.success]
    assert [o.column for o in failed] == ["signup_date"]


def test_ct_init_infers_datetime_from_csv_and_parquet(tmp_path: Path) -> None:
    frame = _events()
    csv_cfg = infer_config(read_sample(_as_csv(frame, tmp_path / "s.csv")), "churned", "events")
    pq_cfg = infer_config(read_sample(_as_parquet(frame, tmp_path / "s.parquet")), "churned", "events")
    for cfg in (csv_cfg, pq_cfg):
        ds = cfg.dataset
        assert ds.datetime_names == ["signup_date", "event_time"]
        assert ds.time_column == "event_time"
        assert ds.numeric_names == ["spend"] and ds.id_columns == ("customer_id",)
        assert parse_config(yaml.safe_load(dump_config(cfg)), "round trip") == cfg
    gaps = frame.assign(event_time=frame["event_time"].where(frame.index != 7))
    assert (
        infer_config(gaps, "churned", "events").dataset.time_column == "signup_date"
    )  # a split needs every row's time
    # the CSV is taken in under the Parquet-inferred config and the other way round
    for cfg, path in ((pq_cfg, tmp_path / "s.csv"), (csv_cfg, tmp_path / "s.parquet")):
        parsed = parse_landing_file(_landing(path), cfg.dataset, cfg.ingest)
        assert parsed.rejected.empty and len(parsed.frame) == ROWS
        fit_model(parsed.frame, cfg.dataset, LR, seed=1)


# -- high-cardinality categoricals ---------------------------------------------------------------------
def _many_levels(rows: int = 3000, levels: int = 500, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    shop = rng.integers(0, levels, rows)
    risky = shop % 3 == 0
    return pd.DataFrame(
        {
            "order_id": [f"o{i}" for i in range(rows)],
            "amount": rng.normal(10, 2, rows).round(2),
            "shop": [f"shop-{s:03d}" for s in shop],
            "fraud": np.where(rng.random(rows) < np.where(risky, 0.7, 0.15), "yes", "no"),
        }
    )


@pytest.mark.parametrize("encoding", ["target", "hashing"])
def test_a_500_level_categorical_is_kept_encoded_and_trains(tmp_path: Path, encoding: str) -> None:
    frame = _many_levels()
    frame.to_csv(tmp_path / "s.csv", index=False)
    cfg = infer_config(read_sample(tmp_path / "s.csv"), "fraud", "orders")
    shop = {c.name: c for c in cfg.dataset.features.categorical}["shop"]
    assert shop.encoding == "target" and shop.levels == ()
    if encoding != "target":
        data = yaml.safe_load(dump_config(cfg))
        data["dataset"]["features"]["categorical"][0]["encoding"] = encoding
        cfg = parse_config(data, "edited")
    parsed = parse_landing_file(_landing(tmp_path / "s.csv"), cfg.dataset, cfg.ingest)
    model = fit_model(parsed.frame, cfg.dataset, LR, seed=1)
    scored = parsed.frame.head(50).assign(shop=["never-seen-before"] * 25 + [None] * 25)
    p = predict_proba(model, scored, cfg.dataset)  # unknown and missing levels score, they do not fail
    assert np.isfinite(p).all()
    risky = parsed.frame["shop"].str[-3:].astype(int) % 3 == 0
    gap = 0.2 if encoding == "target" else 0.02  # 500 levels in 32 hashed columns collide a lot
    assert (
        predict_proba(model, parsed.frame[risky], cfg.dataset).mean()
        > predict_proba(model, parsed.frame[~risky], cfg.dataset).mean() + gap
    )
    # an encoded feature expects unknown levels: no value-set expectation for it
    items = schema_expectations(cfg.dataset, cfg.validation.expectations)
    assert not [e for e in items if e.kwargs.get("column") == "shop" and "in_set" in e.type]


def test_a_one_hot_categorical_still_needs_levels() -> None:
    with pytest.raises(ConfigError, match="encoding: target"):
        _config(features={"categorical": [{"name": "plan"}]})


# -- delimiters ----------------------------------------------------------------------------------------
def _semicolon_csv(path: Path) -> Path:
    frame = _events(120)
    lines = ["customer_id;spend;plan;churned"]
    lines += [f"{r.customer_id};{str(r.spend).replace('.', ',')};{r.plan};{r.churned}" for r in frame.itertuples()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_semicolon_csv_with_decimal_commas_is_inferred_and_ingested(tmp_path: Path) -> None:
    path = _semicolon_csv(tmp_path / "s.csv")
    cfg = infer_config(read_sample(path), "churned", "semi")
    assert cfg.ingest.csv_delimiter == ";" and cfg.ingest.csv_decimal == ","
    assert cfg.dataset.numeric_names == ["spend"] and cfg.dataset.categorical_names == ["plan"]
    cfg = parse_config(yaml.safe_load(dump_config(cfg)), "round trip")  # what ct init writes is what is read
    parsed = parse_landing_file(_landing(path), cfg.dataset, cfg.ingest)
    assert parsed.rejected.empty
    expected = _events(120)["spend"].to_numpy()
    np.testing.assert_allclose(parsed.frame["spend"].to_numpy(), expected)


@pytest.mark.parametrize("delimiter", ["\t", "|", ";", ","])
def test_delimiters_are_sniffed(tmp_path: Path, delimiter: str) -> None:
    frame = _events(60)[["customer_id", "spend", "plan", "churned"]]
    frame.to_csv(tmp_path / "s.csv", index=False, sep=delimiter)
    sample = read_sample(tmp_path / "s.csv")
    assert list(sample.columns) == list(frame.columns)
    cfg = infer_config(sample, "churned", "d")
    assert cfg.ingest.csv_delimiter == delimiter
    parsed = parse_landing_file(_landing(tmp_path / "s.csv"), cfg.dataset, cfg.ingest)
    np.testing.assert_allclose(parsed.frame["spend"].to_numpy(), frame["spend"].to_numpy())


def test_an_undecidable_delimiter_says_how_to_declare_it(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("a;b\n1,2\n3|4\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"csv_delimiter") as info:
        read_sample(path)
    assert "--delimiter" in str(info.value)
    assert list(read_sample(path, ";").columns) == ["a", "b"]


# -- existing configs ----------------------------------------------------------------------------------
def test_existing_configs_dump_and_hash_as_before() -> None:
    cfg = load_config(BUNDLED_CONFIG)
    dumped = cfg.model_dump(mode="json")
    assert "datetime" not in dumped["dataset"]["features"]
    assert all("encoding" not in c for c in dumped["dataset"]["features"]["categorical"])
    assert "csv_decimal" not in dumped["ingest"]
    assert cfg.dataset.feature_names == cfg.dataset.numeric_names + cfg.dataset.categorical_names


# -- through the stages ----------------------------------------------------------------------------------
def test_stages_ingest_validate_train_and_register_with_the_new_types(settings, config: PipelineConfig) -> None:
    from pipeline.app import stages
    from pipeline.app.demo_data import BatchSpec, generate_batch
    from pipeline.app.training_flow import run_training
    from pipeline.app.workspace import Workspace

    batch = generate_batch(BatchSpec(rows=600, seed=101, first_id=0))
    rng = np.random.default_rng(0)
    event = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(np.arange(len(batch)) * 7, unit="h")
    batch = batch.assign(
        event_time=event.strftime("%Y-%m-%dT%H:%M:%SZ"),
        signup_date=(event - pd.to_timedelta(rng.integers(1, 900, len(batch)), unit="D")).strftime("%Y-%m-%d"),
        shop=[f"shop-{i:03d}" for i in rng.integers(0, 300, len(batch))],
    )
    data = config.model_dump(mode="json")
    features = data["dataset"]["features"]
    features["categorical"].append({"name": "shop", "encoding": "target"})
    features["datetime"] = [
        {"name": "signup_date", "min": "2015-01-01"},
        {"name": "event_time", "derive": ["month", "day_of_week", "hour"]},
    ]
    data["dataset"]["time_column"] = "event_time"
    data["evaluation"].update(bootstrap_resamples=200, folds=3)
    data["ingest"]["stable_seconds"] = 0
    data["promotion"].update(min_holdout_rows=50, min_class_rows=10)
    cfg = parse_config(data, "test")
    settings.landing.mkdir(parents=True, exist_ok=True)
    batch.to_csv(settings.landing / "customers.csv", index=False)
    ws = Workspace(settings=settings, config=cfg)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(stages.register, "code_version", lambda: "test:0")
        out = stages.ingest_landing(ws)
        assert out.created and out.rows == len(batch) and not out.quarantined
        registered = run_training(ws, snapshot_id=out.snapshot_id, trigger={"kind": "test"}, until="register")
    assert registered.registration.version == 1
