"""Unit tests for ``ct init``'s task inference (issue 16): binary, multiclass and regression labels.

The samples are scikit-learn's bundled datasets (no download), written as CSV the way a user's
sample arrives; every config ``ct init`` writes must load with :func:`load_config`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import datasets

from pipeline.app.onboarding import (
    MAX_CLASSES,
    MAX_NUMERIC_CLASSES,
    MIN_NUMERIC_CLASS_ROWS,
    infer_config,
    infer_label,
    read_sample,
)
from pipeline.core.config import PipelineConfig, dump_config, load_config
from pipeline.core.errors import ConfigError


def _sklearn_csv(tmp_path: Path, loader: str, names: bool = False) -> tuple[Path, pd.DataFrame]:
    """A bundled scikit-learn dataset as a CSV sample; ``names``: the label as its class names (text)."""
    bunch = getattr(datasets, loader)(as_frame=True)
    frame = bunch.frame.copy()
    if names:
        frame["target"] = [str(bunch.target_names[i]) for i in bunch.target]
    path = tmp_path / f"{loader.removeprefix('load_')}.csv"
    frame.to_csv(path, index=False)
    return path, frame


def _written(cfg: PipelineConfig, tmp_path: Path) -> PipelineConfig:
    """The config as ``ct init`` writes it and every command reads it back."""
    path = tmp_path / "pipeline.yaml"
    path.write_text(dump_config(cfg), encoding="utf-8")
    loaded = load_config(path)
    assert loaded == cfg
    return loaded


def test_iris_names_are_multiclass_with_every_share(tmp_path: Path) -> None:
    path, frame = _sklearn_csv(tmp_path, "load_iris", names=True)
    cfg = _written(infer_config(read_sample(path), "target", "iris"), tmp_path)
    ds = cfg.dataset
    assert (ds.task, ds.classes, ds.positive_class) == ("multiclass", ("setosa", "versicolor", "virginica"), None)
    shares = cfg.validation.label_contract.expected_shares
    assert shares is not None and set(shares) == set(ds.classes)
    assert sum(shares.values()) == pytest.approx(1.0, abs=1e-9)
    assert all(share == pytest.approx(1 / 3, abs=1e-4) for share in shares.values())
    assert cfg.promotion.primary_metric == "roc_auc" and cfg.promotion.floors == {"roc_auc": 0.6}
    assert {s.estimator for s in cfg.model.specs.values()} == {"logistic_regression", "gradient_boosting"}
    assert cfg.model.name == "iris-classifier" and cfg.model.output is None
    assert ds.numeric_names == [c for c in frame.columns if c != "target"]


def test_wine_codes_are_multiclass_with_shares_of_the_sample(tmp_path: Path) -> None:
    path, frame = _sklearn_csv(tmp_path, "load_wine")
    inferred = infer_label(read_sample(path), "target")
    assert inferred.task == "multiclass" and "3 distinct whole values" in inferred.reason
    cfg = _written(infer_config(read_sample(path), "target", "wine"), tmp_path)
    assert cfg.dataset.classes == ("0", "1", "2")
    counts = frame["target"].value_counts(normalize=True)
    shares = cfg.validation.label_contract.expected_shares
    assert shares is not None
    for code in (0, 1, 2):
        assert shares[str(code)] == pytest.approx(counts[code], abs=1e-4)
    assert sum(shares.values()) == pytest.approx(1.0, abs=1e-9)


def test_diabetes_is_regression_gated_on_rmse(tmp_path: Path) -> None:
    path, frame = _sklearn_csv(tmp_path, "load_diabetes")
    sample = read_sample(path)
    inferred = infer_label(sample, "target")
    distinct = frame["target"].nunique()
    assert inferred.task == "regression"
    assert f"label 'target' is numeric with {distinct} distinct values" in inferred.reason
    assert inferred.reason.split(":")[-1].strip().startswith("regression")
    std = float(frame["target"].std(ddof=1))
    assert inferred.std == pytest.approx(std, rel=1e-9)
    cfg = _written(infer_config(sample, "target", "diabetes"), tmp_path)
    ds = cfg.dataset
    assert (ds.task, ds.classes, ds.positive_class) == ("regression", (), None)
    assert cfg.promotion.primary_metric == "rmse"
    assert cfg.promotion.margin == 0.01  # a share of the champion's RMSE (metric_names.tolerance)
    assert cfg.promotion.floors == {"r2": 0.1}
    contract = cfg.validation.label_contract
    assert contract.expected_shares is None and contract.min is None and contract.max is None
    assert {s.estimator for s in cfg.model.specs.values()} == {"ridge", "gradient_boosting"}
    assert cfg.model.name == "diabetes-regressor"


def test_breast_cancer_stays_binary(tmp_path: Path) -> None:
    path, _ = _sklearn_csv(tmp_path, "load_breast_cancer")
    cfg = _written(infer_config(read_sample(path), "target", "cancer"), tmp_path)
    assert (cfg.dataset.task, cfg.dataset.classes, cfg.dataset.positive_class) == ("binary", ("0", "1"), "1")
    assert "task" not in dump_config(cfg).split("id_columns")[0]  # binary configs look as before


def _numeric_label(values: list[int | float]) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"x": rng.normal(size=len(values)).round(3).astype(str), "y": [str(v) for v in values]})


def test_numeric_label_threshold_between_classes_and_a_quantity() -> None:
    at_limit = [v for v in range(MAX_NUMERIC_CLASSES) for _ in range(MIN_NUMERIC_CLASS_ROWS)]
    assert infer_label(_numeric_label(at_limit), "y").task == "multiclass"
    one_more = at_limit + [MAX_NUMERIC_CLASSES] * MIN_NUMERIC_CLASS_ROWS
    over = infer_label(_numeric_label(one_more), "y")
    assert over.task == "regression"
    assert f"numeric with {MAX_NUMERIC_CLASSES + 1} distinct values (more than {MAX_NUMERIC_CLASSES}): regression" in (
        over.reason
    )
    rare = at_limit[:-1]  # the last value now on one row too few
    assert infer_label(_numeric_label(rare), "y").task == "regression"
    fractions = [0.5, 1.5, 2.5] * 10
    assert infer_label(_numeric_label(fractions), "y").task == "regression"


def test_numeric_classes_sort_as_numbers() -> None:
    cfg = infer_config(_numeric_label([1, 2, 10] * 10), "y", "codes")
    assert cfg.dataset.classes == ("1", "2", "10")


def test_too_many_text_values_is_not_a_label() -> None:
    values = [f"c{i}" for i in range(MAX_CLASSES + 1)] * 3
    with pytest.raises(ConfigError, match=f"{MAX_CLASSES + 1} distinct text values"):
        infer_label(pd.DataFrame({"x": ["1"] * len(values), "y": values}), "y")


def test_task_override(tmp_path: Path) -> None:
    iris = read_sample(_sklearn_csv(tmp_path, "load_iris", names=True)[0])
    with pytest.raises(ConfigError, match=r"--task regression: label column 'target' holds text \('setosa'"):
        infer_config(iris, "target", "iris", task="regression")
    with pytest.raises(ConfigError, match=r"--task binary: .* 3 distinct values"):
        infer_config(iris, "target", "iris", task="binary")

    wine = read_sample(_sklearn_csv(tmp_path, "load_wine")[0])
    as_number = infer_config(wine, "target", "wine", task="regression")
    assert as_number.dataset.task == "regression" and as_number.promotion.primary_metric == "rmse"
    assert "(--task)" in infer_label(wine, "target", "regression").reason

    diabetes = read_sample(_sklearn_csv(tmp_path, "load_diabetes")[0])
    with pytest.raises(ConfigError, match=f"more than {MAX_CLASSES} classes"):
        infer_config(diabetes, "target", "diabetes", task="multiclass")

    cancer = read_sample(_sklearn_csv(tmp_path, "load_breast_cancer")[0])
    with pytest.raises(ConfigError, match="that is --task binary"):
        infer_config(cancer, "target", "cancer", task="multiclass")
    with pytest.raises(ConfigError, match="expected one of"):
        infer_label(cancer, "target", "ranking")


@pytest.fixture
def ct_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("CT_HOME", str(home))
    monkeypatch.setenv("CT_DATABASE_URL", f"sqlite:///{home / 'ct.db'}")
    for var in ("CT_CONFIG", "CT_DATA_URL"):
        monkeypatch.delenv(var, raising=False)
    return home


def test_ct_init_says_what_it_inferred_and_why(
    tmp_path: Path, ct_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipeline.cli import main as ct_main

    diabetes, _ = _sklearn_csv(tmp_path, "load_diabetes")
    out_path = tmp_path / "diabetes.yaml"
    assert ct_main(["init", "--from-sample", str(diabetes), "--label", "target", "--output", str(out_path)]) == 0
    out = capsys.readouterr().out
    assert "task: regression (label 'target' is numeric with 214 distinct values" in out
    assert "standard deviation 77.09" in out and "clip_min" in out
    assert "RMSE may be at most 1% above the champion's (margin 0.01, a share)" in out
    assert load_config(out_path).dataset.task == "regression"

    iris, _ = _sklearn_csv(tmp_path, "load_iris", names=True)
    iris_out = tmp_path / "iris.yaml"
    assert ct_main(["init", "--from-sample", str(iris), "--label", "target", "--output", str(iris_out)]) == 0
    out = capsys.readouterr().out
    assert "task: multiclass (label 'target' is text with 3 distinct values" in out
    assert "3 classes (setosa 33%, versicolor 33%, virginica 33%)" in out

    wine, _ = _sklearn_csv(tmp_path, "load_wine")
    args = ["init", "--from-sample", str(wine), "--label", "target", "--output", str(tmp_path / "w.yaml")]
    assert ct_main([*args, "--task", "regression"]) == 0
    assert "task: regression (label 'target' has 3 distinct numeric values: regression (--task))" in (
        capsys.readouterr().out
    )
    assert ct_main([*args, "--force", "--task", "binary"]) == 2
    assert "binary needs exactly two" in capsys.readouterr().err
