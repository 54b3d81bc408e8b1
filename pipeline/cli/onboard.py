"""`ct init`: onboard a new dataset from a sample file."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.cli.output import ct_command
from pipeline.core.errors import CTError
from pipeline.core.settings import Settings

if TYPE_CHECKING:
    from pipeline.app.onboarding import LabelInference
    from pipeline.core.config import PipelineConfig


def cmd_init(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.app.onboarding import check_dataset_name, infer_config, infer_label, other_registries, read_sample
    from pipeline.core.config import dump_config

    sample_path = Path(args.from_sample)
    name = args.name or sample_path.stem.replace(" ", "_")
    check_dataset_name(name, given=bool(args.name), sample=sample_path)
    sample = read_sample(sample_path, args.delimiter)
    inferred = infer_label(sample, args.label, args.task)
    config = infer_config(sample, args.label, name, task=args.task)
    target = (
        Path(args.output)
        if args.output
        else (settings.config_path if os.environ.get("CT_CONFIG") else settings.home / "pipeline.yaml")
    )
    if target.exists() and not args.force:
        raise CTError(f"{target} exists already; pass --force to overwrite it or --output to write elsewhere")
    target.parent.mkdir(parents=True, exist_ok=True)
    header = (
        f"# Inferred by `ct init` from {sample_path.name} ({len(sample)} rows). Review it: add ranges\n"
        f"# (min/max) to numeric features, check the identifier columns and the label contract.\n"
    )
    target.write_text(header + dump_config(config), encoding="utf-8")
    (settings.landing).mkdir(parents=True, exist_ok=True)
    d = config.dataset
    print(
        f"wrote {target}\n  task: {d.task} ({inferred.reason})\n  {_label_line(config, inferred)}\n"
        f"  identifiers: {list(d.id_columns) or 'none'}\n  numeric: {d.numeric_names}\n"
        f"  categorical: {[f'{c.name} ({len(c.levels)} levels)' for c in d.features.categorical]}\n"
        f"  datetime: {d.datetime_names or 'none'}; time column: {d.time_column or 'none'}\n"
        f"  promotion: {_promotion_line(config)}\n"
        f"Drop CSV or Parquet files into {settings.landing}/ and run `{ct_command()} run` (or let the DAGs pick "
        f"them up)."
    )
    others = other_registries(settings.database_url, d.name, config.model.name)
    if others["datasets"] or others["models"]:
        held = "; ".join(
            filter(
                None,
                [
                    f"snapshots of dataset(s) {', '.join(others['datasets'])}" if others["datasets"] else "",
                    f"versions of model(s) {', '.join(others['models'])}" if others["models"] else "",
                ],
            )
        )
        print(
            f"warning: {settings.home} already holds another dataset's registry ({held}). The new dataset "
            f"{d.name!r} will share its metadata store and landing area; for a separate project use another "
            f"home, e.g. `CT_HOME={settings.home.parent / d.name} ct init ...`",
            file=sys.stderr,
        )
    return 0


def _label_line(config: PipelineConfig, inferred: LabelInference) -> str:
    """The label as the config now reads it: its classes, or a numeric label's spread and range."""
    d = config.dataset
    if d.task == "binary":
        return f"label {d.label!r}: classes {list(d.classes)} (positive {d.positive_class!r})"
    if d.task == "multiclass":
        shares = ", ".join(f"{c} {share:.0%}" for c, share in inferred.shares)
        return f"label {d.label!r}: {len(d.classes)} classes ({shares})"
    return (
        f"label {d.label!r}: numbers from {inferred.minimum:,.6g} to {inferred.maximum:,.6g} "
        f"(standard deviation {inferred.std:,.6g}); no range is enforced: set validation.label_contract.min/max "
        "and model.output.clip_min (e.g. 0 for prices) if the label has bounds"
    )


def _promotion_line(config: PipelineConfig) -> str:
    """The promotion policy ``ct init`` wrote, with what the margin means for regression."""
    p = config.promotion
    margin = (
        f"a challenger's RMSE may be at most {p.margin:.0%} above the champion's (margin {p.margin}, a share)"
        if config.dataset.task == "regression"
        else f"margin {p.margin}"
    )
    classes = "" if config.dataset.task == "regression" else f" or {p.min_class_rows} of a class"
    return (
        f"primary {p.primary_metric}, floors {dict(p.floors)}, {margin}; no champion on fewer than "
        f"{p.min_holdout_rows} holdout rows{classes}"
    )


def register(sub: Any) -> None:
    """Add this module's commands to the ``ct`` parser."""
    p = sub.add_parser("init", help="infer a config for a new dataset from a sample file")
    p.add_argument("--from-sample", required=True, metavar="FILE", help="CSV or Parquet sample")
    p.add_argument("--label", required=True, metavar="COLUMN", help="the label column")
    p.add_argument("--name", help="dataset name (default: the file name)")
    p.add_argument("--output", help="where to write (default: $CT_CONFIG or $CT_HOME/pipeline.yaml)")
    p.add_argument("--force", action="store_true", help="overwrite an existing config")
    p.add_argument("--delimiter", help="the CSV delimiter (default: sniffed among , ; tab |)")
    p.add_argument(
        "--task",
        choices=["binary", "multiclass", "regression"],
        help="the prediction task (default: inferred from the label: two values binary, 3-50 text values or "
        "3-20 common whole numbers multiclass, other numbers regression)",
    )
    p.set_defaults(func=cmd_init)
