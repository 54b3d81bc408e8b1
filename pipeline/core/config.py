"""The pipeline configuration: ``pipeline.yaml`` parsed into validated, frozen models.

A bad value fails at load time with the key path, the value found and what was expected, so a
typo is caught before any data is touched. Secrets never belong here (see ``settings.py``).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any, ClassVar, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from pipeline.core.errors import ConfigError
from pipeline.core.hashing import json_sha256
from pipeline.core.metric_names import DEFAULT_PRIMARY, HIGHER_IS_BETTER, TaskType, metric_problem

Severity = Literal["fail", "warn", "info"]
Estimator = Literal["logistic_regression", "linear_regression", "ridge", "random_forest", "gradient_boosting"]
ESTIMATORS: tuple[str, ...] = get_args(Estimator)
CLASSIFIER_ONLY: tuple[str, ...] = ("logistic_regression",)
REGRESSOR_ONLY: tuple[str, ...] = ("linear_regression", "ridge")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NumericFeature(_Frozen):
    name: str
    min: float | None = None
    max: float | None = None
    nullable: bool = True


CategoricalEncoding = Literal["onehot", "target", "hashing"]


class CategoricalFeature(_Frozen):
    """A text feature with known levels.  ``encoding`` is how the model sees it: one-hot (the default,
    for a few levels), ``target`` (scikit-learn's cross-fitted TargetEncoder) or ``hashing`` (a fixed
    number of hashed columns) for many levels.  With target/hashing, ``levels`` may be left out: unknown
    levels are expected and neither validated against a set nor a failure when scoring."""

    name: str
    levels: tuple[str, ...] = ()
    nullable: bool = True
    # excluded from dumps at its default, so hashes of existing configs do not change
    encoding: CategoricalEncoding = Field(default="onehot", exclude_if=lambda v: v == "onehot")

    @model_validator(mode="after")
    def _levels_for_onehot(self) -> CategoricalFeature:
        if self.encoding == "onehot" and not self.levels:
            raise ValueError(
                f"categorical feature {self.name!r} lists no levels; list them, or declare "
                "encoding: target (or hashing) for a feature with many or open-ended levels"
            )
        return self


DatetimePart = Literal["year", "month", "day_of_week", "hour", "age_days"]
DATETIME_PARTS: tuple[DatetimePart, ...] = ("year", "month", "day_of_week", "hour", "age_days")


class DatetimeFeature(_Frozen):
    """A date or timestamp, stored as a UTC timestamp and trained on through derived numbers.

    CSV text is parsed as ISO 8601 unless ``format`` (a strptime format, e.g. ``%d/%m/%Y``) is given;
    naive values are taken as UTC.  ``derive`` lists the numbers the model sees; ``age_days`` is the
    days from this value to the row's ``dataset.time_column`` (left out when there is none).
    ``min``/``max`` (ISO dates) are checked by the expectation suite.
    """

    name: str
    format: str | None = None
    min: str | None = None
    max: str | None = None
    nullable: bool = True
    derive: tuple[DatetimePart, ...] = Field(default=DATETIME_PARTS, min_length=1)

    @field_validator("min", "max")
    @classmethod
    def _iso(cls, v: str | None) -> str | None:
        if v is not None:
            from datetime import datetime as _dt

            try:
                _dt.fromisoformat(v)
            except ValueError:
                raise ValueError(f"{v!r} is not an ISO 8601 date or timestamp (e.g. 2024-01-31)") from None
        return v


class Features(_Frozen):
    numeric: tuple[NumericFeature, ...] = ()
    categorical: tuple[CategoricalFeature, ...] = ()
    # excluded from dumps when empty, so hashes of existing configs do not change
    datetime: tuple[DatetimeFeature, ...] = Field(default=(), exclude_if=lambda v: not v)

    @model_validator(mode="after")
    def _some_features(self) -> Features:
        if not self.numeric and not self.categorical and not self.datetime:
            raise ValueError("declare at least one numeric, categorical or datetime feature")
        return self


class DatasetConfig(_Frozen):
    """What one row is: its ids, features and label, and what kind of prediction the label asks for.

    ``task`` is ``binary`` (the default: two ``classes``, one of them the ``positive_class``),
    ``multiclass`` (three or more ``classes``, no positive class) or ``regression`` (a numeric
    label, no classes).  It is part of the training config's hash, so it is recorded with every
    model version.
    """

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    label: str
    # excluded from dumps at their defaults, so hashes of existing (binary) configs do not change
    task: TaskType = Field(default="binary", exclude_if=lambda v: v == "binary")
    classes: tuple[str, ...] = ()
    positive_class: str | None = Field(default=None, exclude_if=lambda v: v is None)
    id_columns: tuple[str, ...] = ()
    features: Features
    time_column: str | None = None  # set: holdout = most recent rows, folds chain forward in time
    slice_columns: tuple[str, ...] = ()  # categorical features whose values get their own metrics

    @model_validator(mode="after")
    def _time_and_slices(self) -> DatasetConfig:
        # snapshots keep only declared columns, so both must name one of them
        if self.time_column is not None and self.time_column not in [
            *self.id_columns,
            *self.numeric_names,
            *self.datetime_names,
        ]:
            raise ValueError(
                f"time_column {self.time_column!r} must be one of the id columns {list(self.id_columns)}, "
                f"numeric features {self.numeric_names} or datetime features {self.datetime_names} "
                "(dates are parsed from id columns)"
            )
        unknown = [c for c in self.slice_columns if c not in self.categorical_names]
        if unknown:
            raise ValueError(
                f"slice_columns {unknown} are not categorical features; "
                f"declared categorical features: {self.categorical_names}"
            )
        return self

    @model_validator(mode="after")
    def _consistent(self) -> DatasetConfig:
        self._classes_fit_task()
        names = [*self.id_columns, self.label, *self.feature_names]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"columns declared twice: {dupes}")
        return self

    def _classes_fit_task(self) -> None:
        classes = list(self.classes)
        if len(set(classes)) != len(classes):
            raise ValueError(f"dataset.classes lists a class twice: {classes}")
        if self.task == "binary":
            if len(classes) != 2:
                hint = (
                    "set dataset.task: multiclass for three or more classes"
                    if len(classes) > 2
                    else "list both classes, or set dataset.task: regression for a numeric label"
                )
                raise ValueError(f"a binary task needs exactly two classes, got {classes}; {hint}")
            if self.positive_class not in classes:
                raise ValueError(f"positive_class {self.positive_class!r} is not one of classes {classes}")
        elif self.task == "multiclass":
            if len(classes) < 3:
                raise ValueError(
                    f"a multiclass task needs three or more classes, got {classes}; "
                    "two classes are dataset.task: binary (with a positive_class)"
                )
            if self.positive_class is not None:
                raise ValueError("a multiclass task has no positive_class; remove it")
        elif classes or self.positive_class is not None:
            raise ValueError("a regression task predicts a number: remove dataset.classes and positive_class")

    @property
    def is_classification(self) -> bool:
        return self.task != "regression"

    @property
    def numeric_names(self) -> list[str]:
        return [f.name for f in self.features.numeric]

    @property
    def categorical_names(self) -> list[str]:
        return [f.name for f in self.features.categorical]

    @property
    def datetime_names(self) -> list[str]:
        return [f.name for f in self.features.datetime]

    @property
    def feature_names(self) -> list[str]:
        return self.numeric_names + self.categorical_names + self.datetime_names

    @property
    def columns(self) -> list[str]:
        """Every declared column, in the order snapshots store them."""
        return [*self.id_columns, *self.feature_names, self.label]


class IngestConfig(_Frozen):
    stable_seconds: float = Field(default=2.0, ge=0)
    max_bad_row_fraction: float = Field(default=0.2, ge=0, le=1)
    csv_delimiter: str = ","
    # "," for CSVs written with decimal commas (1,5), usually with csv_delimiter ";"
    csv_decimal: Literal[".", ","] = Field(default=".", exclude_if=lambda v: v == ".")
    chunk_rows: int = Field(default=250_000, ge=1)  # rows per part; bounds ingest memory, not the file size
    # Hostile or broken files must not exhaust memory: a file over any limit is quarantined (code too_large).
    max_field_bytes: int = Field(default=1 << 20, ge=1)  # one CSV field or Parquet value
    max_row_bytes: int = Field(default=4 << 20, ge=1)  # one CSV row, or a Parquet row once decoded
    max_decoded_bytes: int = Field(default=1 << 30, ge=1)  # one chunk of a Parquet file once decoded


class WindowConfig(_Frozen):
    """Which part of the snapshot history a model trains on: all of it, the last N parts or last D days."""

    kind: Literal["all", "last_parts", "last_days"] = "all"
    value: float | None = None

    @model_validator(mode="after")
    def _value_fits_kind(self) -> WindowConfig:
        if self.kind == "all" and self.value is not None:
            raise ValueError("window.kind 'all' takes no value; remove window.value or pick last_parts / last_days")
        if self.kind == "last_parts" and (self.value is None or self.value < 1 or self.value != int(self.value)):
            raise ValueError(
                f"window.kind 'last_parts' needs window.value: a whole number of parts >= 1 (got {self.value})"
            )
        if self.kind == "last_days" and (self.value is None or self.value <= 0):
            raise ValueError(f"window.kind 'last_days' needs window.value: a number of days > 0 (got {self.value})")
        return self


_IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$"


class TableSourceConfig(_Frozen):
    """A PostgreSQL table read incrementally: rows whose watermark column is above the last one taken."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    url_env: str
    table: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
    watermark_column: str = Field(pattern=_IDENTIFIER)
    chunk_rows: int = Field(default=50_000, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _redact_urls(cls, data: Any) -> Any:
        # A URL pasted here may carry a password: replace it before any error message can echo it.
        if isinstance(data, dict) and any(m in str(data.get("url_env", "")) for m in ("://", "@")):
            data = {**data, "url_env": "<a URL, redacted>"}
        return data

    @field_validator("url_env")
    @classmethod
    def _names_a_variable(cls, v: str) -> str:
        if not (v.isascii() and v.isidentifier()):
            raise ValueError(
                "url_env is the NAME of an environment variable holding the database URL "
                "(e.g. CT_SOURCE_CRM_URL), never the URL itself: secrets stay out of config files"
            )
        return v


class SourcesConfig(_Frozen):
    """Data sources besides the landing area (files are always taken in)."""

    tables: tuple[TableSourceConfig, ...] = ()

    @field_validator("tables")
    @classmethod
    def _unique_names(cls, v: tuple[TableSourceConfig, ...]) -> tuple[TableSourceConfig, ...]:
        names = [t.name for t in v]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique; declared twice: {dupes}")
        return v


class ExpectationsConfig(_Frozen):
    """The expectation suite: where it lives, how it is derived from data and how it is run.

    Expectations from the declared schema get ``severity``; those derived from a reference
    snapshot (observed ranges, category sets, null shares, row count) get ``profile_severity``.
    """

    severity: Severity = "fail"
    profile_severity: Severity = "warn"
    min_rows: int = Field(default=1, ge=0)
    suite_dir: str | None = None
    range_margin: float = Field(default=0.1, ge=0)
    range_alarm_rate: float = Field(default=0.001, gt=0, lt=1)
    """Chance that a batch drawn like the reference fails a learned range (see docs/validation.md)."""
    null_margin: float = Field(default=0.02, ge=0, le=1)
    row_count_factor: float = Field(default=10.0, ge=1)
    engine: Literal["fast", "great_expectations"] = "fast"
    data_docs: Literal["always", "on_failure", "never"] = "always"


class DriftConfig(_Frozen):
    severity: Severity = "info"
    tests: dict[str, str] = Field(default_factory=dict)
    thresholds: dict[str, float] = Field(default_factory=dict)
    dataset_drift_share: float = Field(default=0.5, gt=0, le=1)
    small_sample: int = Field(default=5000, ge=0)


class LabelContractConfig(_Frozen):
    """What the label of a new batch must look like (see ``pipeline/quality/label_contract.py``).

    Classification: each class's share within ``tolerance`` of ``expected_shares`` (a chi-squared
    goodness of fit says whether a deviation is more than chance). Regression: the label within
    ``[min, max]`` when given, at most ``max_missing_share`` of rows without one, and its
    distribution tested for drift against the reference like any numeric feature.
    """

    severity: Severity = "warn"
    expected_shares: dict[str, float] | None = None
    tolerance: float = Field(default=0.1, gt=0, lt=1)
    # regression only; excluded from dumps at their defaults, so hashes of existing configs do not change
    min: float | None = Field(default=None, exclude_if=lambda v: v is None)
    max: float | None = Field(default=None, exclude_if=lambda v: v is None)
    max_missing_share: float = Field(default=0.05, ge=0, le=1, exclude_if=lambda v: v == 0.05)

    @field_validator("expected_shares")
    @classmethod
    def _shares_sum_to_one(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        if v is not None and abs(sum(v.values()) - 1.0) > 1e-6:
            raise ValueError(f"shares must sum to 1, got {sum(v.values()):.4f}")
        return v


class ValidationConfig(_Frozen):
    expectations: ExpectationsConfig = ExpectationsConfig()
    drift: DriftConfig = DriftConfig()
    label_contract: LabelContractConfig = LabelContractConfig()
    parity_tolerance: float = Field(default=0.05, gt=0, lt=1)


class ModelSpec(_Frozen):
    """An estimator and its parameters.  ``random_forest`` and ``gradient_boosting`` serve every
    task (the classifier or the regressor, by ``dataset.task``); ``logistic_regression`` is for
    classification, ``linear_regression`` and ``ridge`` for regression."""

    estimator: Estimator
    params: dict[str, Any] = Field(default_factory=dict)


class OutputConfig(_Frozen):
    """Post-processing of a regressor's predictions: clipped to ``[clip_min, clip_max]``, then
    rounded to ``round_decimals`` (0: whole numbers).  Part of the fitted model, so training,
    evaluation, batch scoring and serving apply it identically; e.g. ``clip_min: 0`` for prices."""

    clip_min: float | None = None
    clip_max: float | None = None
    round_decimals: int | None = Field(default=None, ge=0, le=12)

    @model_validator(mode="after")
    def _ordered(self) -> OutputConfig:
        if self.clip_min is not None and self.clip_max is not None and self.clip_min > self.clip_max:
            raise ValueError(f"clip_min {self.clip_min} is above clip_max {self.clip_max}")
        return self


MAX_CANDIDATES = 50
GridValue = str | int | float | bool | None


class CandidateEntry(_Frozen):
    """One entry of ``model.candidates``: a declared spec, optionally crossed with a small grid.

    Written either as a spec name (``- default``) or as ``{spec: NAME, grid: {param: [v1, v2]}}``.
    """

    spec: str
    grid: dict[str, tuple[GridValue, ...]] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, data: Any) -> Any:
        return {"spec": data} if isinstance(data, str) else data

    @field_validator("grid")
    @classmethod
    def _non_empty_lists(cls, v: dict[str, tuple[GridValue, ...]]) -> dict[str, tuple[GridValue, ...]]:
        empty = sorted(k for k, values in v.items() if not values)
        if empty:
            raise ValueError(f"grid parameter(s) {empty} list no values; give each at least one")
        return v


def candidate_name(spec: str, params: dict[str, Any]) -> str:
    """``spec[p1=v1,p2=v2]`` (parameters sorted), or just ``spec`` without grid parameters."""
    if not params:
        return spec
    shown = ",".join(
        f"{k}={json.dumps(params[k]) if not isinstance(params[k], str) else params[k]}" for k in sorted(params)
    )
    return f"{spec}[{shown}]"


class ModelConfig(_Frozen):
    """The model specs and, optionally, the candidates a training run searches over.

    With ``candidates``, a run trains every candidate (mapped Airflow tasks) and keeps the one
    with the best mean cross-validation score of ``promotion.primary_metric``.  After loading,
    ``specs`` also holds one entry per grid point, named by :func:`candidate_name`, so each
    candidate can be trained, registered and looked up by name like any declared spec.
    """

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    spec: str = "default"
    specs: dict[str, ModelSpec]
    candidates: tuple[CandidateEntry, ...] = ()
    # regression only; excluded from dumps when unset, so hashes of existing configs do not change
    output: OutputConfig | None = Field(default=None, exclude_if=lambda v: v is None)
    # above this many training rows the fit takes a stratified sample (the holdout is never sampled);
    # excluded from dumps when unset, so hashes of existing configs do not change
    max_train_rows: int | None = Field(default=None, ge=100, exclude_if=lambda v: v is None)
    _candidate_names: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _spec_exists(self) -> ModelConfig:
        if self.spec not in self.specs:
            raise ValueError(f"spec {self.spec!r} is not one of the declared specs {sorted(self.specs)}")
        return self

    @model_validator(mode="after")
    def _expand_candidates(self) -> ModelConfig:
        expanded: dict[str, ModelSpec] = {}
        for entry in self.candidates:
            base = self.specs.get(entry.spec)
            if base is None:
                raise ValueError(f"candidate spec {entry.spec!r} is not one of the declared specs {sorted(self.specs)}")
            keys = sorted(entry.grid)
            for values in itertools.product(*(entry.grid[k] for k in keys)):
                point = dict(zip(keys, values))
                name = candidate_name(entry.spec, point)
                if name in expanded:
                    raise ValueError(f"candidate {name!r} is listed twice")
                expanded[name] = base.model_copy(update={"params": {**base.params, **point}})
        if len(expanded) > MAX_CANDIDATES:
            raise ValueError(
                f"{len(expanded)} candidates; at most {MAX_CANDIDATES} are allowed "
                "(each is a training task): shrink the grids"
            )
        clashes = sorted(n for n, spec in expanded.items() if n in self.specs and self.specs[n] != spec)
        if clashes:
            raise ValueError(f"candidate name(s) {clashes} clash with differently declared specs")
        object.__setattr__(self, "specs", {**self.specs, **expanded})  # frozen: set once, at validation
        self._candidate_names = tuple(expanded)
        return self

    @property
    def candidate_names(self) -> tuple[str, ...]:
        """The expanded candidates in config order (empty: train ``spec`` alone)."""
        return self._candidate_names


class EvaluationConfig(_Frozen):
    holdout_fraction: float = Field(default=0.2, gt=0, lt=1)
    folds: int = Field(default=5, ge=2, le=20)
    bootstrap_resamples: int = Field(default=1000, ge=100)
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    seed: int = Field(default=42, ge=0)
    min_slice_rows: int = Field(default=100, ge=1)  # smaller slices (or < 10 of a class) are flagged small
    # regression folds: "binned" keeps the target's distribution in every fold (stratified on its
    # quantile bins), "plain" is shuffled k-fold; excluded from dumps at the default (hash unchanged)
    regression_folds: Literal["binned", "plain"] = Field(default="binned", exclude_if=lambda v: v == "binned")
    # binary only: a row is predicted positive when P(positive) >= this (F1, precision, recall,
    # accuracy, the confusion matrix, batch scoring's predicted_label); recorded with each version.
    # The keys below are excluded from dumps at their defaults, so existing config hashes hold.
    decision_threshold: float = Field(default=0.5, gt=0, lt=1, exclude_if=lambda v: v == 0.5)
    # permutation importance on the holdout: repeats per feature (0: off) and at most this many rows
    importance_repeats: int = Field(default=5, ge=0, le=100, exclude_if=lambda v: v == 5)
    importance_rows: int = Field(default=2000, ge=100, exclude_if=lambda v: v == 2000)


def _known_metric(metric: str) -> str:
    """Any task's metric name; whether it fits this config's task is checked across sections."""
    if metric not in HIGHER_IS_BETTER and not metric.startswith("recall["):
        raise ValueError(f"unknown metric {metric!r}; expected one of {sorted(HIGHER_IS_BETTER)}")
    return metric


class SliceGates(_Frozen):
    """No slice (value of a ``dataset.slice_columns`` column) may lose more than ``max_drop`` of
    the primary metric against the champion; slices with fewer than ``min_rows`` holdout rows are
    reported but not gated (their estimates are too noisy to block on)."""

    max_drop: float = Field(gt=0, lt=1)
    min_rows: int = Field(default=100, ge=1)


class PromotionConfig(_Frozen):
    """When ``champion`` may move (see ``pipeline/modeling/promotion.py``).

    ``primary_metric`` defaults by task (ROC AUC for classification, RMSE for regression); the
    policy reads its direction, so a floor on a lower-is-better metric is a ceiling. ``margin``,
    ``min_improvement`` and the slice gates' ``max_drop`` are amounts of the metric, except for the
    metrics in the label's own units (RMSE, MAE, median absolute error), where they are shares of
    the champion's value (``margin: 0.01`` = 1% of its RMSE).

    ``min_holdout_rows`` and ``min_class_rows`` refuse to crown a model on thin evidence: below
    them the version is registered but not promoted, not even as the first model. Defaults:
    200 holdout rows and 20 of each class. With 20 of a class one row moves recall by 5 points,
    and the standard error of a ROC AUC near 0.8 with 20 of the rarer class is still about 0.06
    (Hanley & McNeil), several times any margin worth gating on; 200 rows keep a proportion's 95%
    interval within about ±7 points. Below that the bootstrap intervals the gates read are
    themselves unreliable. Lower them (say, in a test on a tiny frame) knowingly.
    """

    primary_metric: str = "roc_auc"
    margin: float = Field(default=0.01, ge=0)
    min_improvement: float | None = Field(default=None, ge=0)  # set: lower bound must exceed it
    floors: dict[str, float] = Field(default_factory=dict)
    slice_gates: SliceGates | None = None
    min_holdout_rows: int = Field(default=200, ge=0)
    min_class_rows: int = Field(default=20, ge=0)
    # excluded from dumps at its default, so hashes of existing configs do not change
    live_confirmation: bool = Field(default=False, exclude_if=lambda v: v is False)
    """True: a version that passes every check against a champion becomes ``challenger`` (served in
    ``serving.challenger.mode``) instead of champion, and ``ct_monitor`` promotes it only when live
    labelled requests confirm it (see ``pipeline/monitoring/live_evaluation.py``)."""

    @field_validator("primary_metric")
    @classmethod
    def _primary_known(cls, v: str) -> str:
        return _known_metric(v)

    @field_validator("floors")
    @classmethod
    def _floors_known(cls, v: dict[str, float]) -> dict[str, float]:
        for metric in v:
            _known_metric(metric)
        return v


class MonitoringConfig(_Frozen):
    """When live evidence may request a retrain (see ``pipeline/monitoring/retrain_policy.py``).

    ``max_drop`` is how much worse than at training the primary metric may get: an amount of the
    metric, or a share of the champion's value for metrics in the label's units (RMSE, MAE, median
    absolute error), where a rise is the drop.
    """

    max_drop: float = Field(default=0.03, gt=0, lt=1)
    min_samples: int = Field(default=500, ge=50)
    consecutive_windows: int = Field(default=2, ge=1, le=20)
    cooldown_hours: float = Field(default=24.0, ge=0)
    drift_share: float = Field(default=0.5, gt=0, le=1)
    bootstrap_resamples: int = Field(default=500, ge=100)


_CRON_PRESETS = {"@continuous", "@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@once"}


class SchedulesConfig(_Frozen):
    """When each DAG runs by the clock (data and live evidence start runs too).

    Airflow reads these while parsing the DAG files, so ``plugins/ct_airflow/defaults.py`` reads
    this section straight from the YAML (no validation there); they are checked here so that
    ``ct validate-config`` and every task catch a typo. ``CT_<NAME>_CRON`` overrides each one.
    """

    ingest: str = "*/5 * * * *"
    monitor: str = "0 * * * *"
    train: str = "0 3 * * *"
    landing_poke_seconds: float = Field(default=30.0, gt=0)
    landing_wait_minutes: float = Field(default=60.0, gt=0)

    @field_validator("ingest", "monitor", "train")
    @classmethod
    def _cron(cls, v: str, info: ValidationInfo) -> str:
        presets = _CRON_PRESETS if info.field_name == "ingest" else _CRON_PRESETS - {"@continuous"}
        if v in presets or (not v.startswith("@") and len(v.split()) == 5):
            return v
        raise ValueError(
            f'{v!r} is not a cron expression: expected five fields such as "*/5 * * * *" or one of {sorted(presets)}'
        )


class AlertsConfig(_Frozen):
    """Where alerts go besides the log and the alerts table (see ``pipeline/monitoring/alerts.py``).

    ``webhook_url`` receives every new alert as a JSON POST; ``CT_ALERT_WEBHOOK_URL`` overrides it
    (put a URL that embeds a token there, not in this file). A failed POST is logged and recorded
    on the alert, never a reason to fail the pipeline.
    """

    webhook_url: str | None = None
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)

    @field_validator("webhook_url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL (or null for no webhook)")
        return v or None


