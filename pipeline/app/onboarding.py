"""``ct init``: infer an editable config from a sample file of a new dataset."""

from __future__ import annotations

import csv
import logging
import re
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.core.config import DatasetConfig, PipelineConfig, PromotionConfig, parse_config
from pipeline.core.errors import ConfigError

log = logging.getLogger(__name__)

MAX_LEVELS = 50
"""Above this many levels a categorical is encoded (``encoding: target``) instead of one-hot."""
MAX_LEVEL_SHARE = 0.5
"""A text column with more distinct values than this share of its rows is free text, left out."""
DELIMITERS = ",;\t|"
_SNIFF_LINES = 50
_TIME_NAME = re.compile(r"(time|date|timestamp|_at$|^at_|_on$|when|day$)", re.IGNORECASE)
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
    raise ConfigError(
        f"the dataset name defaults to the sample's file name, and {name!r} (from {sample.name}) is "
        f"not a valid name ({rule}); choose one with --name, e.g. --name {suggest_name(name)}"
    )


def other_registries(database_url: str, dataset: str, model: str) -> dict[str, list[str]]:
    """Datasets with snapshots and models with versions in this metadata store, other than the new ones.

    A store that does not exist yet (or cannot be opened) holds nothing; it is never created here.
    """
    from pipeline.registry.sql import SqlMetadataStore

    if database_url.startswith("sqlite:///") and not Path(database_url[len("sqlite:///") :]).exists():
        return {"datasets": [], "models": []}
    try:
        store = SqlMetadataStore(database_url, create=False)
    except Exception as err:  # noqa: BLE001 - no schema or no server: nothing to warn about, and init must not fail on it
        log.debug("metadata store %s not inspected: %s", database_url, err)
        return {"datasets": [], "models": []}
    try:
        datasets = sorted({s.dataset for s in store.list_snapshots()} - {dataset})
        models = sorted({v.name for v in store.list_model_versions()} - {model})
    finally:
        store.dispose()
    return {"datasets": datasets, "models": models}


def sniff_delimiter(path: Path) -> str:
    """The CSV's delimiter, one of ``, ; tab |``, from its first lines (csv.Sniffer, restricted).

    Raises ConfigError saying how to declare it when the lines do not tell.
    """
    with open(path, encoding="utf-8-sig", newline="") as fh:
        head = "".join(line for _, line in zip(range(_SNIFF_LINES), fh))
    lines = [ln for ln in head.splitlines() if ln.strip()]
    try:
        sniffed = csv.Sniffer().sniff(head, delimiters=DELIMITERS).delimiter
    except csv.Error:
        sniffed = None
    if sniffed and len({len(row) for row in csv.reader(lines, delimiter=sniffed)}) == 1:
        return sniffed  # every line splits into as many fields as the header
    # the Sniffer gives up on some files; a delimiter found equally often on every line is still clear
    steady = [d for d in DELIMITERS if lines and lines[0].count(d) > 0 and len({ln.count(d) for ln in lines}) == 1]
    if len(steady) == 1:
        return steady[0]
    if lines and len(lines[0].strip()) and not any(d in lines[0] for d in DELIMITERS) and len(lines) > 1:
        return ","  # one column: any delimiter reads it
    raise ConfigError(
        f"sample file {path}: cannot tell its delimiter from the first lines (tried "
        "',', ';', tab and '|'); pass it to `ct init --delimiter ';'` and, in the config, set "
        'ingest.csv_delimiter (e.g. csv_delimiter: ";")'
    )


