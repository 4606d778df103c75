"""Live model performance from ground truth: labels that arrive later for earlier requests,
joined with the predictions the detector sidecar saw, exported to Prometheus per model version
over the last ``window`` labelled rows.

binary: ROC AUC, precision and recall at the model's threshold; multiclass: accuracy and macro
F1; regression: RMSE and MAE. Labels for request ids it never saw (or has forgotten: it keeps
the last ``max_predictions`` rows) are counted, not errors.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from prometheus_client import Counter, Gauge

from shipyard.schema import Schema
from shipyard.task import BINARY, MULTICLASS, REGRESSION, plain

LIVE = Gauge(
    "shipyard_live_metric",
    "Model performance on labelled production rows",
    ("model", "version", "metric"),
)
HOLDOUT = Gauge(
    "shipyard_holdout_metric",
    "The version's holdout metric at registration",
    ("model", "version", "metric"),
)
LABELLED = Gauge(
    "shipyard_live_labelled_rows", "Labelled rows the live metrics are over", ("model", "version")
)
LABELS = Counter(
    "shipyard_labels", "Ground-truth labels received, by outcome", ("model", "version", "outcome")
)  # joined | unknown_id | bad_label


@dataclass
class Prediction:
    value: Any  # the served label (or value)
    proba: list[float] | None  # per class, for classifiers


@dataclass
class LivePerformance:
    """Predictions by (request id, row); labels joined against them; metrics recomputed."""

    schema: Schema
    model: str
    version: str
    threshold: float | None = None
    window: int = 1000
    max_predictions: int = 200_000
    holdout: dict[str, float] = field(default_factory=dict)
    _predictions: OrderedDict = field(default_factory=OrderedDict)
    _pairs: deque = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._pairs = deque(maxlen=self.window)
        for name, value in self.holdout.items():
            HOLDOUT.labels(self.model, self.version, name).set(value)

    def add_predictions(
        self, request_id: str, values: list[Any], proba: list[list[float]] | None = None
    ) -> None:
        with self._lock:
            for row, value in enumerate(values):
                self._predictions[(request_id, row)] = Prediction(
                    value, None if proba is None else list(proba[row])
                )
            while len(self._predictions) > self.max_predictions:
                self._predictions.popitem(last=False)

    def add_labels(self, labels: list[dict]) -> dict[str, int]:
        """``[{"id": request id, "row": 0, "label": value}, …]`` → counts by outcome."""
        counts = {"joined": 0, "unknown_id": 0, "bad_label": 0}
        with self._lock:
            for item in labels:
                key = (str(item.get("id", "")), int(item.get("row", 0) or 0))
                prediction = self._predictions.get(key)
                label = plain(item.get("label"))
                if prediction is None:
                    counts["unknown_id"] += 1
                elif not self._valid(label):
                    counts["bad_label"] += 1
                else:
                    self._pairs.append((label, prediction))
                    counts["joined"] += 1
            pairs = list(self._pairs)
        for outcome, n in counts.items():
            if n:
                LABELS.labels(self.model, self.version, outcome).inc(n)
        self._export(pairs)
        return counts

    def metrics(self) -> dict[str, float]:
        with self._lock:
            return compute(self.schema, self.threshold, list(self._pairs))

    def _valid(self, label: Any) -> bool:
        if self.schema.task == REGRESSION:
            return isinstance(label, int | float) and not isinstance(label, bool)
        return label in (self.schema.classes or [])

    def _export(self, pairs: list) -> None:
        LABELLED.labels(self.model, self.version).set(len(pairs))
        for name, value in compute(self.schema, self.threshold, pairs).items():
            LIVE.labels(self.model, self.version, name).set(value)


def compute(schema: Schema, threshold: float | None, pairs: list) -> dict[str, float]:
    """The task's live metrics over (label, prediction) pairs; {} until there are any."""
    if (
        not pairs
        or schema.task not in (BINARY, MULTICLASS, REGRESSION)
        or (schema.task != REGRESSION and not schema.classes)
    ):
        return {}
    truth = [label for label, _ in pairs]
    served = [p.value for _, p in pairs]
    if schema.task == REGRESSION:
        error = np.asarray(served, float) - np.asarray(truth, float)
        return {"rmse": float(np.sqrt(np.mean(error**2))), "mae": float(np.mean(np.abs(error)))}
    from sklearn.metrics import (
        accuracy_score,
        f1_score,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    classes = [str(c) for c in schema.classes or []]
    y, predicted = [str(t) for t in truth], [str(v) for v in served]
    if schema.task == MULTICLASS:
        return {
            "accuracy": float(accuracy_score(y, predicted)),
            "f1_macro": float(
                f1_score(y, predicted, labels=classes, average="macro", zero_division=0)
            ),
        }
    positive = classes[-1]
    out = {
        "precision": float(precision_score(y, predicted, pos_label=positive, zero_division=0)),
        "recall": float(recall_score(y, predicted, pos_label=positive, zero_division=0)),
    }
    scores = [p.proba[-1] for _, p in pairs if p.proba]
    if schema.task == BINARY and len(scores) == len(pairs) and len(set(y)) == 2:
        out["roc_auc"] = float(roc_auc_score([t == positive for t in y], scores))
    return out
