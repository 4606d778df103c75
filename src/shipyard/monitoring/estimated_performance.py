"""How good a classifier is on live traffic before its labels arrive: CBPE.

Confidence-based performance estimation (NannyML's method, Apache-2.0): if the model's
probabilities are calibrated, a row predicted positive with calibrated probability 0.8 is a true
positive with probability 0.8 and a false positive with 0.2, so summing the calibrated
probabilities over a window gives its *expected* confusion matrix, and from it accuracy, F1,
precision and recall; ROC AUC counts each row as a positive with weight p and a negative with
weight 1 - p. Calibration is isotonic regression fitted on the register step's holdout and
stored with the version's detector (its breakpoints: ``np.interp`` replays it exactly, no
pickle). The assumption: P(y|x) is unchanged (covariate shift only); under concept drift the
estimate is wrong, which only labels (``shipyard_live_metric``) can show.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from prometheus_client import Counter, Gauge

from shipyard.monitoring.windows import OneWindowAtATime

logger = logging.getLogger(__name__)

ESTIMATED = Gauge(
    "shipyard_estimated_metric",
    "Classifier performance estimated without labels (CBPE) over the latest window",
    ("model", "version", "metric"),
)
ESTIMATED_WINDOWS = Counter(
    "shipyard_estimated_windows", "Windows the performance estimate was computed on", ("model",)
)


@dataclass
class Calibration:
    """One isotonic map per calibrated column (binary: the positive class; multiclass: each
    class one-vs-rest, rows renormalised), as breakpoints."""

    n_classes: int
    points: list[tuple[list[float], list[float]]]

    @classmethod
    def fit(cls, y: np.ndarray, proba: np.ndarray) -> Calibration:
        """``y``: class indices; ``proba``: the model's probabilities ``[n, k]`` on those rows."""
        from sklearn.isotonic import IsotonicRegression

        k = proba.shape[1]
        points = []
        for c in [1] if k == 2 else range(k):
            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
            iso.fit(proba[:, c], (np.asarray(y) == c).astype(float))
            points.append((iso.X_thresholds_.tolist(), iso.y_thresholds_.tolist()))
        return cls(k, points)

    def apply(self, proba: np.ndarray) -> np.ndarray:
        """Calibrated probabilities ``[n, k]``."""
        proba = np.asarray(proba, dtype=np.float64)
        if self.n_classes == 2:
            xs, ys = self.points[0]
            p = np.interp(proba[:, 1], xs, ys)
            return np.column_stack([1 - p, p])
        out = np.column_stack(
            [np.interp(proba[:, c], xs, ys) for c, (xs, ys) in enumerate(self.points)]
        )
        total = out.sum(axis=1, keepdims=True)
        return np.where(total > 0, out / np.where(total > 0, total, 1), 1 / self.n_classes)

    def to_dict(self) -> dict[str, Any]:
        return {"n_classes": self.n_classes, "points": [list(p) for p in self.points]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        return cls(int(data["n_classes"]), [(list(x), list(y)) for x, y in data["points"]])


def estimate(calibrated: np.ndarray, scores: np.ndarray, threshold: float | None) -> dict:
    """The expected metrics of one window from calibrated probabilities and the model's own
    scores (which decide the served label: the threshold for binary, else the argmax)."""
    from sklearn.metrics import roc_auc_score

    n, k = calibrated.shape
    if k == 2 and threshold is not None:
        predicted = (scores[:, 1] >= threshold).astype(int)
    else:
        predicted = scores.argmax(axis=1)
    chosen = np.eye(k)[predicted]
    tp = (calibrated * chosen).sum(axis=0)  # expected true positives per class
    fp = ((1 - calibrated) * chosen).sum(axis=0)
    fn = (calibrated * (1 - chosen)).sum(axis=0)
    f1 = np.divide(2 * tp, 2 * tp + fp + fn, out=np.zeros(k), where=(2 * tp + fp + fn) > 0)
    # ROC AUC: every row once as a positive (weight p) and once as a negative (weight 1 - p)
    auc = [
        roc_auc_score(
            np.r_[np.ones(n), np.zeros(n)],
            np.r_[scores[:, c], scores[:, c]],
            sample_weight=np.r_[calibrated[:, c], 1 - calibrated[:, c]],
        )
        for c in ([1] if k == 2 else range(k))
    ]
    out = {"accuracy": float(tp.sum() / n)}
    if k == 2:
        out["precision"] = float(tp[1] / (tp[1] + fp[1])) if tp[1] + fp[1] > 0 else 0.0
        out["recall"] = float(tp[1] / (tp[1] + fn[1])) if tp[1] + fn[1] > 0 else 0.0
        return {**out, "f1": float(f1[1]), "roc_auc": float(auc[0])}
    return {**out, "f1_macro": float(f1.mean()), "roc_auc_ovr": float(np.mean(auc))}


@dataclass
class EstimatedPerformance:
    """Collects served probabilities; every ``window`` rows, estimates and exports the metrics
    on a worker thread (10-30 ms per 1000 rows here: never in the request's way). A window
    that arrives while the previous one is still being estimated is skipped and counted."""

    calibration: Calibration
    model: str
    version: str
    threshold: float | None = None
    window: int = 1000
    latest: dict[str, float] = field(default_factory=dict)
    _windows: OneWindowAtATime = field(init=False)

    def __post_init__(self) -> None:
        self._windows = OneWindowAtATime(self.window, self._estimate, "cbpe")

    @property
    def skipped(self) -> int:
        return self._windows.skipped

    def add(self, proba: list[list[float]]) -> None:
        scores = np.asarray(proba, dtype=np.float64)
        if scores.ndim != 2 or scores.shape[1] != self.calibration.n_classes or not len(scores):
            return  # not this model's probabilities: nothing to estimate from
        self._windows.add(scores, len(scores))

    def wait(self, timeout: float = 10.0) -> None:
        """Until the window being estimated (if any) is exported."""
        self._windows.wait(timeout)

    def _estimate(self, parts: list[np.ndarray]) -> None:
        window = np.concatenate(parts)
        try:
            metrics = estimate(self.calibration.apply(window), window, self.threshold)
        except Exception:  # an estimate must never take the sidecar down
            logger.exception("performance estimate failed on a window of %d rows", len(window))
            return
        self.latest = metrics
        ESTIMATED_WINDOWS.labels(self.model).inc()
        for name, value in metrics.items():
            ESTIMATED.labels(self.model, self.version, name).set(value)


def holdout_calibration(evaluation: Any) -> dict[str, Any] | None:
    """The register step's calibration (a ``steps.holdout.Evaluation``): its holdout labels and
    the challenger's probabilities on them; None for a regressor or a holdout without both."""
    y, proba = evaluation.y_test, evaluation.challenger_scores
    if y is None or proba is None or np.ndim(proba) != 2 or len(np.unique(y)) < 2:
        return None
    return Calibration.fit(np.asarray(y), np.asarray(proba)).to_dict()