def read_sample(path: Path, delimiter: str | None = None) -> pd.DataFrame:
    """A CSV or Parquet sample, all CSV columns read as text (types are inferred afterwards).

    A CSV's delimiter is sniffed unless given; it is kept in ``frame.attrs["csv_delimiter"]`` so
    :func:`infer_config` writes it into ``ingest.csv_delimiter``.
    """
    if not path.exists():
        raise ConfigError(f"sample file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if suffix in (".csv", ".tsv", ".txt"):
        sep = delimiter or sniff_delimiter(path)
        frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8-sig")
        frame.attrs["csv_delimiter"] = sep
        return frame
    raise ConfigError(f"sample file {path}: unsupported type {suffix!r}; expected .csv or .parquet")


_DECIMAL_COMMA = re.compile(r"^[+-]?\d*,\d+$")


def _decimal_comma(values: pd.Series) -> bool:
    """Text numbers written with a decimal comma (``1,5``), as in many ``;``-separated files."""
    present = values.dropna().astype(str).str.strip()
    present = present[present != ""]
    if present.empty or pd.api.types.is_numeric_dtype(values.dtype):
        return False
    return bool(present.str.match(_DECIMAL_COMMA).any()) and _is_numeric(present.str.replace(",", ".", regex=False))


def _as_utc(values: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values.dt.tz_localize("UTC") if values.dt.tz is None else values.dt.tz_convert("UTC")
    return pd.to_datetime(values.astype(str).str.strip(), format="ISO8601", utc=True, errors="coerce")


def _is_datetime(values: pd.Series) -> bool:
    """Timestamp columns, and text that (nearly) always parses as ISO 8601 dates but not as numbers."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return True
    present = values.dropna()
    if present.empty or pd.api.types.is_numeric_dtype(present.dtype) or _is_numeric(present):
        return False
    text = present.astype(str).str.strip()
    if not text.str.contains(r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[/.]\d{1,2}[/.]\d{2,4}", regex=True).mean() >= 0.98:
        return False
    parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    return bool(parsed.notna().mean() >= 0.98)


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
        raise ConfigError(
            f"label column {label!r} has {len(classes)} classes {classes[:10]}; this version "
            "supports binary classification (exactly two classes)"
        )
    ids: list[str] = []
    numeric: list[dict[str, Any]] = []
    categorical: list[dict[str, Any]] = []
    dates: list[dict[str, Any]] = []
    delimiter = sample.attrs.get("csv_delimiter", ",")
    decimal = "."
    for col in sample.columns:
        if col == label:
            continue
        values = sample[col]
        if values.dropna().astype(str).str.strip().eq("").all():
            log.warning("column %r has no values in the sample; left out (add it by hand once it has data)", col)
            continue
        if _ID_NAME.search(col) and _is_identifier(col, values):
            ids.append(col)
        elif _is_datetime(values):
            dates.append({"name": col})
        elif _is_identifier(col, values):
            ids.append(col)
        elif _is_numeric(values):
            numeric.append({"name": col})
        elif delimiter != "," and _decimal_comma(values):
            numeric.append({"name": col})
            decimal = ","
        else:
            levels = sorted(values.dropna().astype(str).str.strip().unique().tolist())
            if len(levels) > MAX_LEVELS:
                if len(levels) > MAX_LEVEL_SHARE * max(len(values.dropna()), 1):
                    log.warning(
                        "column %r has %d distinct text values in %d rows; left out as free text "
                        "(add it by hand if needed)",
                        col,
                        len(levels),
                        len(values.dropna()),
                    )
                    continue
                log.warning(
                    "column %r has %d levels, more than %d: kept with encoding: target (levels not listed; "
                    "unknown levels are expected)",
                    col,
                    len(levels),
                    MAX_LEVELS,
                )
                categorical.append({"name": col, "encoding": "target"})
                continue
            categorical.append({"name": col, "levels": levels})
    # the row's time: among date columns named like one, the latest (an event comes after a signup)
    # (never one with gaps: a time-based split needs every row's time)
    as_times = {str(d["name"]): _as_utc(sample[str(d["name"])]) for d in dates}
    timed = [c for c, times in as_times.items() if _TIME_NAME.search(c) and times.notna().all()]
    time_column = max(timed, key=lambda c: as_times[c].median()) if timed else None
    for d in dates:
        if d["name"] == time_column:  # the row's own time: its season, not its age or its year
            d["derive"] = ["month", "day_of_week", "hour"]
    shares = labels.value_counts(normalize=True)
    expected = {c: round(float(shares.get(c, 0.0)), 4) for c in classes}
    expected[classes[-1]] = round(1.0 - expected[classes[0]], 4)
    data = {
        "dataset": {
            "name": name,
            "label": label,
            "classes": classes,
            "positive_class": _positive_class(classes, labels),
            "id_columns": ids,
            "features": {"numeric": numeric, "categorical": categorical, **({"datetime": dates} if dates else {})},
            **({"time_column": time_column} if time_column else {}),
        },
        **(
            {"ingest": {"csv_delimiter": delimiter, **({"csv_decimal": decimal} if decimal != "." else {})}}
            if delimiter != "," or decimal != "."
            else {}
        ),
        "validation": {"label_contract": {"expected_shares": expected, "tolerance": 0.1, "severity": "warn"}},
        # No champion on thin evidence: a floor on the primary metric and the policy's minimum holdout
        # (see PromotionConfig), written out so they can be seen and edited.
        "promotion": {
            "primary_metric": "roc_auc",
            "floors": {"roc_auc": DEFAULT_FLOOR},
            "min_holdout_rows": PromotionConfig().min_holdout_rows,
            "min_class_rows": PromotionConfig().min_class_rows,
        },
        "model": {
            "name": model_name or f"{name}-classifier",
            "spec": "default",
            "specs": {
                "default": {"estimator": "logistic_regression", "params": {"C": 1.0, "max_iter": 2000}},
                "gradient_boosting": {
                    "estimator": "gradient_boosting",
                    "params": {"max_iter": 200, "learning_rate": 0.1},
                },
            },
        },
    }
    return parse_config(data, f"inferred from sample ({name})")
