"""Realistic demo data: a telecom churn table arriving in batches.

Batch 1 and 2 come from the same population with about half the customers churning. Batch 3 has
covariate drift (higher charges, more support calls, more month-to-month contracts) and a label
share moved to about 70/30, the situation the validation stage must notice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

CONTRACTS = ("month-to-month", "one-year", "two-year")
PAYMENTS = ("card", "bank-transfer", "electronic-check", "mailed-check")
REGIONS = ("north", "south", "east", "west")
PLANS = ("basic", "standard", "premium")


@dataclass(frozen=True)
class BatchSpec:
    rows: int
    seed: int
    churn_share: float = 0.5
    drift: bool = False
    first_id: int = 0


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def generate_batch(spec: BatchSpec) -> pd.DataFrame:
    """One batch of customers with a churn label whose share is ``spec.churn_share``."""
    rng = np.random.default_rng(spec.seed)
    n = spec.rows
    contract_p = [0.65, 0.2, 0.15] if spec.drift else [0.45, 0.3, 0.25]
    contract = rng.choice(CONTRACTS, n, p=contract_p)
    tenure = np.clip(rng.gamma(2.0, 14.0, n), 0, 72).round()
    charges = np.clip(rng.normal(85 if spec.drift else 70, 22, n), 18, 140).round(2)
    calls = rng.poisson(3.2 if spec.drift else 1.6, n)
    usage = np.clip(rng.lognormal(2.3, 0.6, n), 0, None).round(1)
    age = np.clip(rng.normal(44, 14, n), 18, 90).round()
    payment = rng.choice(PAYMENTS, n, p=[0.3, 0.25, 0.3, 0.15])
    region = rng.choice(REGIONS, n)
    plan = rng.choice(PLANS, n, p=[0.4, 0.4, 0.2])
    signal = (
        -0.045 * tenure
        + 0.025 * charges
        + 0.45 * calls
        - 0.01 * age
        + np.select([contract == "month-to-month", contract == "one-year"], [1.2, 0.0], -1.0)
        + 0.5 * (payment == "electronic-check")
        - 0.3 * (plan == "premium")
        + rng.logistic(0, 1.0, n)
    )
    # Place the cut so the batch has the requested churn share, as a real shift in base rate would.
    cut = np.quantile(signal, 1 - spec.churn_share)
    churned = np.where(signal > cut, "yes", "no")
    total = (charges * np.maximum(tenure, 1) * rng.uniform(0.9, 1.1, n)).round(2)
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{spec.first_id + i:07d}" for i in range(n)],
            "tenure_months": tenure,
            "monthly_charges": charges,
            "total_charges": total,
            "support_calls": calls,
            "data_usage_gb": usage,
            "age": age,
            "contract": contract,
            "payment_method": payment,
            "region": region,
            "plan": plan,
            "churned": churned,
        }
    )
    # A sprinkle of real-world mess: some missing values that the pipeline must tolerate.
    frame.loc[rng.random(n) < 0.01, "data_usage_gb"] = np.nan
    return frame


def drip_batch(index: int, rows: int = 2000) -> BatchSpec:
    """The ``index``-th batch of an endless demo stream: every third batch drifts, ids never repeat."""
    if index < 3:
        base = (
            BatchSpec(rows, 101, 0.5, False, 0),
            BatchSpec(rows, 202, 0.5, False, 100_000),
            BatchSpec(rows, 303, 0.7, True, 200_000),
        )[index]
        return base
    return BatchSpec(rows=rows, seed=1000 + index, churn_share=0.5, drift=index % 3 == 2, first_id=index * 100_000)


DEMO_BATCHES = (
    BatchSpec(rows=4000, seed=101, churn_share=0.5, first_id=0),
    BatchSpec(rows=4000, seed=202, churn_share=0.5, first_id=100_000),
    BatchSpec(rows=4000, seed=303, churn_share=0.7, drift=True, first_id=200_000),
)


def split_labels(
    frame: pd.DataFrame,
    label: str = "churned",
    id_columns: tuple[str, ...] = ("customer_id",),
    labelled_share: float = 1.0,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a batch into what is known at scoring time and what is learnt later.

    Returns (the unlabelled batch: ids + features, the late labels: ids + label). With
    ``labelled_share`` below 1, only that share of the rows (drawn with ``seed``) gets a label, as
    when outcomes are known for some customers only.
    """
    features = frame.drop(columns=[label])
    labels = frame[[*id_columns, label]]
    if labelled_share < 1.0:
        labels = labels.sample(frac=labelled_share, random_state=seed).sort_index()
    return features.reset_index(drop=True), labels.reset_index(drop=True)
