"""Demo datasets beside churn: house prices (regression) and support-ticket priority (multiclass).

Each is a :class:`DemoDataset`: a pipeline config (a mapping that :func:`parse_config` accepts)
and a seeded generator of batch ``i``.  As with churn (``pipeline/app/demo_data.py``), batches
1 and 2 come from one population and batch 3 drifts, so a demo shows the validation stage
noticing it; later indices continue the stream (every third batch drifts, ids never repeat).

House prices.  A flat's price is its area (to a power below one: the tenth square metre adds
more than the hundredth) times a price per square metre that depends on the neighbourhood, the
distance to the centre (a premium that fades within a few kilometres), the condition and the
age, with multiplicative noise.  Small, old flats far out sell for a few tens of thousands, and
a linear model fitted on the whole market predicts below zero for some of them: that is why the
config clips predictions at 0 (``model.output.clip_min``).  Batch 3: the mix moves to the dear
neighbourhoods (harbour, old-town), flats get a little larger and the market is 12% higher.

Ticket priority.  A support ticket's priority (low, medium, high, urgent) follows a latent
urgency: how many users are affected, the customer's tier, the product, the channel (people
phone about what hurts), the message's sentiment and the customer's recent tickets.  The cut
points put each batch at its stated class shares, as a real shift in the mix would.  Batch 3 is
an outage: more phone calls, more network tickets, more affected users, and shares moved from
40/30/20/10 to 25/30/27/18.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import yaml

from pipeline.core.config import PipelineConfig, parse_config

DEMO_ROWS = 2000
"""Rows per batch: enough for a 200-row holdout of every class and a steady bootstrap, small enough
that both datasets' three batches train in about as long as churn's (see the module's tests)."""

NEIGHBOURHOODS = ("old-town", "riverside", "harbour", "suburbs", "hillside")
CONDITIONS = ("poor", "fair", "good", "excellent")
PRIORITIES = ("low", "medium", "high", "urgent")
CHANNELS = ("email", "chat", "phone", "web")
PRODUCTS = ("billing", "app", "hardware", "account", "network")
TIERS = ("free", "pro", "enterprise")

_PRICE_PER_M2 = {"old-town": 5200.0, "riverside": 4600.0, "harbour": 6400.0, "suburbs": 2600.0, "hillside": 3600.0}
_CONDITION_FACTOR = {"poor": 0.78, "fair": 0.92, "good": 1.0, "excellent": 1.12}
_NEIGHBOURHOOD_MIX = (0.2, 0.2, 0.12, 0.3, 0.18)
_NEIGHBOURHOOD_MIX_DRIFT = (0.27, 0.18, 0.27, 0.16, 0.12)
_MARKET_RISE = 1.12
_START = pd.Timestamp("2025-01-01", tz="UTC")

_SHARES = (0.4, 0.3, 0.2, 0.1)
_SHARES_DRIFT = (0.25, 0.3, 0.27, 0.18)


@dataclass(frozen=True)
class DemoDataset:
    """A demo dataset: its config and a generator of its ``index``-th batch (0-based).

    ``notes`` describe batches 1-3 for a summary table; ``file_prefix`` names the files a demo drops.
    """

    name: str
    file_prefix: str
    notes: tuple[str, ...]
    config_mapping: Callable[[], dict[str, Any]]
    batch: Callable[..., pd.DataFrame]

    def config(self) -> PipelineConfig:
        """The dataset's validated pipeline config."""
        return parse_config(self.config_mapping(), f"demo dataset {self.name}")

    def config_yaml(self) -> str:
        """The config as a ``pipeline.yaml`` a demo home can hold: only the keys set here (every
        other key at its default), checked by parsing first."""
        self.config()
        return yaml.safe_dump(self.config_mapping(), sort_keys=False)


def _drifts(index: int) -> bool:
    """Every third batch drifts: the third of the demo (index 2), then 5, 8, ..."""
    return index % 3 == 2


def _times(rng: np.random.Generator, index: int, n: int) -> pd.Series:
    """Times within the ``index``-th month after the start, sorted: a batch covers one month."""
    start = _START + pd.DateOffset(months=index)
    end = _START + pd.DateOffset(months=index + 1)
    seconds = np.sort(rng.uniform(0, (end - start).total_seconds(), n))
    return pd.Series(start + pd.to_timedelta(seconds.round(), unit="s"))


# -- house prices (regression) -------------------------------------------------------------------------


def house_price(
    area: np.ndarray,
    neighbourhood: np.ndarray,
    distance: np.ndarray,
    age: np.ndarray,
    condition: np.ndarray,
    market: float = 1.0,
) -> np.ndarray:
    """The noise-free price of each flat (see the module docstring), in currency units."""
    per_m2 = np.array([_PRICE_PER_M2[n] for n in neighbourhood])
    centre = 1.0 + 0.35 * np.exp(-distance / 4.0)
    ageing = 0.75 + 0.25 * np.exp(-age / 40.0)
    cond = np.array([_CONDITION_FACTOR[c] for c in condition])
    return market * per_m2 * centre * ageing * cond * area**0.92


def house_prices_batch(index: int, rows: int = DEMO_ROWS) -> pd.DataFrame:
    """The ``index``-th batch of house sales (0-based; index 2 drifts), seeded by its index."""
    rng = np.random.default_rng(7100 + index)
    drift = _drifts(index)
    n = rows
    neighbourhood = rng.choice(NEIGHBOURHOODS, n, p=_NEIGHBOURHOOD_MIX_DRIFT if drift else _NEIGHBOURHOOD_MIX)
    area = np.clip(rng.lognormal(np.log(88.0 if drift else 80.0), 0.42, n), 25, 400).round(1)
    rooms = np.clip(np.round(area / 28.0 + rng.normal(0, 0.7, n)), 1, 10).astype(int)
    age = np.clip(rng.gamma(1.6, 22.0, n), 0, 150).round()
    distance = np.clip(rng.gamma(2.0, 3.2, n) * np.where(neighbourhood == "suburbs", 2.2, 1.0), 0.2, 60).round(1)
    condition = rng.choice(CONDITIONS, n, p=[0.12, 0.3, 0.4, 0.18])
    price = house_price(area, neighbourhood, distance, age, condition, _MARKET_RISE if drift else 1.0)
    price = (price * rng.lognormal(0.0, 0.12, n) / 100).round() * 100  # sold in hundreds
    frame = pd.DataFrame(
        {
            "house_id": [f"H{index * 100_000 + i:07d}" for i in range(n)],
            "sold_at": _times(rng, index, n),
            "area_m2": area,
            "rooms": rooms,
            "age_years": age,
            "distance_km": distance,
            "neighbourhood": neighbourhood,
            "condition": condition,
            "price": price,
        }
    )
    frame.loc[rng.random(n) < 0.01, "age_years"] = np.nan  # a sprinkle of unknown build years
    return frame


def house_prices_config() -> dict[str, Any]:
    """The house-prices pipeline config: a regressor of ``price``, predictions clipped at 0.

    RMSE is in currency units, so the policy reads ``margin`` as a share of the champion's RMSE:
    0.01 lets a challenger be at most 1% worse.  The R² floor keeps a first model that is barely
    better than the mean price from being crowned.
    """
    return {
        "dataset": {
            "name": "house_prices",
            "label": "price",
            "task": "regression",
            "id_columns": ["house_id"],
            "time_column": "sold_at",
            "slice_columns": ["neighbourhood"],
            "features": {
                "numeric": [
                    {"name": "area_m2", "min": 10, "max": 1000, "nullable": False},
                    {"name": "rooms", "min": 1, "max": 20, "nullable": False},
                    {"name": "age_years", "min": 0, "max": 300},
                    {"name": "distance_km", "min": 0, "max": 200},
                ],
                "categorical": [
                    {"name": "neighbourhood", "levels": list(NEIGHBOURHOODS), "nullable": False},
                    {"name": "condition", "levels": list(CONDITIONS)},
                ],
                "datetime": [{"name": "sold_at", "derive": ["month", "day_of_week"]}],
            },
        },
        "validation": {"label_contract": {"severity": "warn", "min": 0}},
        "model": {
            "name": "house-price-regressor",
            "spec": "default",
            "specs": {
                "default": {"estimator": "ridge", "params": {"alpha": 1.0}},
                "gradient_boosting": {"estimator": "gradient_boosting", "params": {"max_iter": 150}},
            },
            "candidates": ["default", "gradient_boosting"],
            "output": {"clip_min": 0, "round_decimals": 0},
        },
        "promotion": {"primary_metric": "rmse", "margin": 0.01, "floors": {"r2": 0.5}},
    }


HOUSE_PRICES = DemoDataset(
    name="house_prices",
    file_prefix="houses",
    notes=("first month of sales", "second month, same market", "drift: dearer neighbourhood mix, prices +12%"),
    config_mapping=house_prices_config,
    batch=house_prices_batch,
)


# -- support-ticket priority (multiclass) --------------------------------------------------------------


def ticket_priority_batch(index: int, rows: int = DEMO_ROWS) -> pd.DataFrame:
    """The ``index``-th batch of support tickets (0-based; index 2 is an outage), seeded by its index."""
    rng = np.random.default_rng(8200 + index)
    drift = _drifts(index)
    n = rows
    channel = rng.choice(CHANNELS, n, p=[0.15, 0.3, 0.35, 0.2] if drift else [0.35, 0.3, 0.15, 0.2])
    product = rng.choice(PRODUCTS, n, p=[0.12, 0.18, 0.1, 0.15, 0.45] if drift else [0.25, 0.3, 0.1, 0.2, 0.15])
    tier = rng.choice(TIERS, n, p=[0.45, 0.35, 0.2] if drift else [0.55, 0.33, 0.12])
    affected = np.clip(np.round(rng.lognormal(1.6 if drift else 0.8, 1.1, n)), 1, 5000).astype(int)
    previous = rng.poisson(1.2, n)
    sentiment = np.clip(rng.normal(-0.25 if drift else 0.0, 0.45, n), -1, 1).round(2)
    length = np.clip(rng.lognormal(5.6, 0.7, n), 20, 8000).round()
    account_age = np.clip(rng.gamma(2.0, 300.0, n), 1, 5000).round()
    urgency = (
        0.9 * np.log1p(affected)
        + np.select([tier == "enterprise", tier == "pro"], [1.2, 0.5], 0.0)
        + np.select([product == "network", product == "hardware", product == "billing"], [0.8, 0.5, 0.3], 0.0)
        + 0.6 * (channel == "phone")
        - 0.9 * sentiment
        + 0.15 * previous
        + 0.1 * np.log(length)
        + rng.logistic(0, 0.35, n)
    )
    # cut points that give this batch its stated class shares, as a real shift in the mix would
    shares = _SHARES_DRIFT if drift else _SHARES
    cuts = np.quantile(urgency, np.cumsum(shares)[:-1])
    priority = np.asarray(PRIORITIES)[np.searchsorted(cuts, urgency, side="right")]
    frame = pd.DataFrame(
        {
            "ticket_id": [f"T{index * 100_000 + i:07d}" for i in range(n)],
            "opened_at": _times(rng, index, n),
            "channel": channel,
            "product": product,
            "customer_tier": tier,
            "affected_users": affected,
            "previous_tickets_90d": previous,
            "sentiment": sentiment,
            "message_length": length,
            "account_age_days": account_age,
            "priority": priority,
        }
    )
    frame.loc[rng.random(n) < 0.02, "sentiment"] = np.nan  # a sprinkle of messages the scorer could not read
    return frame


def ticket_priority_config() -> dict[str, Any]:
    """The ticket-priority pipeline config: four classes, their expected shares, small candidates."""
    return {
        "dataset": {
            "name": "ticket_priority",
            "label": "priority",
            "task": "multiclass",
            "classes": list(PRIORITIES),
            "id_columns": ["ticket_id"],
            "time_column": "opened_at",
            "slice_columns": ["customer_tier"],
            "features": {
                "numeric": [
                    {"name": "affected_users", "min": 1, "max": 100_000, "nullable": False},
                    {"name": "previous_tickets_90d", "min": 0, "max": 1000},
                    {"name": "sentiment", "min": -1, "max": 1},
                    {"name": "message_length", "min": 0, "max": 100_000},
                    {"name": "account_age_days", "min": 0, "max": 20_000},
                ],
                "categorical": [
                    {"name": "channel", "levels": list(CHANNELS), "nullable": False},
                    {"name": "product", "levels": list(PRODUCTS), "nullable": False},
                    {"name": "customer_tier", "levels": list(TIERS), "nullable": False},
                ],
                "datetime": [{"name": "opened_at", "derive": ["hour", "day_of_week"]}],
            },
        },
        "validation": {
            "label_contract": {
                "severity": "warn",
                "expected_shares": dict(zip(PRIORITIES, _SHARES, strict=True)),
                "tolerance": 0.1,
            }
        },
        "model": {
            "name": "ticket-priority-classifier",
            "spec": "default",
            "specs": {
                "default": {"estimator": "logistic_regression", "params": {"C": 1.0, "max_iter": 2000}},
                "gradient_boosting": {
                    "estimator": "gradient_boosting",
                    "params": {"max_iter": 60, "max_leaf_nodes": 15},
                },
            },
            "candidates": ["default", "gradient_boosting"],
        },
        "promotion": {"primary_metric": "roc_auc", "floors": {"roc_auc": 0.6}},
    }


TICKET_PRIORITY = DemoDataset(
    name="ticket_priority",
    file_prefix="tickets",
    notes=("first month, 40/30/20/10", "second month, same mix", "outage: phone and network up, 25/30/27/18"),
    config_mapping=ticket_priority_config,
    batch=ticket_priority_batch,
)

DEMO_DATASETS: dict[str, DemoDataset] = {d.name: d for d in (HOUSE_PRICES, TICKET_PRIORITY)}
"""The demo datasets beside churn, by dataset name."""
