"""The default dataset: synthetic card transactions for fraud detection.

Deterministic by seed, any row count, about 1-3 % positives, with numeric, categorical and
timestamp-derived features. ``shift`` moves the distributions (bigger amounts, more online
electronics/gaming) so drift can be demonstrated on data that looks like production.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TARGET = "is_fraud"
TIMESTAMP = "timestamp"
MERCHANT_CATEGORIES = [
    "grocery",
    "restaurants",
    "fuel",
    "travel",
    "electronics",
    "online_services",
    "jewelry",
    "gaming",
]
CHANNELS = ["pos", "online", "atm"]
_MERCHANT_P = np.array([0.30, 0.20, 0.14, 0.08, 0.10, 0.10, 0.03, 0.05])
_CHANNEL_P = np.array([0.62, 0.30, 0.08])
_SHIFTED_MERCHANT_P = np.array([0.10, 0.08, 0.06, 0.08, 0.28, 0.20, 0.05, 0.15])
_SHIFTED_CHANNEL_P = np.array([0.30, 0.62, 0.08])
_MERCHANT_RISK = np.array([-0.6, -0.4, -0.3, 0.4, 0.9, 0.6, 1.2, 1.0])
_CHANNEL_RISK = np.array([-0.5, 0.7, 0.3])
START = pd.Timestamp("2026-01-01")
SIGNAL = 2.0  # scales the fraud logit: higher makes fraud easier to tell apart


def generate_transactions(
    rows: int = 20_000, seed: int = 42, shift: float = 0.0, positive_rate: float = 0.02
) -> pd.DataFrame:
    """Return ``rows`` synthetic transactions with a binary ``is_fraud`` label.

    ``shift`` in [0, 1]: 0 is the reference distribution; 1 triples amounts and moves the
    merchant/channel mix towards online electronics and gaming.
    """
    if rows < 1:
        raise ValueError(f"rows must be at least 1, got {rows}")
    if not 0.0 <= shift <= 1.0:
        raise ValueError(f"shift must be within [0, 1], got {shift}")
    rng = np.random.default_rng(seed)
    merchant_p = (1 - shift) * _MERCHANT_P + shift * _SHIFTED_MERCHANT_P
    channel_p = (1 - shift) * _CHANNEL_P + shift * _SHIFTED_CHANNEL_P

    seconds = np.sort(rng.uniform(0, 90 * 24 * 3600, rows))
    timestamp = START + pd.to_timedelta(seconds, unit="s")
    hour = timestamp.hour.to_numpy()
    day_of_week = timestamp.dayofweek.to_numpy()
    merchant = rng.choice(len(MERCHANT_CATEGORIES), size=rows, p=merchant_p)
    channel = rng.choice(len(CHANNELS), size=rows, p=channel_p)
    avg_amount_30d = rng.lognormal(3.6, 0.6, rows)
    amount = avg_amount_30d * rng.lognormal(0.0, 0.7, rows) * (1.0 + 2.0 * shift)
    customer_age = np.clip(rng.normal(42, 14, rows), 18, 95).round().astype("int64")
    account_age_days = rng.gamma(2.0, 400.0, rows).round().astype("int64")
    distance_km = rng.lognormal(2.0, 1.2, rows)
    txn_count_24h = rng.poisson(2.5, rows).astype("int64")
    card_present = ((channel == 0) & (rng.random(rows) < 0.95)).astype("int64")
    night = ((hour < 6) | (hour >= 23)).astype(float)
    ratio = amount / avg_amount_30d

    logit = SIGNAL * (
        1.1 * np.log1p(ratio)
        + 0.25 * np.log1p(distance_km)
        + 0.9 * night
        + _MERCHANT_RISK[merchant]
        + _CHANNEL_RISK[channel]
        - 0.8 * card_present
        + 0.25 * np.minimum(txn_count_24h, 10)
        - 0.0006 * np.minimum(account_age_days, 2000)
        + rng.normal(0, 0.3, rows)
    )
    intercept = _intercept_for_rate(logit, positive_rate)
    label = (rng.random(rows) < 1 / (1 + np.exp(-(logit + intercept)))).astype("int64")

    return pd.DataFrame(
        {
            TIMESTAMP: timestamp,
            "amount": amount.round(2),
            "merchant_category": np.asarray(MERCHANT_CATEGORIES, dtype=object)[merchant],
            "channel": np.asarray(CHANNELS, dtype=object)[channel],
            "card_present": card_present,
            "hour": hour.astype("int64"),
            "day_of_week": day_of_week.astype("int64"),
            "customer_age": customer_age,
            "account_age_days": account_age_days,
            "distance_from_home_km": distance_km.round(3),
            "txn_count_24h": txn_count_24h,
            "avg_amount_30d": avg_amount_30d.round(2),
            TARGET: label,
        }
    )


def _intercept_for_rate(logit: np.ndarray, rate: float) -> float:
    """Bisect the intercept that makes the expected positive rate equal ``rate``."""
    lo, hi = -30.0, 30.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if np.mean(1 / (1 + np.exp(-(logit + mid)))) < rate:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def new_fraud_pattern(frame: pd.DataFrame, seed: int = 0, positive_rate: float = 0.1) -> pd.Series:
    """Labels for ``frame`` from a fraud pattern the default data does not have (new accounts
    making many transactions at night): the concept drift behind the closed-loop demo, where
    a champion's live accuracy decays until a model trained on production labels wins."""
    rng = np.random.default_rng(seed)
    night = ((frame["hour"] < 6) | (frame["hour"] >= 23)).to_numpy(float)
    logit = (
        3.0 * (frame["account_age_days"].to_numpy() < 300)
        + 0.6 * np.minimum(frame["txn_count_24h"].to_numpy(), 8)
        + 1.5 * night
        + rng.normal(0, 0.5, len(frame))
    )
    intercept = _intercept_for_rate(logit, positive_rate)
    labels = rng.random(len(frame)) < 1 / (1 + np.exp(-(logit + intercept)))
    return pd.Series(labels.astype("int64"), index=frame.index, name=TARGET)
