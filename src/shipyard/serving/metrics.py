"""The predictor's Prometheus metrics (served by kserve's /metrics from the default registry).

``role`` tells the stable deployment from a canary, so rollout gates can compare the two.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from prometheus_client import Counter, Histogram

from shipyard.data.schema import Schema

LABELS = ("model", "version", "role")
REQUESTS = Counter(
    "shipyard_predictor_requests", "Inference requests by outcome", LABELS + ("status",)
)
LATENCY = Histogram(
    "shipyard_predictor_request_seconds",
    "Time spent in the model handler",
    LABELS,
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0),
)
ROWS = Histogram(
    "shipyard_predictor_rows_per_request",
    "Rows in each inference request",
    LABELS,
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384),
)
PREDICTED = Counter("shipyard_predictor_predicted_class", "Predicted labels", LABELS + ("class",))
REJECTED = Counter(
    "shipyard_predictor_rejected_requests",
    "Malformed request bodies answered 400 before reaching a model",
    ("path",),
)


NULLS = Counter(
    "shipyard_predictor_null_values",
    "Null feature values answered (imputed as in training); trained_with_nulls=false counts "
    "nulls in a feature that had none in training",
    LABELS + ("feature", "trained_with_nulls"),
)


def count_rejected(path: str) -> None:
    REJECTED.labels(path=path).inc()


def count_nulls(columns: dict[str, np.ndarray], schema: Schema, labels: dict[str, str]) -> None:
    """Count each feature's nulls in a decoded request (NaN, or None for text)."""
    for name, values in columns.items():
        missing = (
            int(np.isnan(values).sum()) if values.dtype.kind == "f" else int(pd.isna(values).sum())
        )
        if missing:
            trained = schema.column(name).trained_with_nulls
            NULLS.labels(
                **labels, feature=name, trained_with_nulls="false" if trained is False else "true"
            ).inc(missing)


UNKNOWN_MODEL = "(unknown)"  # a path naming no model of this server: one bounded label value


def count_request(labels: dict[str, str], status: int) -> None:
    """One request in ``shipyard_predictor_requests_total`` refused before it reached the
    model (which counts what reaches it): an unparsable body, an unknown model, a 413."""
    REQUESTS.labels(**labels, status=str(status)).inc()
