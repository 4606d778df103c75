"""What the report shows of one model on the holdout: its evaluation plots and global
importance, computed from the bundle and the test rows the run itself wrote.

Importance is permutation importance on the source columns (each shuffled in turn, the drop
in the primary metric averaged over a few shuffles): it needs only the bundle's own
``scores`` (any family, preprocessing included) and speaks of the user's columns, not of
one-hot or indicator columns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from shipyard.model.bundle import LoadedModel
from shipyard.model.task import BINARY, REGRESSION
from shipyard.report import plots

MAX_ROWS = 2000  # importance and scatter plots on at most this many test rows (time)
REPEATS = 3


@dataclass
class ModelView:
    figures: dict[str, str] = field(default_factory=dict)  # title -> PNG data URI
    metric: str = ""
    importance: list[tuple[str, float]] = field(default_factory=list)  # most important first


def _metric(task: str) -> tuple[str, Callable[[np.ndarray, np.ndarray], float]]:
    """The score importance is measured in (higher is better)."""
    from sklearn.metrics import accuracy_score, r2_score, roc_auc_score

    if task == BINARY:
        return "ROC AUC", lambda y, s: float(roc_auc_score(y, s[:, 1]))
    if task == REGRESSION:
        return "R²", lambda y, s: float(r2_score(y, s))
    return "accuracy", lambda y, s: float(accuracy_score(y, s.argmax(axis=1)))


def permutation_importance(
    model: LoadedModel, test: pd.DataFrame, y: np.ndarray, seed: int = 0
) -> tuple[str, list[tuple[str, float]]]:
    """Drop in the metric when each feature column is shuffled, most important first."""
    name, score = _metric(model.task)
    rng = np.random.default_rng(seed)
    base = score(y, model.scores(test))
    drops = []
    for column in model.features:
        if column not in test.columns:
            continue
        losses = []
        for _ in range(REPEATS):
            shuffled = test.copy()
            shuffled[column] = test[column].to_numpy()[rng.permutation(len(test))]
            losses.append(base - score(y, model.scores(shuffled)))
        drops.append((column, float(np.mean(losses))))
    return name, sorted(drops, key=lambda d: -d[1])


def model_view(model: LoadedModel, test: pd.DataFrame, importance: bool = True) -> ModelView:
    """Plots for the model's task, and its permutation importance."""
    from shipyard.model.evaluation import evaluate

    target = test[model.schema.target]
    y, scores = model.label_values(test), model.scores(test)
    view = ModelView()
    if model.task == REGRESSION:
        few = slice(0, MAX_ROWS)  # a scatter of more points says no more
        view.figures["Residuals vs predicted"] = plots.residuals(y[few], scores[few])
        view.figures["Predicted vs actual"] = plots.predicted_vs_actual(y[few], scores[few])
    else:
        result = evaluate(target.to_numpy(), scores, model.threshold, model.classes, model.task)
        if model.task == BINARY:
            view.figures["ROC"] = plots.roc(y, scores[:, 1])
            view.figures["Precision-recall"] = plots.precision_recall(y, scores[:, 1])
        if result.confusion is not None:
            view.figures["Confusion matrix"] = plots.confusion(result.confusion, result.labels)
        if model.task == BINARY:
            view.figures["Calibration"] = plots.calibration(y, scores[:, 1])
    if importance and model.features:
        rows = np.random.default_rng(0).permutation(len(test))[:MAX_ROWS]
        view.metric, view.importance = permutation_importance(
            model, test.iloc[rows].reset_index(drop=True), y[rows]
        )
        shown = view.importance[:15]
        view.figures["Permutation importance"] = plots.importance(
            [n for n, _ in shown], [d for _, d in shown], view.metric
        )
    return view
