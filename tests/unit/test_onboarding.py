"""Unit tests for pipeline.app.onboarding: inferring a config from a sample file (``ct init``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline.app.demo_data import CONTRACTS, PAYMENTS, PLANS, REGIONS
from pipeline.app.onboarding import infer_config, read_sample
from pipeline.core.config import PipelineConfig, dump_config, parse_config
from pipeline.core.errors import ConfigError

NUMERIC = ["tenure_months", "monthly_charges", "total_charges", "support_calls", "data_usage_gb", "age"]


def _csv_sample(frame: pd.DataFrame, tmp_path: Path, name: str = "sample.csv") -> pd.DataFrame:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return read_sample(path)


def _check_demo(cfg: PipelineConfig) -> None:
    ds = cfg.dataset
    assert ds.name == "churn"
    assert ds.label == "churned"
    assert ds.id_columns == ("customer_id",)
    assert ds.numeric_names == NUMERIC
    assert ds.categorical_names == ["contract", "payment_method", "region", "plan"]
    levels = {f.name: f.levels for f in ds.features.categorical}
    assert levels == {
        "contract": tuple(sorted(CONTRACTS)),
        "payment_method": tuple(sorted(PAYMENTS)),
        "region": tuple(sorted(REGIONS)),
        "plan": tuple(sorted(PLANS)),
    }
    assert ds.classes == ("no", "yes")
    assert ds.positive_class == "yes"
    shares = cfg.validation.label_contract.expected_shares
    assert shares == {"no": 0.5, "yes": 0.5}
    assert cfg.model.name == "churn-classifier"
    assert cfg.model_spec().estimator == "logistic_regression"


def test_infer_config_from_csv_demo(demo_frame: pd.DataFrame, tmp_path: Path) -> None:
    sample = _csv_sample(demo_frame, tmp_path)
    assert sample["tenure_months"].dtype != np.float64  # CSV columns are read as text first
    _check_demo(infer_config(sample, "churned", "churn"))


def test_infer_config_from_parquet_demo(demo_frame: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "sample.parquet"
    demo_frame.to_parquet(path, index=False)
    _check_demo(infer_config(read_sample(path), "churned", "churn"))


def test_inferred_config_round_trips_through_yaml(demo_frame: pd.DataFrame, tmp_path: Path) -> None:
    cfg = infer_config(_csv_sample(demo_frame, tmp_path), "churned", "churn", model_name="my-model")
    assert cfg.model.name == "my-model"
    assert parse_config(yaml.safe_load(dump_config(cfg))) == cfg


def test_expected_shares_follow_the_sample(demo_frame: pd.DataFrame, tmp_path: Path) -> None:
    skewed = pd.concat(
        [demo_frame[demo_frame["churned"] == "no"], demo_frame[demo_frame["churned"] == "yes"].head(100)]
    )
    cfg = infer_config(_csv_sample(skewed, tmp_path), "churned", "churn")
    shares = cfg.validation.label_contract.expected_shares
    assert shares["yes"] == pytest.approx(100 / len(skewed), abs=1e-4)
    assert sum(shares.values()) == pytest.approx(1.0)


def test_positive_class_falls_back_to_minority() -> None:
    sample = pd.DataFrame({"x": [str(i) for i in range(10)], "label": ["cat"] * 7 + ["dog"] * 3})
    cfg = infer_config(sample, "label", "pets")
    assert cfg.dataset.classes == ("cat", "dog")
    assert cfg.dataset.positive_class == "dog"


def test_a_third_text_class_makes_the_task_multiclass(demo_frame: pd.DataFrame, tmp_path: Path) -> None:
    # before issue 16 this was refused ("supports binary classification"); now it is multiclass
    frame = demo_frame.copy()
    frame.loc[:10, "churned"] = "maybe"
    cfg = infer_config(_csv_sample(frame, tmp_path), "churned", "churn")
    assert cfg.dataset.task == "multiclass"
    assert cfg.dataset.classes == ("maybe", "no", "yes")
    assert cfg.dataset.positive_class is None
    with pytest.raises(ConfigError, match="binary needs exactly two"):
        infer_config(_csv_sample(frame, tmp_path), "churned", "churn", task="binary")


def test_single_class_label_raises(demo_frame: pd.DataFrame) -> None:
    with pytest.raises(ConfigError, match="single value \\('no'\\)"):
        infer_config(demo_frame.assign(churned="no"), "churned", "churn")


def test_missing_label_column_lists_columns(demo_frame: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        infer_config(_csv_sample(demo_frame, tmp_path), "target", "churn")
    msg = str(info.value)
    assert "'target'" in msg
    assert "customer_id" in msg and "tenure_months" in msg and "churned" in msg


def test_high_cardinality_text_is_encoded_and_free_text_left_out(demo_frame: pd.DataFrame) -> None:
    # many levels, each seen several times: kept, target-encoded (issue 14); nearly all distinct: free text
    frame = demo_frame.assign(
        shop=[f"shop {i % 80}" for i in range(len(demo_frame))],
        note=[f"note {i % 500}" for i in range(len(demo_frame))],
    )
    cfg = infer_config(frame, "churned", "churn")
    assert "note" not in cfg.dataset.columns
    shop = {c.name: c for c in cfg.dataset.features.categorical}["shop"]
    assert shop.encoding == "target"


def test_unique_text_column_becomes_identifier(demo_frame: pd.DataFrame) -> None:
    frame = demo_frame.assign(email=[f"u{i}@example.com" for i in range(len(demo_frame))])
    cfg = infer_config(frame, "churned", "churn")
    assert "email" in cfg.dataset.id_columns


def test_read_sample_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        read_sample(tmp_path / "absent.csv")
    other = tmp_path / "sample.xlsx"
    other.write_bytes(b"x")
    with pytest.raises(ConfigError, match="unsupported type"):
        read_sample(other)


def test_all_empty_column_does_not_break_inference(demo_frame: pd.DataFrame, tmp_path: Path) -> None:
    cfg = infer_config(_csv_sample(demo_frame.assign(comment=""), tmp_path), "churned", "churn")
    assert cfg.dataset.label == "churned"


def test_init_writes_a_floor_and_the_minimum_holdout(tmp_path: Path) -> None:
    """``ct init`` writes the promotion policy out, so no champion is crowned on thin evidence by default."""
    from pipeline.app.demo_data import BatchSpec, generate_batch

    sample = _csv_sample(generate_batch(BatchSpec(rows=300, seed=1)), tmp_path)
    cfg = infer_config(sample, "churned", "churn")

    assert cfg.promotion.floors == {"roc_auc": 0.6} and cfg.promotion.primary_metric == "roc_auc"
    written = yaml.safe_load(dump_config(cfg))["promotion"]
    assert (written["min_holdout_rows"], written["min_class_rows"], written["floors"]) == (200, 20, {"roc_auc": 0.6})
    assert parse_config(yaml.safe_load(dump_config(cfg))).promotion == cfg.promotion


# -- ct init on a first hour's files -----------------------------------------------------------------
@pytest.fixture
def ct_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("CT_HOME", str(home))
    monkeypatch.setenv("CT_DATABASE_URL", f"sqlite:///{home / 'ct.db'}")
    for var in ("CT_CONFIG", "CT_DATA_URL"):
        monkeypatch.delenv(var, raising=False)
    return home


def _sample_file(tmp_path: Path, name: str) -> Path:
    from pipeline.app.demo_data import BatchSpec, generate_batch

    path = tmp_path / name
    generate_batch(BatchSpec(rows=120, seed=4)).to_csv(path, index=False)
    return path


def test_init_points_at_name_when_the_file_name_is_not_a_valid_dataset_name(
    tmp_path: Path, ct_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipeline.cli import main as ct_main

    sample = _sample_file(tmp_path, "customers (march).csv")
    assert ct_main(["init", "--from-sample", str(sample), "--label", "churned"]) == 2
    err = capsys.readouterr().err
    assert "--name" in err and "customers_(march)" in err and "--name customers_march" in err
    assert "model.name" not in err  # one clear message, not the schema's two
    assert ct_main(["init", "--from-sample", str(sample), "--label", "churned", "--name", "bad name!"]) == 2
    assert "--name 'bad name!' is not a valid dataset name" in capsys.readouterr().err
    assert ct_main(["init", "--from-sample", str(sample), "--label", "churned", "--name", "customers"]) == 0


def test_init_warns_when_the_home_holds_another_datasets_registry(
    tmp_path: Path, ct_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipeline.app import stages
    from pipeline.app.workspace import open_workspace
    from pipeline.cli import main as ct_main
    from pipeline.core.settings import load_settings

    ws = open_workspace(load_settings())  # the bundled demo config: dataset "churn"
    ws.settings.landing.mkdir(parents=True)
    (ws.settings.landing / "b1").mkdir()
    _sample_file(ws.settings.landing / "b1", "b.csv")
    (ws.settings.landing / "b1" / "_SUCCESS").touch()
    assert stages.ingest_landing(ws).snapshot_id

    sample = _sample_file(tmp_path, "loans.csv")
    assert ct_main(["init", "--from-sample", str(sample), "--label", "churned"]) == 0
    err = capsys.readouterr().err
    assert "warning:" in err and "another dataset's registry" in err and "churn" in err and "CT_HOME=" in err

    quiet_home = tmp_path / "fresh"
    assert (
        ct_main(["init", "--from-sample", str(sample), "--label", "churned", "--output", str(quiet_home / "p.yaml")])
        == 0
    )  # same store: still warned
    assert "warning:" in capsys.readouterr().err


def test_init_in_an_empty_home_warns_nothing_and_creates_no_store(
    tmp_path: Path, ct_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipeline.cli import main as ct_main

    assert ct_main(["init", "--from-sample", str(_sample_file(tmp_path, "loans.csv")), "--label", "churned"]) == 0
    assert "warning" not in capsys.readouterr().err
    assert not (ct_env / "ct.db").exists()


def test_snapshots_list_shows_a_dataset_column_when_the_store_holds_several(
    tmp_path: Path, ct_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipeline.app import stages
    from pipeline.app.workspace import Workspace, open_workspace
    from pipeline.cli import main as ct_main
    from pipeline.core.settings import load_settings

    ws = open_workspace(load_settings())
    for index, dataset in enumerate(("churn", "churn_eu")):
        folder = ws.settings.landing / f"b{index}"
        folder.mkdir(parents=True)
        _sample_file(folder, "b.csv")
        (folder / "_SUCCESS").touch()
        other = Workspace(
            settings=ws.settings,
            config=ws.config.model_copy(update={"dataset": ws.config.dataset.model_copy(update={"name": dataset})}),
        )
        stages.ingest_landing(other)
        if index == 0:
            assert ct_main(["snapshots", "list"]) == 0
            assert "dataset" not in capsys.readouterr().out.splitlines()[0]
    assert ct_main(["snapshots", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[0] == "dataset"
    assert {line.split()[0] for line in lines[2:]} == {"churn", "churn_eu"}