class ResourcesConfig(_Frozen):
    """How a task shares the worker's cores (see ``pipeline/core/thread_budget.py``).

    ``worker_slots`` is how many tasks run at once on one worker (unset: the Celery worker
    concurrency or Airflow's parallelism from the environment, else one slot per CPU); each task
    gets ``cpu_count // worker_slots`` threads (at least 1) for OpenMP and BLAS, unless
    ``threads_per_task`` (or the ``CT_THREADS`` environment variable) says otherwise.
    ``cv_in_process_max_rows``: up to this many training rows x candidates, cross-validation
    runs inside the evaluate task instead of one mapped task per candidate x fold (0: always
    mapped), because a fold task costs a fresh process that small folds do not repay.
    """

    worker_slots: int | None = Field(default=None, ge=1)
    threads_per_task: int | None = Field(default=None, ge=1)
    cv_in_process_max_rows: int = Field(default=800_000, ge=0)


ChallengerMode = Literal["canary", "shadow"]


class ChallengerConfig(_Frozen):
    """How the service treats a ``challenger`` alias, and when live evidence decides on it.

    ``canary``: the share ``share`` of entities (chosen by a hash of the entity id, so one entity
    always sees one model) is answered by the challenger, the champion scoring them in shadow;
    ``shadow``: every request is answered by the champion and scored by the challenger too, its
    answer only logged. ``ct_monitor`` judges the challenger once ``min_samples`` labelled requests
    were scored by both (paired): non-inferior within ``margin`` (default ``promotion.margin``,
    same units) promotes it with trigger ``live_evaluation``; worse retires it.
    """

    mode: ChallengerMode = "shadow"
    share: float = Field(default=0.1, gt=0, lt=1)
    min_samples: int = Field(default=500, ge=30)
    margin: float | None = Field(default=None, ge=0)


