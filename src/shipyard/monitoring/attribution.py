"""Attribution drift: whether live traffic leans on different features than training did.

Input drift says the rows changed; it does not say whether the change matters to the model.
Here each feature's share of the model's attention is its mean |contribution| (the exact
per-feature contributions of ``shipyard.model.contributions``) divided by the sum over
features. The register step stores the training rows' shares with the version's detector
(plain JSON); the sidecar loads the same registered model, explains a sample of each window's
rows on a worker thread, and exports the window's shares and their total variation distance
from the reference (0: same attention, 1: disjoint). The assumption: contributions are
comparable between training and live rows, i.e. the same model version explains both; a large
distance means the model's decisions now rest on other features (a shifted or broken input,
or a segment the training data rarely had), whether or not accuracy has moved yet.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from prometheus_client import Counter, Gauge

from shipyard.data.features import canonical_inputs
from shipyard.data.schema import Schema
from shipyard.monitoring.windows import OneWindowAtATime

logger = logging.getLogger(__name__)

SHARE = Gauge(
    "shipyard_attribution_share",
    "Each feature's share of mean |contribution| over the latest explained window",
    ("model", "version", "feature"),
)
REFERENCE_SHARE = Gauge(
    "shipyard_attribution_reference_share",
    "Each feature's share of mean |contribution| on the training rows (stored at register)",
    ("model", "version", "feature"),
)
DRIFT = Gauge(
    "shipyard_attribution_drift",
    "Total variation distance between the latest window's attribution shares and training's",
    ("model", "version"),
)
WINDOWS = Counter(
    "shipyard_attribution_windows", "Windows whose attribution shares were computed", ("model",)
)
REFERENCE_ROWS = 2000  # training rows explained at register


def shares(values: np.ndarray) -> np.ndarray:
    """Per-feature share of mean |contribution| (``values``: [rows, features] or
    [rows, classes, features]; classes are averaged); uniform when every value is 0."""
    mean = np.abs(np.asarray(values, dtype=np.float64)).reshape(-1, values.shape[-1]).mean(0)
    total = mean.sum()
    return mean / total if total > 0 else np.full(len(mean), 1.0 / len(mean))


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Total variation distance between two share vectors (0..1)."""
    return float(0.5 * np.abs(np.asarray(a) - np.asarray(b)).sum())


def explain_shares(explainer: Any, frame: pd.DataFrame, schema: Schema) -> np.ndarray:
    """The shares of ``frame``'s rows (raw feature values, as the sidecar decodes them)."""
    return shares(explainer.contributions(canonical_inputs(frame, schema)).values)


def reference(model: Any, train: pd.DataFrame, rows: int = REFERENCE_ROWS) -> dict[str, Any]:
    """What the register step stores: the training shares of a seeded sample of ``rows``
    rows, or why there are none (a model family without exact contributions)."""
    from shipyard.model.contributions import explainer_for

    explainer, reason = explainer_for(model)
    if explainer is None:
        return {"unavailable": reason}
    sample = train.sample(rows, random_state=0) if len(train) > rows else train
    try:
        values = explain_shares(explainer, sample, model.schema)
    except Exception as exc:  # never a failed registration: the drift sidecar says it is off
        return {"unavailable": f"attribution reference failed: {type(exc).__name__}: {exc}"}
    return {
        "features": list(model.features),
        "shares": values.tolist(),
        "rows": len(sample),
        "space": explainer.space,
    }


@dataclass
class AttributionDrift:
    """Buffers request rows; every ``window`` rows, explains ``rows`` of them (a seeded
    sample: the cost bound) on a worker thread and exports shares and distance. A window that
    arrives while the previous one is still being explained is skipped and counted."""

    explainer: Any
    schema: Schema
    features: list[str]
    reference: np.ndarray
    model: str
    version: str
    window: int = 1000
    rows: int = 200
    latest: dict[str, Any] | None = None
    windows: int = 0
    errors: int = 0
    _rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    _windows: OneWindowAtATime = field(init=False)

    def __post_init__(self) -> None:
        self._windows = OneWindowAtATime(self.window, self._explain, "attribution")
        for name, value in zip(self.features, self.reference, strict=True):
            REFERENCE_SHARE.labels(self.model, self.version, name).set(float(value))

    @property
    def skipped(self) -> int:
        return self._windows.skipped

    def add(self, frame: pd.DataFrame) -> None:
        if len(frame):
            self._windows.add(frame, len(frame))

    def wait(self, timeout: float = 30.0) -> None:
        """Until the window being explained (if any) is exported."""
        self._windows.wait(timeout)

    def _explain(self, parts: list[pd.DataFrame]) -> None:
        import time

        window = pd.concat(parts, ignore_index=True)
        if len(window) > self.rows:  # a seeded sample: the cost bound
            picked = np.sort(self._rng.choice(len(window), self.rows, replace=False))
            window = window.iloc[picked].reset_index(drop=True)
        started = time.perf_counter()
        try:
            current = explain_shares(self.explainer, window, self.schema)
        except Exception:  # an explanation must never take the sidecar down
            self.errors += 1
            logger.exception("attribution failed on a window of %d rows", len(window))
            return
        drift = distance(current, self.reference)
        self.latest = {
            "distance": drift,
            "rows_explained": len(window),
            "seconds": round(time.perf_counter() - started, 4),
            "shares": dict(zip(self.features, current.round(6).tolist(), strict=True)),
        }
        self.windows += 1
        WINDOWS.labels(self.model).inc()
        DRIFT.labels(self.model, self.version).set(drift)
        for name, value in zip(self.features, current, strict=True):
            SHARE.labels(self.model, self.version, name).set(float(value))

    def status(self) -> dict[str, Any]:
        """What ``/v1/drift/<name>`` shows."""
        return {
            "enabled": True,
            "reference": dict(zip(self.features, self.reference.round(6).tolist(), strict=True)),
            "windows": self.windows,
            "skipped_windows": self.skipped,
            "errors": self.errors,
            "latest": self.latest,
        }


def from_model_info(
    info: dict[str, Any], load_model: Any, schema: Schema, model: str, version: str, **kw: Any
) -> tuple[AttributionDrift | None, str]:
    """The sidecar's attribution drift, or None and why it is off: no reference stored at
    register, or the model (``load_model()``, called only when a reference exists) could not
    be loaded or explained."""
    from shipyard.model.contributions import explainer_for

    stored = info.get("attribution") or {}
    if "shares" not in stored:
        return None, stored.get("unavailable") or "no attribution reference stored at register"
    try:
        loaded = load_model()
    except Exception as exc:
        return None, f"the model could not be loaded next to the detector: {exc}"
    if loaded is None:
        return None, "the model is not available next to this detector (a folder source)"
    explainer, reason = explainer_for(loaded)
    if explainer is None:
        return None, reason
    if list(loaded.features) != list(stored["features"]):
        return None, "the loaded model's features differ from the stored reference's"
    shares = np.asarray(stored["shares"], dtype=np.float64)
    features = list(stored["features"])
    return AttributionDrift(explainer, schema, features, shares, model, version, **kw), ""
