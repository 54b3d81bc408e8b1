"""``ct init``: infer an editable config from a sample file of a new dataset."""

from __future__ import annotations

import csv
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.config import DatasetConfig, PipelineConfig, PromotionConfig, parse_config
from pipeline.core.errors import ConfigError
from pipeline.core.metric_names import TASK_TYPES, TaskType

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
DEFAULT_R2_FLOOR = 0.1
"""The R² a first regressor must reach (0 is predicting the mean): written by ``ct init``."""
MAX_CLASSES = 50
"""At most this many classes are inferred or accepted; more distinct text values is not a label."""
MAX_NUMERIC_CLASSES = 20
"""A numeric label with at most this many distinct whole values (each common enough) is classes."""
MIN_NUMERIC_CLASS_ROWS = 5
"""Each value of a numeric label read as classes must be on at least this many sample rows; a
value seen on fewer rows is one a quantity happens to take rarely, and a class that rare could
not fill a cross-validation fold anyway."""

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


@dataclass(frozen=True)
class LabelInference:
    """What the label column asks for, and why ``ct init`` thinks so.

    ``classes`` are sorted (numerically when every class is a number, so ``2`` comes before
    ``10``) and ``shares`` gives each one's share of the sample; both are empty for regression,
    which has ``std``, ``minimum`` and ``maximum`` of the label instead.
    """

    task: TaskType
    reason: str
    distinct: int
    classes: tuple[str, ...] = ()
    positive_class: str | None = None
    shares: tuple[tuple[str, float], ...] = ()
    std: float | None = None
    minimum: float | None = None
    maximum: float | None = None


def _sorted_classes(values: list[str], numeric: bool) -> list[str]:
    return sorted(values, key=float) if numeric else sorted(values)


def _rounded_shares(counts: pd.Series, classes: list[str]) -> tuple[tuple[str, float], ...]:
    """Each class's share rounded to 4 places; the largest class absorbs the rounding, so they sum to 1."""
    total = float(counts.sum())
    shares = {c: round(float(counts.get(c, 0)) / total, 4) for c in classes}
    largest = max(classes, key=lambda c: (counts.get(c, 0), c))
    shares[largest] = round(1.0 - sum(v for c, v in shares.items() if c != largest), 4)
    return tuple((c, shares[c]) for c in classes)


def _task_error(label: str, task: str, why: str) -> ConfigError:
    return ConfigError(f"--task {task}: label column {label!r} {why}")