class PredictionLogConfig(_Frozen):
    """What ``ct serve`` logs per prediction (see ``pipeline/monitoring/served_log.py``).

    ``features: full`` keeps the feature values (label joins then also give drift and training
    rows); ``hash`` keeps only their SHA-256 (live windows without drift, no training rows).
    A buffer is written as one Parquet file when it holds ``flush_rows`` rows, every
    ``flush_seconds``, and on a clean stop.
    """

    features: Literal["full", "hash"] = "full"
    flush_rows: int = Field(default=5000, ge=1)
    flush_seconds: float = Field(default=30.0, gt=0)


class ServingConfig(_Frozen):
    """``ct serve``: the HTTP scoring service (see ``pipeline/serving/``).

    Requests need ``Authorization: Bearer <token>`` with the token from the environment variable
    named by ``token_env``; with ``open_access: true`` (and only then) they need none. The service
    re-reads the registry's aliases every ``poll_seconds`` and swaps models without a restart.
    ``entity_column`` names the request field whose value assigns canary traffic (default: the
    dataset's id columns, joined).
    """

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    token_env: str = "CT_SERVE_TOKEN"
    open_access: bool = False
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_batch_rows: int = Field(default=1000, ge=1)
    poll_seconds: float = Field(default=5.0, gt=0)
    entity_column: str | None = None
    challenger: ChallengerConfig = ChallengerConfig()
    log: PredictionLogConfig = PredictionLogConfig()


