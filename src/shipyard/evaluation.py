"""Holdout metrics for binary classifiers, and the curves KFP's UI draws."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Evaluation:
    metrics: dict[str, float]
    confusion: list[list[int]]
    labels: list[str]
    roc: tuple[list[float], list[float], list[float]]  # fpr, tpr, thresholds


def evaluate(y_true: np.ndarray, proba: np.ndarray, threshold: float,
             classes: list) -> Evaluation:
    """ROC AUC, PR AUC, log loss, and F1/precision/recall/accuracy at ``threshold``."""
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

    positive = classes[1]
    y = (np.asarray(y_true) == positive).astype(int)
    p = proba[:, 1]
    predicted = (p >= threshold).astype(int)
    metrics = {
        "roc_auc": roc_auc_score(y, p),
        "pr_auc": average_precision_score(y, p),
        "log_loss": log_loss(y, np.clip(proba, 1e-15, 1 - 1e-15), labels=[0, 1]),
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
        roc=(fpr[keep].tolist(), tpr[keep].tolist(), thresholds.tolist()))
