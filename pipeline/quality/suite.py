"""The expectation suite: generated from a reference snapshot, merged with the declared schema,
kept as a reviewable great-expectations JSON file, and adjusted by a user overrides file.

Two kinds of expectations, told apart by ``meta.ct_source``:

* ``schema`` — what ``pipeline.yaml`` declares: the column set, numeric types, declared ranges,
  category levels, non-nullable columns, the label (one of the classes; for regression a number
  within ``label_contract.min``/``max``, at the label contract's severity), a minimum row count.
  Always rebuilt from the config at run time (the config is the declared contract), with
  ``expectations.severity``.
* ``profile`` — what the reference data showed: observed ranges (of numeric features and a
  regression label) widened by a margin (with a ``mostly`` sized for each batch by
  :func:`bind_to_batch`, so data drawn like the reference rarely trips them), the category
  levels actually seen, null shares, a row-count bound. Generated once, stored in the JSON,
  with ``expectations.profile_severity``.

Users change either kind (kwargs or severity), remove one, or add their own in
``<dataset>.overrides.yaml`` beside the suite; the overrides survive regeneration. Nothing here
imports great-expectations: the suite is plain GX-format JSON, run by our own checks
(:mod:`pipeline.quality.expectations`) or by GX itself.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from scipy import stats

from pipeline.core.config import DatasetConfig, ExpectationsConfig, LabelContractConfig, PipelineConfig
from pipeline.core.errors import ConfigError
from pipeline.core.hashing import json_sha256
from pipeline.core.settings import BUNDLED_CONFIG, Settings
from pipeline.quality.drift import NULL_LEVEL
from pipeline.quality.part_stats import DataSummary

log = logging.getLogger(__name__)

SCHEMA, PROFILE, OVERRIDE = "schema", "profile", "override"
GX_SEVERITY = {"fail": "critical", "warn": "warning", "info": "info"}
"""Our severities and the great-expectations names they are stored under."""
_FROM_GX = {**{v: k for k, v in GX_SEVERITY.items()}, **{k: k for k in GX_SEVERITY}}
_OVERRIDE_KEYS = {"change", "remove", "add"}
SIGNIFICANT_DIGITS = 6


def _severity(value: Any, where: str) -> str:
    """Our severity name for ``value`` (ours or great-expectations'), or a ConfigError."""
    found = _FROM_GX.get(str(value).lower()) if value is not None else None
    if found is None:
        raise ConfigError(
            f"{where}: severity {value!r} is not one of fail, warn, info "
            f"(or great-expectations' critical, warning, info)"
        )
    return found


@dataclass(frozen=True)
class Expectation:
    """One expectation in great-expectations' JSON shape, with a stable id and our severity."""

    id: str
    type: str
    kwargs: dict[str, Any]
    severity: str
    source: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def column(self) -> str | None:
        """The column the expectation is about (None for table-level ones)."""
        return self.kwargs.get("column")

    def to_gx_dict(self) -> dict[str, Any]:
        """The GX expectation configuration (``ExpectationConfiguration`` keys)."""
        return {
            "type": self.type,
            "kwargs": dict(self.kwargs),
            "severity": GX_SEVERITY[self.severity],
            "meta": {**self.meta, "ct_id": self.id, "ct_source": self.source},
        }

    @classmethod
    def from_gx_dict(cls, d: Any, where: str) -> Expectation:
        """Read one expectation of a suite file; ``where`` names the file for error messages."""
        if not isinstance(d, dict) or not isinstance(d.get("type"), str) or not isinstance(d.get("kwargs", {}), dict):
            raise ConfigError(f"{where}: every expectation needs a 'type' string and a 'kwargs' mapping, got {d!r}")
        meta = dict(d.get("meta") or {})
        kwargs = dict(d.get("kwargs") or {})
        ct_id = meta.pop("ct_id", None) or _default_id(d["type"], kwargs.get("column"), "file")
        source = meta.pop("ct_source", None) or "file"
        return cls(
            id=str(ct_id),
            type=d["type"],
            kwargs=kwargs,
            severity=_severity(d.get("severity", "critical"), f"{where}, expectation {ct_id!r}"),
            source=str(source),
            meta=meta,
        )


def _default_id(type_: str, column: str | None, suffix: str | None = None) -> str:
    return ":".join(p for p in (type_, column, suffix) if p)


def _exp(type_: str, severity: str, source: str, suffix: str | None = None, **kwargs: Any) -> Expectation:
    return Expectation(
        id=_default_id(type_, kwargs.get("column"), suffix), type=type_, kwargs=kwargs, severity=severity, source=source
    )


@dataclass(frozen=True)
class Suite:
    """The effective suite of a run, and where it came from."""

    name: str
    expectations: tuple[Expectation, ...]
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    overrides_path: Path | None = None
    created: bool = False
    """True when generated by this run and not yet saved."""

    def to_gx_dict(self) -> dict[str, Any]:
        """The suite as great-expectations JSON (``ExpectationSuite`` keys)."""
        return {
            "name": self.name,
            "expectations": [e.to_gx_dict() for e in self.expectations],
            "meta": self.meta,
            "notes": None,
        }

    def describe(self) -> dict[str, Any]:
        """Where the suite is and what it holds, for the stored validation summary."""
        sources: dict[str, int] = {}
        for e in self.expectations:
            sources[e.source] = sources.get(e.source, 0) + 1
        ct = self.meta.get("ct", {})
        return {
            "name": self.name,
            "path": str(self.path) if self.path else None,
            "overrides_path": str(self.overrides_path) if self.overrides_path else None,
            "generated_from": ct.get("generated_from"),
            "generated_at": ct.get("generated_at"),
            "created": self.created,
            "expectations": len(self.expectations),
            "by_source": sources,
        }


def schema_hash(dataset: DatasetConfig) -> str:
    """Hash of the declared dataset schema; a suite generated for another schema is stale."""
    return json_sha256(dataset.model_dump(mode="json"), compact=False)[:16]


def epoch_seconds(iso: str | None) -> float | None:
    """An ISO date or timestamp as seconds since 1970 UTC (naive values are UTC); None stays None."""
    if iso is None:
        return None
    value = datetime.fromisoformat(iso)
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def schema_expectations(
    dataset: DatasetConfig, settings: ExpectationsConfig, label_contract: LabelContractConfig | None = None
) -> list[Expectation]:
    """What the declared schema promises, one expectation per declared property.

    ``label_contract`` gives a regression label's declared ``min``/``max`` (checked at the label
    contract's severity, as the contract is what declares them).
    """
    sev = settings.severity
    items = [
        _exp("expect_table_row_count_to_be_between", sev, SCHEMA, min_value=settings.min_rows),
        _exp("expect_table_columns_to_match_set", sev, SCHEMA, column_set=list(dataset.columns), exact_match=True),
    ]
    items += [_exp("expect_column_values_to_not_be_null", sev, SCHEMA, column=c) for c in dataset.id_columns]
    for feat in dataset.features.numeric:
        items.append(
            _exp(
                "expect_column_values_to_be_in_type_list",
                sev,
                SCHEMA,
                column=feat.name,
                type_list=["float64", "Float64", "float"],
            )
        )
        if not feat.nullable:
            items.append(_exp("expect_column_values_to_not_be_null", sev, SCHEMA, column=feat.name))
        if feat.min is not None or feat.max is not None:
            items.append(
                _exp(
                    "expect_column_values_to_be_between",
                    sev,
                    SCHEMA,
                    column=feat.name,
                    min_value=feat.min,
                    max_value=feat.max,
                )
            )
    for cat in dataset.features.categorical:
        if not cat.nullable:
            items.append(_exp("expect_column_values_to_not_be_null", sev, SCHEMA, column=cat.name))
        if cat.levels and cat.encoding == "onehot":  # encoded features expect unknown levels
            items.append(
                _exp("expect_column_values_to_be_in_set", sev, SCHEMA, column=cat.name, value_set=list(cat.levels))
            )
    for dt in dataset.features.datetime:
        # Datetime columns are checked as epoch seconds (see expectations.evaluate_suite), so the
        # range is a plain numeric range; no drift test or learned range for them yet.
        if not dt.nullable:
            items.append(_exp("expect_column_values_to_not_be_null", sev, SCHEMA, column=dt.name))
        if dt.min is not None or dt.max is not None:
            items.append(
                _exp(
                    "expect_column_values_to_be_between",
                    sev,
                    SCHEMA,
                    column=dt.name,
                    min_value=epoch_seconds(dt.min),
                    max_value=epoch_seconds(dt.max),
                )
            )
    items.append(_exp("expect_column_values_to_not_be_null", sev, SCHEMA, column=dataset.label))
    items += _label_expectations(dataset, sev, label_contract)
    return items


def _label_expectations(
    dataset: DatasetConfig, sev: str, label_contract: LabelContractConfig | None
) -> list[Expectation]:
    """A class label is one of the classes; a regression label is a float within the contract's bounds."""
    if dataset.is_classification:
        return [
            _exp(
                "expect_column_values_to_be_in_set", sev, SCHEMA, column=dataset.label, value_set=list(dataset.classes)
            )
        ]
    items = [
        _exp(
            "expect_column_values_to_be_in_type_list",
            sev,
            SCHEMA,
            column=dataset.label,
            type_list=["float64", "Float64", "float"],
        )
    ]
    if label_contract is not None and (label_contract.min is not None or label_contract.max is not None):
        items.append(
            _exp(
                "expect_column_values_to_be_between",
                label_contract.severity,
                SCHEMA,
                column=dataset.label,
                min_value=label_contract.min,
                max_value=label_contract.max,
            )
        )
    return items


def _round_out(value: float, up: bool) -> float:
    """Round to SIGNIFICANT_DIGITS for a readable file, never towards the observed data."""
    if value == 0 or not math.isfinite(value):
        return value
    rounded = float(f"{value:.{SIGNIFICANT_DIGITS}g}")
    step = 10.0 ** (math.floor(math.log10(abs(value))) - SIGNIFICANT_DIGITS + 1)
    if up and rounded < value:
        rounded = float(f"{rounded + step:.{SIGNIFICANT_DIGITS}g}")
    elif not up and rounded > value:
        rounded = float(f"{rounded - step:.{SIGNIFICANT_DIGITS}g}")
    return rounded


def _mostly(missing: int, total: int, margin: float) -> float | None:
    """The ``mostly`` of a not-null expectation: observed non-null share minus a margin."""
    if total == 0:
        return None
    mostly = math.floor((1.0 - missing / total - margin) * 10_000) / 10_000
    return mostly if mostly > 0 else None


RANGE_RULE = "ct_range_rule"
"""Meta key of a learned range whose ``mostly`` is set per batch by :func:`bind_to_batch`."""
_EXACT_LIMIT = 20_000
"""Batches up to this size use the exact Beta-binomial quantile (a few ms); larger ones a bound on it."""


@functools.lru_cache(maxsize=256)  # features share (n, m, rate): one quantile per validation, not one per feature
def range_allowance(reference_rows: int, batch_rows: int, alarm_rate: float) -> int:
    """How many of ``batch_rows`` new values may fall outside a range learned from ``reference_rows``.

    Distribution-free: when the new rows are drawn like the reference, the share of the population
    outside the reference's observed [min, max] is Beta(2, n-1) distributed (it is the sum of the
    two outer spacings of n uniform order statistics), so the count of new values outside it is
    Beta-binomial(m, 2, n-1). The allowance is that count's (1 - ``alarm_rate``) quantile: a batch
    from the reference's own distribution exceeds it with probability at most ``alarm_rate``,
    whatever the distribution (widening the range by ``range_margin`` only makes this rarer).
    """
    n, m = max(int(reference_rows), 1), int(batch_rows)
    if m <= 0:
        return 0
    if m <= _EXACT_LIMIT:
        return int(stats.betabinom(m, 2, max(n - 1, 1)).ppf(1.0 - alarm_rate))
    # the Beta limit plus the binomial spread around it: a little wider than the exact quantile, never narrower
    expected = m * float(stats.beta(2, max(n - 1, 1)).ppf(1.0 - alarm_rate))
    return math.ceil(expected + float(stats.norm.ppf(1.0 - alarm_rate)) * math.sqrt(expected))


def range_mostly(reference_rows: int, batch_rows: int, alarm_rate: float) -> float | None:
    """The ``mostly`` of a learned range on a batch of ``batch_rows`` (None: every value must be inside)."""
    if batch_rows <= 0:
        return None
    allowed = range_allowance(reference_rows, batch_rows, alarm_rate)
    if allowed <= 0:
        return None
    return max(math.floor((1.0 - allowed / batch_rows) * 10_000) / 10_000, 0.0)


def _legacy_rule(e: Expectation, suite: Suite, alarm_rate: float | None) -> dict[str, Any] | None:
    """The rule of a learned range in a suite generated before ranges carried one (no ``mostly`` set)."""
    rows = suite.meta.get("ct", {}).get("rows")
    if (
        alarm_rate is None
        or not isinstance(rows, int)
        or e.source != PROFILE
        or "mostly" in e.kwargs
        or e.type != "expect_column_values_to_be_between"
        or not e.id.endswith(":observed")
    ):
        return None
    return {"reference_rows": rows, "alarm_rate": alarm_rate}


def bind_to_batch(suite: Suite, batch_rows: int, alarm_rate: float | None = None) -> Suite:
    """The suite with each learned range's ``mostly`` set for a batch of ``batch_rows`` rows.

    A learned range carries its rule (reference rows, alarm rate) in ``meta``; its tolerance
    depends on the size of the batch checked, so it is resolved here, before either engine runs,
    and the stored results and Data Docs show the ``mostly`` actually applied. Given
    ``alarm_rate``, learned ranges of a suite file written before they carried a rule get one
    from the suite's reference row count, so an existing suite need not be regenerated.
    """
    bound = []
    for e in suite.expectations:
        rule = e.meta.get(RANGE_RULE) or _legacy_rule(e, suite, alarm_rate)
        if isinstance(rule, dict) and "reference_rows" in rule and "alarm_rate" in rule:
            kwargs = {k: v for k, v in e.kwargs.items() if k != "mostly"}
            mostly = range_mostly(int(rule["reference_rows"]), batch_rows, float(rule["alarm_rate"]))
            if mostly is not None:
                kwargs["mostly"] = mostly
            bound.append(replace(e, kwargs=kwargs))
        else:
            bound.append(e)
    return replace(suite, expectations=tuple(bound))


def _learned_range(
    column: str,
    facts: dict[str, Any],
    declared_min: float | None,
    declared_max: float | None,
    sev: str,
    settings: ExpectationsConfig,
) -> Expectation | None:
    """The observed ``[min, max]`` of a numeric column widened by ``range_margin`` (within the
    declared bounds), with its rule for :func:`bind_to_batch`; None when nothing was observed."""
    lo, hi = facts.get("min"), facts.get("max")
    if lo is None or hi is None:
        return None
    width = hi - lo if hi > lo else max(abs(lo), abs(hi), 1.0)
    lower = _round_out(lo - settings.range_margin * width, up=False)
    upper = _round_out(hi + settings.range_margin * width, up=True)
    if declared_min is not None:
        lower = max(lower, declared_min)
    if declared_max is not None:
        upper = min(upper, declared_max)
    reference_rows = int(facts.get("count", 0))
    rule = {"reference_rows": reference_rows, "alarm_rate": settings.range_alarm_rate}
    kwargs: dict[str, Any] = {"column": column, "min_value": lower, "max_value": upper}
    mostly = range_mostly(reference_rows, reference_rows, settings.range_alarm_rate)
    if mostly is not None:  # the value for a batch as large as the reference; rebound per batch
        kwargs["mostly"] = mostly
    return Expectation(
        id=_default_id("expect_column_values_to_be_between", column, "observed"),
        type="expect_column_values_to_be_between",
        kwargs=kwargs,
        severity=sev,
        source=PROFILE,
        meta={RANGE_RULE: rule},
    )


def profile_expectations(
    summary: DataSummary,
    dataset: DatasetConfig,
    settings: ExpectationsConfig,
    label_bounds: tuple[float | None, float | None] = (None, None),
) -> list[Expectation]:
    """What the reference data showed, widened by the configured margins (see module doc).

    ``label_bounds`` (a regression label's ``label_contract`` min and max) cap its learned range.
    """
    sev = settings.profile_severity
    items = [
        _exp(
            "expect_table_row_count_to_be_between",
            sev,
            PROFILE,
            "observed",
            min_value=settings.min_rows,
            max_value=math.ceil(settings.row_count_factor * max(summary.rows, 1)),
        )
    ]
    for feat in dataset.features.numeric:
        facts = summary.numeric.get(feat.name, {})
        learned = _learned_range(feat.name, facts, feat.min, feat.max, sev, settings)
        if learned is not None:
            items.append(learned)
        total = facts.get("count", 0) + facts.get("missing", 0)
        mostly = _mostly(facts.get("missing", 0), total, settings.null_margin) if feat.nullable else None
        if mostly is not None:
            items.append(
                _exp("expect_column_values_to_not_be_null", sev, PROFILE, "observed", column=feat.name, mostly=mostly)
            )
    if not dataset.is_classification:  # a regression label gets a learned range like a feature
        facts = summary.numeric.get(dataset.label, {})
        learned = _learned_range(dataset.label, facts, *label_bounds, sev, settings)
        if learned is not None:
            items.append(learned)
    for cat in dataset.features.categorical:
        counts = summary.categorical.get(cat.name, {})
        seen = [lv for lv in cat.levels if counts.get(lv, 0) > 0]
        if seen and len(seen) < len(cat.levels):
            items.append(
                _exp("expect_column_values_to_be_in_set", sev, PROFILE, "observed", column=cat.name, value_set=seen)
            )
        mostly = (
            _mostly(counts.get(NULL_LEVEL, 0), sum(counts.values()), settings.null_margin) if cat.nullable else None
        )
        if mostly is not None:
            items.append(
                _exp("expect_column_values_to_not_be_null", sev, PROFILE, "observed", column=cat.name, mostly=mostly)
            )
    return items


def generate_suite(config: PipelineConfig, summary: DataSummary, source_snapshot_id: str) -> Suite:
    """A fresh suite from the declared schema and the facts of a reference snapshot."""
    dataset, settings = config.dataset, config.validation.expectations
    meta = {
        "ct": {
            "dataset": dataset.name,
            "generated_from": source_snapshot_id,
            "rows": summary.rows,
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "schema_hash": schema_hash(dataset),
            "settings": {
                "range_margin": settings.range_margin,
                "range_alarm_rate": settings.range_alarm_rate,
                "null_margin": settings.null_margin,
                "row_count_factor": settings.row_count_factor,
            },
            "note": (
                f"Generated by ct from snapshot {source_snapshot_id}. Do not edit: put changes in "
                f"{dataset.name}.overrides.yaml beside this file (they survive regeneration). Expectations "
                "with ct_source 'schema' are rebuilt from pipeline.yaml at every run."
            ),
        }
    }
    contract = config.validation.label_contract
    items = schema_expectations(dataset, settings, contract) + profile_expectations(
        summary, dataset, settings, (contract.min, contract.max)
    )
    return Suite(name=dataset.name, expectations=tuple(items), meta=meta, created=True)


# -- where the suite lives ------------------------------------------------------------------------


@dataclass(frozen=True)
class SuiteLocation:
    """Where a dataset's suite is read from (first existing) and where a new one is written."""

    search: tuple[Path, ...]
    write_dir: Path
    dataset: str

    @property
    def existing(self) -> Path | None:
        """The suite file in use: the first one found along ``search``."""
        return next((d / f"{self.dataset}.json" for d in self.search if (d / f"{self.dataset}.json").is_file()), None)

    @property
    def target(self) -> Path:
        """The suite file of this dataset: the existing one, else where a new one goes."""
        return self.existing or self.write_dir / f"{self.dataset}.json"

    @property
    def overrides(self) -> Path:
        """The overrides file, beside the suite file in use."""
        return self.target.parent / f"{self.dataset}.overrides.yaml"


def _writable(directory: Path) -> bool:
    probe = directory
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return os.access(probe, os.W_OK)


def suite_location(settings: Settings, config: PipelineConfig) -> SuiteLocation:
    """Resolve the suite's directory.

    ``validation.expectations.suite_dir`` (absolute, or relative to the config file) wins.
    Otherwise suites are looked up in ``expectations/`` beside the config file, then in
    ``$CT_HOME/expectations/``; a new suite is written beside the config file when that
    directory is writable and is not the project checkout's bundled ``config/`` (code, shared
    by every run and test, is never written at run time), else under ``$CT_HOME``.
    """
    name = config.dataset.name
    configured = config.validation.expectations.suite_dir
    if configured:
        directory = Path(configured).expanduser()
        if not directory.is_absolute():
            directory = settings.config_path.parent / directory
        return SuiteLocation(search=(directory,), write_dir=directory, dataset=name)
    beside = settings.config_path.parent / "expectations"
    home = settings.home / "expectations"
    bundled = settings.config_path.resolve() == BUNDLED_CONFIG.resolve()
    write_dir = beside if not bundled and _writable(beside) else home
    search = (beside,) if beside == home else (beside, home)
    return SuiteLocation(search=search, write_dir=write_dir, dataset=name)


# -- reading, writing, overriding -----------------------------------------------------------------


def read_suite_file(path: Path) -> tuple[list[Expectation], dict[str, Any]]:
    """The expectations and meta of a stored suite; a damaged file is a ConfigError naming it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(
            f"expectation suite {path} cannot be read ({err}); fix it or regenerate it with "
            "`ct validate --suite-from SNAPSHOT`"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("expectations"), list):
        raise ConfigError(f"expectation suite {path}: expected a JSON object with an 'expectations' list")
    items = [Expectation.from_gx_dict(d, str(path)) for d in data["expectations"]]
    return items, dict(data.get("meta") or {})


def load_suite(location: SuiteLocation, config: PipelineConfig) -> Suite | None:
    """The effective suite from the stored file (None when there is none yet), overrides applied.

    Schema expectations come from the current config; the file contributes everything else.
    """
    path = location.existing
    if path is None:
        return None
    stored, meta = read_suite_file(path)
    dataset = config.dataset
    if meta.get("ct", {}).get("schema_hash") not in (None, schema_hash(dataset)):
        log.warning(
            "expectation suite %s was generated for another version of the declared schema; schema "
            "expectations come from the current config, data-derived ones from the file. Refresh it with "
            "`ct validate --suite-from SNAPSHOT`.",
            path,
        )
    columns = set(dataset.columns)
    kept = []
    for e in stored:
        if e.source == SCHEMA:
            continue
        if e.column is not None and e.column not in columns:
            log.warning(
                "expectation %s in %s is about column %r, which the config no longer declares; skipped",
                e.id,
                path,
                e.column,
            )
            continue
        kept.append(e)
    items = schema_expectations(dataset, config.validation.expectations, config.validation.label_contract) + kept
    suite = Suite(name=dataset.name, expectations=tuple(items), meta=meta, path=path)
    return apply_overrides(suite, location.overrides)


def save_suite(suite: Suite, path: Path, replace_existing: bool = False) -> Path:
    """Write the suite as GX JSON; an existing file is only replaced when asked (kept as ``.bak``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        if not replace_existing:
            raise ConfigError(
                f"expectation suite {path} already exists and is never overwritten silently; "
                "regenerate it explicitly with `ct validate --suite-from SNAPSHOT`"
            )
        backup = path.with_name(path.name + ".bak")
        backup.write_bytes(path.read_bytes())
        log.warning("replacing expectation suite %s (previous version kept as %s)", path, backup)
    stored = [e for e in suite.expectations if e.source != OVERRIDE]
    text = json.dumps({**replace(suite, expectations=tuple(stored)).to_gx_dict()}, indent=2, allow_nan=False)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, path)
    log.info("expectation suite written to %s (%d expectations)", path, len(stored))
    return path


def _read_overrides(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"expectation overrides {path} cannot be read: {err}") from None
    if not isinstance(data, dict) or set(data) - _OVERRIDE_KEYS:
        raise ConfigError(
            f"expectation overrides {path}: expected a mapping with keys among "
            f"{sorted(_OVERRIDE_KEYS)}, got {sorted(data) if isinstance(data, dict) else type(data).__name__}"
        )
    return data


def apply_overrides(suite: Suite, path: Path | None) -> Suite:
    """Apply ``change`` / ``remove`` / ``add`` from the overrides file (see docs/validation.md)."""
    if path is None or not path.is_file():
        return suite
    data = _read_overrides(path)
    by_id = {e.id: e for e in suite.expectations}

    def known(ct_id: Any, section: str) -> str:
        if ct_id not in by_id:
            shown = ", ".join(sorted(by_id)[:8])
            raise ConfigError(
                f"expectation overrides {path}, {section}: no expectation with id {ct_id!r} in the "
                f"suite; ids look like 'expect_column_values_to_be_between:age:observed' "
                f"(some ids: {shown}, ...)"
            )
        return str(ct_id)

    change = data.get("change") or {}
    if not isinstance(change, dict):
        raise ConfigError(f"expectation overrides {path}: 'change' must map expectation ids to settings")
    for ct_id, given in change.items():
        key = known(ct_id, "change")
        if not isinstance(given, dict):
            raise ConfigError(
                f"expectation overrides {path}, change.{key}: expected a mapping of kwargs "
                f"(and optionally severity), got {given!r}"
            )
        settings = dict(given)
        severity = by_id[key].severity
        if "severity" in settings:
            severity = _severity(settings.pop("severity"), f"{path}, change.{key}")
        meta = by_id[key].meta
        if "mostly" in settings:  # a tolerance set by hand is kept as is, never rebound per batch
            meta = {k: v for k, v in meta.items() if k != RANGE_RULE}
        by_id[key] = replace(by_id[key], kwargs={**by_id[key].kwargs, **settings}, severity=severity, meta=meta)
    removed = data.get("remove") or []
    if not isinstance(removed, list):
        raise ConfigError(f"expectation overrides {path}: 'remove' must be a list of expectation ids")
    for ct_id in removed:
        by_id.pop(known(ct_id, "remove"))
    added = data.get("add") or []
    if not isinstance(added, list):
        raise ConfigError(f"expectation overrides {path}: 'add' must be a list of expectations")
    for i, d in enumerate(added):
        where = f"{path}, add[{i}]"
        if not isinstance(d, dict) or not str(d.get("type", "")).startswith("expect_"):
            raise ConfigError(
                f"{where}: each added expectation needs a 'type' like 'expect_column_mean_to_be_between' "
                f"and a 'kwargs' mapping, got {d!r}"
            )
        kwargs = d.get("kwargs") or {}
        if not isinstance(kwargs, dict):
            raise ConfigError(f"{where}: 'kwargs' must be a mapping, got {kwargs!r}")
        ct_id = str(d.get("id") or _default_id(d["type"], kwargs.get("column"), f"added{i}"))
        if ct_id in by_id:
            raise ConfigError(f"{where}: id {ct_id!r} is already in the suite; give the added expectation another id")
        by_id[ct_id] = Expectation(
            id=ct_id,
            type=d["type"],
            kwargs=dict(kwargs),
            source=OVERRIDE,
            severity=_severity(d.get("severity", "fail"), where),
            meta=dict(d.get("meta") or {}),
        )
    return replace(suite, expectations=tuple(by_id.values()), overrides_path=path)


OVERRIDES_TEMPLATE = """\
# Changes to the generated expectation suite {dataset}.json, applied at every validation and kept
# when the suite is regenerated (`ct validate --suite-from SNAPSHOT`). Ids are the suite's meta.ct_id
# values; severities are fail (stop the run), warn (record and alert) or info. Examples:
#
# change:
#   "expect_column_values_to_be_between:monthly_charges:observed": {{max_value: 300}}
#   "expect_column_values_to_be_in_set:region": {{severity: warn}}
# remove:
#   - "expect_column_values_to_not_be_null:data_usage_gb:observed"
# add:
#   - {{type: expect_column_mean_to_be_between, kwargs: {{column: age, min_value: 30, max_value: 60}}, severity: warn}}
"""


def write_overrides_template(path: Path, dataset: str) -> bool:
    """Create a commented, empty overrides file beside a new suite (never over an existing one)."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(OVERRIDES_TEMPLATE.format(dataset=dataset), encoding="utf-8")
    return True