class PipelineConfig(_Frozen):
    dataset: DatasetConfig
    ingest: IngestConfig = IngestConfig()
    sources: SourcesConfig = SourcesConfig()
    window: WindowConfig = WindowConfig()
    validation: ValidationConfig = ValidationConfig()
    model: ModelConfig
    evaluation: EvaluationConfig = EvaluationConfig()
    promotion: PromotionConfig = PromotionConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    schedules: SchedulesConfig = SchedulesConfig()
    alerts: AlertsConfig = AlertsConfig()
    resources: ResourcesConfig = ResourcesConfig()
    # excluded from dumps at its default, so hashes of existing configs do not change
    serving: ServingConfig = Field(default=ServingConfig(), exclude_if=lambda v: v == ServingConfig())

    @model_validator(mode="before")
    @classmethod
    def _primary_metric_by_task(cls, data: Any) -> Any:
        # promotion.primary_metric left unset means the task's default (RMSE for regression)
        if not isinstance(data, dict) or not isinstance(data.get("dataset"), dict):
            return data
        task = data["dataset"].get("task", "binary")
        promotion = data.get("promotion") or {}
        if task in DEFAULT_PRIMARY and isinstance(promotion, dict) and "primary_metric" not in promotion:
            data = {**data, "promotion": {**promotion, "primary_metric": DEFAULT_PRIMARY[task]}}
        return data

    @model_validator(mode="after")
    def _cross_checks(self) -> PipelineConfig:
        dataset = self.dataset
        shares = self.validation.label_contract.expected_shares
        if shares is not None and set(shares) != set(dataset.classes):
            raise ValueError(
                f"validation.label_contract.expected_shares names {sorted(shares)}, "
                f"but dataset.classes is {list(dataset.classes)}"
            )
        policy = self.promotion
        for key, metric in [("primary_metric", policy.primary_metric), *(("floors", m) for m in policy.floors)]:
            problem = metric_problem(metric, dataset.task, dataset.classes)
            if problem:
                raise ValueError(f"promotion.{key}: {problem}")
        wrong = REGRESSOR_ONLY if dataset.is_classification else CLASSIFIER_ONLY
        for name, spec in self.model.specs.items():
            if spec.estimator in wrong:
                fits = [e for e in ESTIMATORS if e not in wrong]
                raise ValueError(
                    f"model.specs.{name}: {spec.estimator} does not fit a {dataset.task} task; use one of {fits}"
                )
        if "decision_threshold" in self.evaluation.model_fields_set and dataset.task != "binary":
            raise ValueError(
                f"evaluation.decision_threshold applies to binary tasks only; remove it for a {dataset.task} task "
                "(its labels are the most probable class or the predicted number)"
            )
        if self.model.output is not None and dataset.is_classification:
            raise ValueError("model.output post-processes a regressor's predictions; remove it for classification")
        return self

    def model_spec(self, name: str | None = None) -> ModelSpec:
        """The named model spec (default: ``model.spec``); unknown names list the declared ones."""
        key = name or self.model.spec
        if key not in self.model.specs:
            raise ConfigError(
                f"model spec {key!r} is not declared in model.specs; declared: {sorted(self.model.specs)}"
            )
        return self.model.specs[key]

    TRAINING_SECTIONS: ClassVar[tuple[str, ...]] = ("dataset", "model", "evaluation", "window")

    def content_hash(self) -> str:
        """Hash of the sections that decide what model comes out (dataset, model, evaluation, window).

        It is part of a model version's identity: changing a validation threshold, the promotion
        policy or monitoring settings does not make the same snapshot "untrained".
        """
        return self._hash(self.model_dump(mode="json", include=set(self.TRAINING_SECTIONS)))

    def full_hash(self) -> str:
        """Hash of the whole effective config, recorded in lineage."""
        return self._hash(self.model_dump(mode="json"))

    @staticmethod
    def _hash(data: dict[str, Any]) -> str:
        return json_sha256(data)[:16]


