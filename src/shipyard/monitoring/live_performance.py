"""Live model performance from ground truth, and the check every label passes first.

The sidecar remembers the rows it was sent (the last ``max_tracked`` (request id, row) keys,
each with the server-side uid its inference-log row has, and the prediction once the response
event arrives). A label is accepted only for a remembered row, with a value that is a class of
the served version (a finite number for regression); the first label of a row wins, and a
second one is refused unless the caller asks to correct it (recorded as a correction).
Accepted labels are joined with the predictions and exported to Prometheus per model version
(a registry version number, never an alias) over the last ``window`` labelled rows:

binary: ROC AUC, precision and recall at the model's threshold; multiclass: accuracy and macro
F1; regression: RMSE and MAE. Every label is counted by outcome in ``shipyard_labels_total``.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from prometheus_client import Counter, Gauge

from shipyard.data.schema import Schema
from shipyard.model.task import BINARY, MULTICLASS, REGRESSION, plain

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
)  # accepted | corrected | unknown_id | bad_row | bad_label | duplicate | bad_item
MAX_ID_CHARS = 256
MAX_ROW = 2**31 - 1
UNSET: Any = object()


@dataclass
class Prediction:
    value: Any  # the served label (or value)
    proba: list[float] | None  # per class, for classifiers


@dataclass
class Served:
    """One row the sidecar was sent: its inference-log uid, its prediction, its label."""

    uid: str | None
    prediction: Prediction | None = None
    label: Any = UNSET


@dataclass
class Rejected:
    index: int
    field: str  # the item's field at fault: id, row, label, correct, or the item itself
    reason: str
    outcome: str  # the shipyard_labels_total outcome

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "error": self.reason}


@dataclass
class LabelResult:
    accepted: list[dict[str, Any]]  # request_id, row, uid, label, correction
    rejected: list[Rejected]
    counts: dict[str, int]


@dataclass
class LivePerformance:
    """Served rows by (request id, row); labels checked against them, joined, measured."""

    schema: Schema
    model: str
    version: str
    threshold: float | None = None
    window: int = 1000
    max_tracked: int = 200_000
    holdout: dict[str, float] = field(default_factory=dict)
    _served: OrderedDict = field(default_factory=OrderedDict)  # (id, row) -> Served
    _pairs: OrderedDict = field(default_factory=OrderedDict)  # (id, row) -> (label, Prediction)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        for name, value in self.holdout.items():
            HOLDOUT.labels(self.model, self.version, name).set(value)

    def add_requests(self, request_id: str, rows: int, uid: str | None) -> None:
        """Rows a request event carried (their log uid): labels may name them from now on. A
        request id sent again names its latest request."""
        with self._lock:
            for row in range(rows):
                key = (request_id, row)
                self._served.pop(key, None)
                self._served[key] = Served(uid)
                self._pairs.pop(key, None)
            self._forget()

    def add_predictions(
        self, request_id: str, values: list[Any], proba: list[list[float]] | None = None
    ) -> None:
        """A response event's predictions, for the rows of the same request id."""
        with self._lock:
            for row, value in enumerate(values):
                key = (request_id, row)
                served = self._served.get(key)
                if served is None:  # logger mode "response": no request event came
                    served = self._served[key] = Served(None)
                served.prediction = Prediction(value, None if proba is None else list(proba[row]))
            self._forget()

    def _forget(self) -> None:
        while len(self._served) > self.max_tracked:
            self._served.popitem(last=False)

    def add_labels(self, labels: list[Any], correct: bool = False) -> LabelResult:
        """Check each ``{"id", "row", "label"[, "correct"]}``; keep the good ones (joined with
        their predictions), refuse the others naming why; counts by outcome."""
        accepted: list[dict[str, Any]] = []
        rejected: list[Rejected] = []
        with self._lock:
            for index, item in enumerate(labels):
                outcome = self._check(index, item, correct)
                if isinstance(outcome, Rejected):
                    rejected.append(outcome)
                    continue
                key, served, label, correction = outcome
                served.label = label
                accepted.append(
                    {
                        "request_id": key[0],
                        "row": key[1],
                        "uid": served.uid,
                        "label": label,
                        "correction": correction,
                    }
                )
                if served.prediction is not None:
                    self._pairs.pop(key, None)
                    self._pairs[key] = (label, served.prediction)
                    while len(self._pairs) > self.window:
                        self._pairs.popitem(last=False)
            pairs = list(self._pairs.values())
        counts: dict[str, int] = {}
        for item in accepted:
            name = "corrected" if item["correction"] else "accepted"
            counts[name] = counts.get(name, 0) + 1
        for refusal in rejected:
            counts[refusal.outcome] = counts.get(refusal.outcome, 0) + 1
        for kind, n in counts.items():
            LABELS.labels(self.model, self.version, kind).inc(n)
        if accepted:
            self._export(pairs)
        return LabelResult(accepted, rejected, counts)

    def _check(
        self, index: int, item: Any, correct: bool
    ) -> Rejected | tuple[tuple[str, int], Served, Any, bool]:
        if not isinstance(item, dict):
            return Rejected(index, "", "is not an object {id, row, label}", "bad_item")
        request_id, row = item.get("id"), item.get("row", 0)
        if isinstance(request_id, bool) or not isinstance(request_id, str | int):
            return Rejected(index, "id", "must be the request id (a string)", "bad_item")
        request_id = str(request_id)
        if not 0 < len(request_id) <= MAX_ID_CHARS:
            return Rejected(index, "id", f"must have 1 to {MAX_ID_CHARS} characters", "bad_item")
        if isinstance(row, bool) or not isinstance(row, int) or not 0 <= row <= MAX_ROW:
            return Rejected(index, "row", "must be a whole number >= 0", "bad_row")
        if "label" not in item:
            return Rejected(index, "label", "is missing", "bad_item")
        flag = item.get("correct", correct)
        if not isinstance(flag, bool):
            return Rejected(index, "correct", "must be true or false", "bad_item")
        served = self._served.get((request_id, row))
        if served is None:
            return Rejected(
                index,
                "id",
                f"request '{request_id}' row {row} was not served here (or is older than the "
                f"last {self.max_tracked} rows)",
                "unknown_id",
            )
        label = self._as_label(plain(item["label"]))
        if label is UNSET:
            return Rejected(index, "label", self._label_hint(item["label"]), "bad_label")
        if served.label is not UNSET and not flag:
            return Rejected(
                index,
                "label",
                f"request '{request_id}' row {row} is labelled already (send \"correct\": true "
                "to replace it)",
                "duplicate",
            )
        return (request_id, row), served, label, served.label is not UNSET and flag

    def _as_label(self, label: Any) -> Any:
        """The label as the version knows it, or UNSET."""
        if self.schema.task == REGRESSION:
            if isinstance(label, bool) or not isinstance(label, int | float):
                return UNSET
            return float(label) if math.isfinite(label) else UNSET
        for known in self.schema.classes or []:
            if isinstance(known, bool) != isinstance(label, bool):
                continue
            if isinstance(known, str) != isinstance(label, str):
                continue
            if known == label:
                return known
        return UNSET

    def _label_hint(self, label: Any) -> str:
        shown = repr(label)[:40]
        if self.schema.task == REGRESSION:
            return f"{shown} is not a finite number"
        classes = ", ".join(repr(c) for c in (self.schema.classes or [])[:20])
        return f"{shown} is not a class of version {self.version} ({classes})"

    def metrics(self) -> dict[str, float]:
        with self._lock:
            return compute(self.schema, self.threshold, list(self._pairs.values()))

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
