"""``ct init``: infer an editable config from a sample file of a new dataset."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pandas as pd

from pipeline.config import DatasetConfig, PipelineConfig, PromotionConfig, parse_config
from pipeline.errors import ConfigError

log = logging.getLogger(__name__)

MAX_LEVELS = 50
_ID_NAME = re.compile(r"(^id$|_id$|^id_|uuid|guid|_key$|^key$)", re.IGNORECASE)
DEFAULT_FLOOR = 0.6
"""The ROC AUC a first model must reach on the holdout (0.5 is a coin toss): written by ``ct init``."""

_POSITIVE = ("1", "yes", "true", "y", "t", "positive", "pos", "churn", "churned", "fraud", "default", "bad")


def _name_pattern() -> re.Pattern[str]:
    """The pattern a dataset name must match, read from the config schema so the two never disagree."""
    for meta in DatasetConfig.model_fields["name"].metadata:
        if getattr(meta, "pattern", None):
            return re.compile(meta.pattern)
    return re.compile(r"^[A-Za-z0-9_.-]+$")


def suggest_name(text: str) -> str:
    """``text`` made into a valid dataset name: every run of other characters becomes one ``_``."""
    return re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9_.-]+", "_", text)).strip("_") or "dataset"


def check_dataset_name(name: str, given: bool, sample: Path) -> None:
    """Refuse a name that fails the config's pattern, pointing at ``--name`` (with a valid suggestion)."""
    if _name_pattern().match(name):
        return
    rule = "letters, digits, '_', '.' and '-' only"
    if given:
        raise ConfigError(f"--name {name!r} is not a valid dataset name ({rule}); try --name {suggest_name(name)}")
    raise ConfigError(f"the dataset name defaults to the sample's file name, and {name!r} (from {sample.name}) is "
                      f"not a valid name ({rule}); choose one with --name, e.g. --name {suggest_name(name)}")


def other_registries(database_url: str, dataset: str, model: str) -> dict[str, list[str]]:
    """Datasets with snapshots and models with versions in this metadata store, other than the new ones.

    A store that does not exist yet (or cannot be opened) holds nothing; it is never created here.
    """
    from pipeline.registry.sql import SqlMetadataStore

    if database_url.startswith("sqlite:///") and not Path(database_url[len("sqlite:///"):]).exists():
        return {"datasets": [], "models": []}
    try:
        store = SqlMetadataStore(database_url, create=False)
    except Exception as err:  # no schema or no server: nothing to warn about, and init must not fail on it
        log.debug("metadata store %s not inspected: %s", database_url, err)
        return {"datasets": [], "models": []}
    try:
        datasets = sorted({s.dataset for s in store.list_snapshots()} - {dataset})
        models = sorted({v.name for v in store.list_model_versions()} - {model})
    finally:
        store.dispose()
    return {"datasets": datasets, "models": models}


def read_sample(path: Path) -> pd.DataFrame:
    """A CSV or Parquet sample, all CSV columns read as text (types are inferred afterwards)."""
    if not path.exists():
        raise ConfigError(f"sample file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if suffix == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    raise ConfigError(f"sample file {path}: unsupported type {suffix!r}; expected .csv or .parquet")


def _is_numeric(values: pd.Series) -> bool:
    present = values.dropna()
    if present.empty:
        return False
    if pd.api.types.is_bool_dtype(present):
        return False
    converted = pd.to_numeric(present, errors="coerce")
    return bool(converted.notna().mean() >= 0.98)


def _is_identifier(name: str, values: pd.Series) -> bool:
    present = values.dropna()
    if present.empty:
        return False
    unique_ratio = present.nunique() / len(present)
    if _ID_NAME.search(name) and unique_ratio > 0.95:
        return True
    return not _is_numeric(values) and unique_ratio == 1.0 and len(present) > MAX_LEVELS


def _positive_class(classes: list[str], labels: pd.Series) -> str:
    for c in classes:
        if c.lower() in _POSITIVE:
            return c
    return str(labels.value_counts().idxmin())


def infer_config(sample: pd.DataFrame, label: str, name: str, model_name: str | None = None) -> PipelineConfig:
    """A validated config describing ``sample``: ids, numeric and categorical features, label."""
    if label not in sample.columns:
        raise ConfigError(f"label column {label!r} is not in the sample; columns are {list(sample.columns)}")
    labels = sample[label].dropna().astype(str).str.strip()
    classes = sorted(labels.unique().tolist())
    if len(classes) != 2:
        raise ConfigError(f"label column {label!r} has {len(classes)} classes {classes[:10]}; this version "
                          "supports binary classification (exactly two classes)")
    ids, numeric, categorical = [], [], []
    for col in sample.columns:
        if col == label:
            continue
        values = sample[col]
        if values.dropna().astype(str).str.strip().eq("").all():
            log.warning("column %r has no values in the sample; left out (add it by hand once it has data)", col)
            continue
        if _is_identifier(col, values):
            ids.append(col)
        elif _is_numeric(values):
            numeric.append({"name": col})
        else:
            levels = sorted(values.dropna().astype(str).str.strip().unique().tolist())
            if len(levels) > MAX_LEVELS:
                log.warning("column %r has %d distinct text values; left out as free text (add it by hand if needed)",
                            col, len(levels))
                continue
            categorical.append({"name": col, "levels": levels})
    shares = labels.value_counts(normalize=True)
    expected = {c: round(float(shares.get(c, 0.0)), 4) for c in classes}
    expected[classes[-1]] = round(1.0 - expected[classes[0]], 4)
    data = {
        "dataset": {"name": name, "label": label, "classes": classes,
                    "positive_class": _positive_class(classes, labels), "id_columns": ids,
                    "features": {"numeric": numeric, "categorical": categorical}},
        "validation": {"label_contract": {"expected_shares": expected, "tolerance": 0.1, "severity": "warn"}},
        # No champion on thin evidence: a floor on the primary metric and the policy's minimum holdout
        # (see PromotionConfig), written out so they can be seen and edited.
        "promotion": {"primary_metric": "roc_auc", "floors": {"roc_auc": DEFAULT_FLOOR},
                      "min_holdout_rows": PromotionConfig().min_holdout_rows,
                      "min_class_rows": PromotionConfig().min_class_rows},
        "model": {"name": model_name or f"{name}-classifier", "spec": "default", "specs": {
            "default": {"estimator": "logistic_regression", "params": {"C": 1.0, "max_iter": 2000}},
            "gradient_boosting": {"estimator": "gradient_boosting", "params": {"max_iter": 200, "learning_rate": 0.1}},
        }},
    }
    return parse_config(data, f"inferred from sample ({name})")
