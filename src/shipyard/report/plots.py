"""The report's figures, each a PNG embedded as a ``data:`` URI so the page needs no server.

matplotlib with the Agg backend (no display); one small figure per question a reader asks of
a model: how well it ranks (ROC, precision-recall), where it errs (confusion matrix,
residuals), whether its probabilities mean what they say (calibration), what it relies on
(permutation importance).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

import numpy as np

SIZE = (4.6, 3.4)


def _figure() -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=SIZE, dpi=100)
    return fig, ax


def _png(fig: Any) -> str:
    """The figure as a base64 PNG data URI; the figure is closed."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def roc(y: np.ndarray, p: np.ndarray) -> str:
    from sklearn.metrics import roc_auc_score, roc_curve

    fpr, tpr, _ = roc_curve(y, p)
    fig, ax = _figure()
    ax.plot(fpr, tpr, label=f"model (AUC {roc_auc_score(y, p):.3f})")
    ax.plot([0, 1], [0, 1], "--", color="grey", label="guessing")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    ax.legend(loc="lower right")
    return _png(fig)


def precision_recall(y: np.ndarray, p: np.ndarray) -> str:
    from sklearn.metrics import average_precision_score, precision_recall_curve

    precision, recall, _ = precision_recall_curve(y, p)
    fig, ax = _figure()
    ax.plot(recall, precision, label=f"model (AP {average_precision_score(y, p):.3f})")
    ax.axhline(float(np.mean(y)), linestyle="--", color="grey", label="guessing")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall", ylim=(0, 1.02))
    ax.legend(loc="upper right")
    return _png(fig)


def confusion(matrix: Sequence[Sequence[int]], labels: Sequence[str]) -> str:
    values = np.asarray(matrix)
    fig, ax = _figure()
    ax.imshow(values, cmap="Blues")
    ticks = range(len(labels))
    ax.set_xticks(ticks, [str(v) for v in labels], rotation=45 if len(labels) > 4 else 0)
    ax.set_yticks(ticks, [str(v) for v in labels])
    high = values.max() if values.size else 0
    for (i, j), count in np.ndenumerate(values):
        ax.text(j, i, str(count), ha="center", va="center",
                color="white" if count > high / 2 else "black")  # fmt: skip
    ax.set(xlabel="predicted", ylabel="true", title="Confusion matrix (test rows)")
    return _png(fig)


def calibration(y: np.ndarray, p: np.ndarray, bins: int = 10) -> str:
    from sklearn.calibration import calibration_curve

    observed, predicted = calibration_curve(y, p, n_bins=bins, strategy="quantile")
    fig, ax = _figure()
    ax.plot(predicted, observed, "o-", label="model")
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfectly calibrated")
    ax.set(xlabel="predicted probability", ylabel="observed frequency", title="Calibration")
    ax.legend(loc="upper left")
    return _png(fig)


def residuals(y: np.ndarray, predicted: np.ndarray) -> str:
    fig, ax = _figure()
    ax.scatter(predicted, y - predicted, s=6, alpha=0.4)
    ax.axhline(0, color="grey", linestyle="--")
    ax.set(xlabel="predicted", ylabel="actual − predicted", title="Residuals vs predicted")
    return _png(fig)


def predicted_vs_actual(y: np.ndarray, predicted: np.ndarray) -> str:
    fig, ax = _figure()
    ax.scatter(y, predicted, s=6, alpha=0.4)
    low, high = float(min(y.min(), predicted.min())), float(max(y.max(), predicted.max()))
    ax.plot([low, high], [low, high], "--", color="grey")
    ax.set(xlabel="actual", ylabel="predicted", title="Predicted vs actual")
    return _png(fig)


def importance(names: Sequence[str], drops: Sequence[float], metric: str) -> str:
    order = np.argsort(drops)
    fig, ax = _figure()
    ax.barh([names[i] for i in order], [drops[i] for i in order])
    ax.set(xlabel=f"drop in {metric} when shuffled", title="Permutation importance")
    return _png(fig)
