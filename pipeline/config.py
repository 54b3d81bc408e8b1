"""The pipeline configuration: ``pipeline.yaml`` parsed into validated, frozen models.

A bad value fails at load time with the key path, the value found and what was expected, so a
typo is caught before any data is touched. Secrets never belong here (see ``settings.py``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from pipeline.errors import ConfigError

Severity = Literal["fail", "warn", "info"]
ESTIMATORS = ("logistic_regression", "random_forest", "gradient_boosting")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NumericFeature(_Frozen):
    name: str
    min: float | None = None
    max: float | None = None
    nullable: bool = True


class CategoricalFeature(_Frozen):
    name: str
    levels: tuple[str, ...] = Field(min_length=1)
    nullable: bool = True


class Features(_Frozen):
    numeric: tuple[NumericFeature, ...] = ()
    categorical: tuple[CategoricalFeature, ...] = ()

    @model_validator(mode="after")
    def _some_features(self) -> Features:
        if not self.numeric and not self.categorical:
            raise ValueError("declare at least one numeric or categorical feature")
        return self


class DatasetConfig(_Frozen):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    label: str
    classes: tuple[str, str]
    positive_class: str
    id_columns: tuple[str, ...] = ()
    features: Features

    @model_validator(mode="after")
    def _consistent(self) -> DatasetConfig:
        if self.positive_class not in self.classes:
            raise ValueError(f"positive_class {self.positive_class!r} is not one of classes {list(self.classes)}")
        if self.classes[0] == self.classes[1]:
            raise ValueError("the two classes must differ")
        names = [*self.id_columns, self.label, *self.feature_names]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"columns declared twice: {dupes}")
        return self

    @property
    def numeric_names(self) -> list[str]:
        return [f.name for f in self.features.numeric]

    @property
    def categorical_names(self) -> list[str]:
        return [f.name for f in self.features.categorical]

    @property
    def feature_names(self) -> list[str]:
        return self.numeric_names + self.categorical_names

    @property
    def columns(self) -> list[str]:
        """Every declared column, in the order snapshots store them."""
        return [*self.id_columns, *self.feature_names, self.label]


class IngestConfig(_Frozen):
    stable_seconds: float = Field(default=2.0, ge=0)
    max_bad_row_fraction: float = Field(default=0.2, ge=0, le=1)
    csv_delimiter: str = ","


class ExpectationsConfig(_Frozen):
    severity: Severity = "fail"
    min_rows: int = Field(default=1, ge=0)


class DriftConfig(_Frozen):
    severity: Severity = "info"
    tests: dict[str, str] = Field(default_factory=dict)
    thresholds: dict[str, float] = Field(default_factory=dict)
    dataset_drift_share: float = Field(default=0.5, gt=0, le=1)


class LabelContractConfig(_Frozen):
    severity: Severity = "warn"
    expected_shares: dict[str, float] | None = None
    tolerance: float = Field(default=0.1, gt=0, lt=1)

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
    estimator: Literal["logistic_regression", "random_forest", "gradient_boosting"]
    params: dict[str, Any] = Field(default_factory=dict)


class ModelConfig(_Frozen):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    spec: str = "default"
    specs: dict[str, ModelSpec]

    @model_validator(mode="after")
    def _spec_exists(self) -> ModelConfig:
        if self.spec not in self.specs:
            raise ValueError(f"spec {self.spec!r} is not one of the declared specs {sorted(self.specs)}")
        return self


class EvaluationConfig(_Frozen):
    holdout_fraction: float = Field(default=0.2, gt=0, lt=1)
    folds: int = Field(default=5, ge=2, le=20)
    bootstrap_resamples: int = Field(default=1000, ge=100)
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    seed: int = 42


def _known_metric(metric: str) -> str:
    from pipeline.metrics import METRIC_NAMES

    if metric not in METRIC_NAMES:
        raise ValueError(f"unknown metric {metric!r}; expected one of {list(METRIC_NAMES)}")
    return metric


class PromotionConfig(_Frozen):
    primary_metric: str = "roc_auc"
    margin: float = Field(default=0.01, ge=0)
    floors: dict[str, float] = Field(default_factory=dict)

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
    """When live evidence may request a retrain (see ``pipeline/triggers.py``)."""

    max_drop: float = Field(default=0.03, gt=0, lt=1)
    min_samples: int = Field(default=500, ge=50)
    consecutive_windows: int = Field(default=2, ge=1, le=20)
    cooldown_hours: float = Field(default=24.0, ge=0)
    drift_share: float = Field(default=0.5, gt=0, le=1)
    bootstrap_resamples: int = Field(default=500, ge=100)


class PipelineConfig(_Frozen):
    dataset: DatasetConfig
    ingest: IngestConfig = IngestConfig()
    validation: ValidationConfig = ValidationConfig()
    model: ModelConfig
    evaluation: EvaluationConfig = EvaluationConfig()
    promotion: PromotionConfig = PromotionConfig()
    monitoring: MonitoringConfig = MonitoringConfig()

    @model_validator(mode="after")
    def _cross_checks(self) -> PipelineConfig:
        shares = self.validation.label_contract.expected_shares
        if shares is not None and set(shares) != set(self.dataset.classes):
            raise ValueError(
                f"validation.label_contract.expected_shares names {sorted(shares)}, "
                f"but dataset.classes is {list(self.dataset.classes)}"
            )
        return self

    def model_spec(self, name: str | None = None) -> ModelSpec:
        """The named model spec (default: ``model.spec``); unknown names list the declared ones."""
        key = name or self.model.spec
        if key not in self.model.specs:
            raise ConfigError(f"model spec {key!r} is not declared in model.specs; declared: {sorted(self.model.specs)}")
        return self.model.specs[key]

    def content_hash(self) -> str:
        """A stable hash of the effective config, recorded with every model for lineage."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


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
    lines.append("Fix these keys and run again; `ct init --from-sample FILE --label COLUMN` writes a valid starting point.")
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