def _format_errors(path: Path, err: ValidationError) -> str:
    lines = [f"invalid configuration in {path}:"]
    for e in err.errors():
        msg = e["msg"].removeprefix("Value error, ")
        if not e["loc"]:
            # A check across sections: its message names the keys involved; the input is the whole file.
            lines.append(f"  - {msg}")
            continue
        key = ".".join(str(p) for p in e["loc"])
        shown = json.dumps(e.get("input"), default=str)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        lines.append(f"  - {key}: {msg} (got {shown})")
    lines.append(
        "Fix these keys and run again; `ct init --from-sample FILE --label COLUMN` writes a valid starting point."
    )
    return "\n".join(lines)


def parse_config(data: Any, source: Path | str = "<memory>") -> PipelineConfig:
    """Validate an already-parsed mapping into a :class:`PipelineConfig`."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_errors(Path(str(source)), err)) from None


def load_config(path: Path) -> PipelineConfig:
    """Read and validate ``pipeline.yaml``; every problem names its key, value and expectation."""
    if not path.exists():
        raise ConfigError(
            f"config file {path} does not exist; create one with `ct init --from-sample FILE --label COLUMN` "
            "or point CT_CONFIG at an existing pipeline.yaml"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from None
    return parse_config(data, path)


def dump_config(config: PipelineConfig) -> str:
    """Render a config as YAML (used by ``ct init``), omitting nothing so users see every knob."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
