"""Holdout metrics for each task, the curves KFP's UI draws, and what each metric means.

:data:`METRICS` is the one table of metric names: the scikit-learn scorer that tunes for it,
and whether greater is better — the direction the register gate hands to MLflow's
``MetricThreshold``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from shipyard.errors import ConfigError
from shipyard.model.task import BINARY, MULTICLASS, REGRESSION, encode_labels


@dataclass(frozen=True)
class Metric:
    scorer: str  # scikit-learn scoring name (negated for errors)
    greater_is_better: bool
    bounded: bool  # a score in [0, 1]: margins are absolute; errors take relative ones
    tasks: tuple[str, ...]


METRICS: dict[str, Metric] = {
    "roc_auc": Metric("roc_auc", True, True, (BINARY,)),
    "pr_auc": Metric("average_precision", True, True, (BINARY,)),
    "f1": Metric("f1", True, True, (BINARY,)),
    "accuracy": Metric("accuracy", True, True, (BINARY, MULTICLASS)),
    "f1_macro": Metric("f1_macro", True, True, (MULTICLASS,)),
    "roc_auc_ovr": Metric("roc_auc_ovr", True, True, (MULTICLASS,)),
    "log_loss": Metric("neg_log_loss", False, False, (BINARY, MULTICLASS)),
    "rmse": Metric("neg_root_mean_squared_error", False, False, (REGRESSION,)),
    "mae": Metric("neg_mean_absolute_error", False, False, (REGRESSION,)),
    "r2": Metric("r2", True, False, (REGRESSION,)),
}
PRIMARY = {BINARY: "roc_auc", MULTICLASS: "f1_macro", REGRESSION: "rmse"}
# Fixed floors are the user's business threshold, none by default: a fixed number cannot suit
# every table. A first version must instead beat a trivial baseline (shipyard.model.uncertainty).
DEFAULT_FLOORS: dict[str, str] = {BINARY: "", MULTICLASS: "", REGRESSION: ""}


def metric_for(name: str, task: str) -> Metric:
    """The metric ``name`` if it applies to ``task``; an error naming those that do."""
    metric = METRICS.get(name)
    if metric is None or task not in metric.tasks:
        usable = [n for n, m in METRICS.items() if task in m.tasks]
        raise ConfigError(
            f"metric {name!r} does not apply to a {task} model",
            hint=f"use one of {', '.join(usable)}",
        )
    return metric


def primary_metric(task: str, requested: str = "auto") -> str:
    """The metric tuning optimises and the gate's margin applies to."""
    name = PRIMARY[task] if requested in ("", "auto") else requested
    metric_for(name, task)
    return name


@dataclass
class Evaluation:
    metrics: dict[str, float]
    confusion: list[list[int]] | None
    labels: list[str]
    roc: tuple[list[float], list[float], list[float]] | None  # fpr, tpr, thresholds


def evaluate(
    y_true: np.ndarray,
    scores: np.ndarray,
    threshold: float | None,
    classes: list[Any] | None,
    task: str = BINARY,
) -> Evaluation:
    """Holdout metrics of ``scores`` (probabilities ``[n, k]``, or values for regression)
    against the user's labels ``y_true``."""
    if task == REGRESSION:
        return _regression(np.asarray(y_true, dtype=np.float64), np.asarray(scores, np.float64))
    import pandas as pd

    y = encode_labels(pd.Series(np.asarray(y_true, dtype=object), name="label"), classes or [])
    if task == BINARY:
        return _binary(y, scores, float(threshold if threshold is not None else 0.5), classes or [])
    return _multiclass(y, scores, classes or [])


def probabilities(proba: np.ndarray) -> np.ndarray:
    """Rows that sum to one in float64, none exactly 0: a float32 ``predict_proba`` (XGBoost)
    sums to one only within float32, and log loss checks it (and warns) in float64."""
    clipped = np.clip(np.asarray(proba, dtype=np.float64), 1e-15, 1.0)
    return clipped / clipped.sum(axis=1, keepdims=True)


def _binary(y: np.ndarray, proba: np.ndarray, threshold: float, classes: list[Any]) -> Evaluation:
    from sklearn.metrics import (
        accuracy_score,
        average_precision_score,
        confusion_matrix,
        f1_score,
        log_loss,
        precision_score,
        recall_score,
        roc_auc_score,
        roc_curve,
    )

    p = proba[:, 1]
    predicted = (p >= threshold).astype(int)
    metrics = {
        "roc_auc": roc_auc_score(y, p),
        "pr_auc": average_precision_score(y, p),
        "log_loss": log_loss(y, probabilities(proba), labels=[0, 1]),
        "f1": f1_score(y, predicted, zero_division=0),
        "precision": precision_score(y, predicted, zero_division=0),
        "recall": recall_score(y, predicted, zero_division=0),
        "accuracy": accuracy_score(y, predicted),
        "threshold": float(threshold),
    }
    fpr, tpr, thresholds = roc_curve(y, p)
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), 200)).round().astype(int))
    thresholds = np.clip(thresholds[keep], 0.0, 1.0)  # the first is +inf
    return Evaluation(
        metrics={k: round(float(v), 6) for k, v in metrics.items()},
        confusion=confusion_matrix(y, predicted, labels=[0, 1]).tolist(),
        labels=[str(c) for c in classes],
        roc=(fpr[keep].tolist(), tpr[keep].tolist(), thresholds.tolist()),
    )


def _multiclass(y: np.ndarray, proba: np.ndarray, classes: list[Any]) -> Evaluation:
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, log_loss, roc_auc_score

    k = len(classes)
    predicted = proba.argmax(axis=1)
    labels = list(range(k))
    # a class with no test row that is never predicted says nothing about the model: it
    # does not count as an F1 of 0 (tiny classes stay in train, shipyard.data.split)
    present = sorted(set(y.tolist()) | set(predicted.tolist()))
    metrics = {
        "accuracy": accuracy_score(y, predicted),
        "f1_macro": f1_score(y, predicted, average="macro", labels=present, zero_division=0),
        "log_loss": log_loss(y, probabilities(proba), labels=labels),
    }
    if len(np.unique(y)) == k:  # one-vs-rest AUC needs every class in the holdout
        metrics["roc_auc_ovr"] = roc_auc_score(y, proba, multi_class="ovr", labels=labels)
    return Evaluation(
        {n: round(float(v), 6) for n, v in metrics.items()},
        confusion_matrix(y, predicted, labels=labels).tolist(),
        [str(c) for c in classes],
        None,
    )


def _regression(y: np.ndarray, predicted: np.ndarray) -> Evaluation:
    from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

    metrics = {
        "rmse": root_mean_squared_error(y, predicted),
        "mae": mean_absolute_error(y, predicted),
        "r2": r2_score(y, predicted),
    }
    return Evaluation({n: round(float(v), 6) for n, v in metrics.items()}, None, [], None)