def infer_label(sample: pd.DataFrame, label: str, task: str | None = None) -> LabelInference:
    """The task the label asks for (or the one ``task`` names, if the label fits it).

    The rule, on the label's non-missing values:

    * two distinct values: **binary** (numeric or text);
    * text, three to :data:`MAX_CLASSES` distinct values: **multiclass**;
    * numbers, all whole, three to :data:`MAX_NUMERIC_CLASSES` distinct values, each seen on at
      least :data:`MIN_NUMERIC_CLASS_ROWS` rows (codes such as ``0/1/2`` or ratings ``1..5``):
      **multiclass**;
    * any other numeric label (fractions, or many distinct values, or rare values): **regression**.

    Raises ConfigError for a label with one value, text with more than :data:`MAX_CLASSES`
    values, or a ``task`` the label cannot fit (regression on text, binary on three classes ...).
    """
    if label not in sample.columns:
        raise ConfigError(f"label column {label!r} is not in the sample; columns are {list(sample.columns)}")
    if task is not None and task not in TASK_TYPES:
        raise ConfigError(f"--task {task!r}: expected one of {list(TASK_TYPES)}")
    raw = sample[label]
    labels = raw.astype("string").str.strip()  # as ingestion reads a label (see coerce_label)
    labels = labels[labels.notna() & (labels != "")].astype(str)
    if labels.empty:
        raise ConfigError(f"label column {label!r} has no values in the sample")
    numbers = pd.to_numeric(labels, errors="coerce")
    numeric = not pd.api.types.is_bool_dtype(raw.dtype) and bool(numbers.notna().all())
    counts = labels.value_counts()
    distinct = len(counts)
    shown = ", ".join(repr(c) for c in _sorted_classes(counts.index.tolist(), numeric)[:10])
    if distinct < 2:
        raise ConfigError(
            f"label column {label!r} has a single value ({shown}) in the sample: nothing to learn; "
            "take a sample with more than one outcome"
        )
    whole = numeric and bool(np.all(np.mod(numbers.to_numpy(dtype=float), 1.0) == 0.0))
    if task is None:
        if distinct == 2:
            task = "binary"
        elif not numeric:
            if distinct > MAX_CLASSES:
                raise ConfigError(
                    f"label column {label!r} has {distinct:,} distinct text values ({shown}, ...), more than "
                    f"{MAX_CLASSES} classes: is it the right column? A numeric label with text in it is "
                    "read as text; fix those rows, or choose another --label"
                )
            task = "multiclass"
        elif whole and distinct <= MAX_NUMERIC_CLASSES and int(counts.min()) >= MIN_NUMERIC_CLASS_ROWS:
            task = "multiclass"
        else:
            task = "regression"
        why = _inferred_why(label, task, numeric, whole, distinct, counts)
    else:
        why = f"label {label!r} has {distinct:,} distinct {'numeric' if numeric else 'text'} values: {task} (--task)"
        if task == "binary" and distinct != 2:
            raise _task_error(label, task, f"has {distinct:,} distinct values ({shown}); binary needs exactly two")
        if task == "multiclass" and distinct < 3:
            raise _task_error(label, task, f"has two values ({shown}); that is --task binary")
        if task == "multiclass" and distinct > MAX_CLASSES:
            raise _task_error(
                label,
                task,
                f"has {distinct:,} distinct values, more than {MAX_CLASSES} classes; a quantity is --task regression",
            )
        if task == "regression" and not numeric:
            text = labels[numbers.isna()].unique().tolist()[:3]
            raise _task_error(
                label, task, f"holds text ({', '.join(repr(t) for t in text)}); regression needs a numeric label"
            )
    if task == "regression":
        values = numbers.to_numpy(dtype=float)
        return LabelInference(
            "regression",
            why,
            distinct,
            std=float(np.std(values, ddof=1)),
            minimum=float(values.min()),
            maximum=float(values.max()),
        )
    classes = _sorted_classes(counts.index.tolist(), numeric)
    rare = [c for c in classes if counts[c] < PromotionConfig().min_class_rows]
    if rare:
        log.warning(
            "class(es) %s of %r have fewer than %d rows in the sample; no model is promoted until the "
            "holdout holds that many of every class (promotion.min_class_rows)",
            rare,
            label,
            PromotionConfig().min_class_rows,
        )
    positive = _positive_class(classes, labels) if task == "binary" else None
    return LabelInference(
        "binary" if task == "binary" else "multiclass",
        why,
        distinct,
        classes=tuple(classes),
        positive_class=positive,
        shares=_rounded_shares(counts, classes),
    )


def _inferred_why(label: str, task: str, numeric: bool, whole: bool, distinct: int, counts: pd.Series) -> str:
    """One line saying which rule of :func:`infer_label` decided ``task``."""
    kind = "numeric" if numeric else "text"
    if task == "binary":
        return f"label {label!r} has two distinct {kind} values: binary"
    if task == "multiclass" and not numeric:
        return f"label {label!r} is text with {distinct} distinct values: multiclass"
    if task == "multiclass":
        return (
            f"label {label!r} is numeric with {distinct} distinct whole values (at most {MAX_NUMERIC_CLASSES}, "
            f"each on at least {MIN_NUMERIC_CLASS_ROWS} rows): multiclass (--task regression if it is a quantity)"
        )
    if not whole:
        because = "with fractions"
    elif distinct > MAX_NUMERIC_CLASSES:
        because = f"more than {MAX_NUMERIC_CLASSES}"
    else:
        because = f"some on fewer than {MIN_NUMERIC_CLASS_ROWS} rows"
    return f"label {label!r} is numeric with {distinct:,} distinct values ({because}): regression" + (
        " (--task multiclass if they are codes)" if whole and distinct <= MAX_CLASSES else ""
    )


