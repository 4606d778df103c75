"""Fill KFP output artifacts from Shipyard results, so the KFP UI shows metrics and curves.

Takes the artifact objects KFP hands a component (``Model``, ``Metrics``,
``ClassificationMetrics``); kept here, not in the components, so it is unit-tested.
"""

from __future__ import annotations

from typing import Any

from shipyard.model.families import family
from shipyard.steps.timing import StepTimer
from shipyard.steps.train import ModelResult


def write_model_result(
    result: ModelResult, timer: StepTimer, model: Any, metrics: Any, classification: Any
) -> None:
    """Metadata on the model artifact; scalar metrics; the ROC curve (binary) and the k×k
    confusion matrix (classifiers). A regressor's UI view is its metrics (rmse, mae, r2)."""
    model.metadata.update(
        {**result.metadata(), **timer.as_metadata(), "framework": family(result.model_type).flavor}
    )
    for name, value in result.evaluation.metrics.items():
        metrics.log_metric(name, value)
    if result.cv_score is not None:
        metrics.log_metric(f"cv_{result.cv_metric}", round(result.cv_score, 6))
    if result.evaluation.roc is not None:
        fpr, tpr, thresholds = result.evaluation.roc
        classification.log_roc_curve(fpr, tpr, thresholds)
    if result.evaluation.confusion is not None:
        classification.log_confusion_matrix(result.evaluation.labels, result.evaluation.confusion)


def threshold_param(value: float) -> float | None:
    """Pipeline parameter to library argument: 0 (or less) means 'choose by cross-validation'."""
    return value if value > 0 else None