def infer_config(
    sample: pd.DataFrame,
    label: str,
    name: str,
    model_name: str | None = None,
    task: str | None = None,
) -> PipelineConfig:
    """A validated config describing ``sample``: ids, numeric and categorical features, label.

    The task (binary, multiclass or regression) is inferred from the label (see
    :func:`infer_label`) unless ``task`` names it.
    """
    inferred = infer_label(sample, label, task)
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
    data = {
        "dataset": {
            "name": name,
            "label": label,
            **_task_keys(inferred),
            "id_columns": ids,
            "features": {"numeric": numeric, "categorical": categorical, **({"datetime": dates} if dates else {})},
            **({"time_column": time_column} if time_column else {}),
        },
        **(
            {"ingest": {"csv_delimiter": delimiter, **({"csv_decimal": decimal} if decimal != "." else {})}}
            if delimiter != "," or decimal != "."
            else {}
        ),
        "validation": {"label_contract": _label_contract(inferred)},
        "promotion": _promotion(inferred),
        "model": {
            "name": model_name or f"{name}-{'regressor' if inferred.task == 'regression' else 'classifier'}",
            "spec": "default",
            "specs": _model_specs(inferred.task),
        },
    }
    return parse_config(data, f"inferred from sample ({name})")


def _task_keys(inferred: LabelInference) -> dict[str, Any]:
    """``dataset.task``/``classes``/``positive_class`` as the task wants them (binary: task left implicit)."""
    if inferred.task == "binary":
        return {"classes": list(inferred.classes), "positive_class": inferred.positive_class}
    if inferred.task == "multiclass":
        return {"task": "multiclass", "classes": list(inferred.classes)}
    return {"task": "regression"}


def _label_contract(inferred: LabelInference) -> dict[str, Any]:
    """Classification: every class's share in the sample.  Regression: the contract's defaults, no range.

    A numeric label's range is not written: the sample's min and max are where this sample
    happened to stop, not what the label can be, and a contract that fails the next batch for a
    slightly higher price teaches users to ignore it.  ``ct init`` prints the sample's range instead.
    """
    if inferred.task == "regression":
        return {"severity": "warn"}
    return {"expected_shares": dict(inferred.shares), "tolerance": 0.1, "severity": "warn"}


def _promotion(inferred: LabelInference) -> dict[str, Any]:
    """The promotion policy written out, so it can be seen and edited.

    No champion on thin evidence: a floor on a metric and the policy's minimum holdout (see
    PromotionConfig).  Classification floors ROC AUC at :data:`DEFAULT_FLOOR` (binary, or the
    one-vs-rest macro average for multiclass).  Regression gates on RMSE with the default margin
    written out: RMSE is in the label's units, so the policy reads its margin as a share of the
    champion's RMSE (``pipeline.core.metric_names.tolerance``): 0.01 lets a challenger be at most
    1% worse, whatever the label's units.  It floors R² at :data:`DEFAULT_R2_FLOOR`, the unit-free
    "clearly better than predicting the mean" (a floor on RMSE would need the label's units).
    """
    base = {
        "min_holdout_rows": PromotionConfig().min_holdout_rows,
        "min_class_rows": PromotionConfig().min_class_rows,
    }
    if inferred.task == "regression":
        return {
            "primary_metric": "rmse",
            "margin": PromotionConfig().margin,
            "floors": {"r2": DEFAULT_R2_FLOOR},
            **base,
        }
    return {"primary_metric": "roc_auc", "floors": {"roc_auc": DEFAULT_FLOOR}, **base}


def _model_specs(task: str) -> dict[str, Any]:
    """A linear model as ``default`` and gradient boosting beside it, the estimators that fit ``task``."""
    boosting = {"estimator": "gradient_boosting", "params": {"max_iter": 200, "learning_rate": 0.1}}
    if task == "regression":
        return {"default": {"estimator": "ridge", "params": {"alpha": 1.0}}, "gradient_boosting": boosting}
    return {
        "default": {"estimator": "logistic_regression", "params": {"C": 1.0, "max_iter": 2000}},
        "gradient_boosting": boosting,
    }
