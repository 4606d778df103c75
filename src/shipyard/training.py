"""The train step: fit one model family, evaluate it on the holdout, log and save it.

:func:`finalize` is shared with tuning: whichever step produces a model, it is evaluated,
bundled and logged to MLflow the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from shipyard.evaluation import Evaluation, evaluate
from shipyard.model_bundle import save_bundle
from shipyard.models import family, make_pipeline
from shipyard.schema import Schema
from shipyard.settings import Settings


@dataclass
class ModelResult:
    """What a step that produces a model reports: where it is and how good it is."""

    model_type: str
    params: dict[str, Any]
    evaluation: Evaluation
    model_uri: str
    run_id: str
    bundle_dir: str
    cv_score: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def metadata(self) -> dict[str, Any]:
        return {"model_type": self.model_type, "params": json.dumps(self.params, default=str),
                "mlflow_model_uri": self.model_uri, "mlflow_run_id": self.run_id,
                "threshold": self.evaluation.metrics["threshold"],
                **({"cv_roc_auc": round(self.cv_score, 6)} if self.cv_score is not None else {}),
                **self.evaluation.metrics, **self.extra}


def load_split(train_path: str | Path, test_path: str | Path, schema: Schema):
    """Features and labels of train and test, in the schema's feature order."""
    train, test = pd.read_parquet(train_path), pd.read_parquet(test_path)
    return (train[schema.features], train[schema.target],
            test[schema.features], test[schema.target])


def fit(pipeline, x_train: pd.DataFrame, y_train: pd.Series, threshold: float | None,
        seed: int = 42):
    """Fit ``pipeline``; with no ``threshold``, pick the F1-optimal one by cross-validation
    (scikit-learn's ``TunedThresholdClassifierCV``), since 0.5 is wrong for rare positives."""
    if threshold is not None:
        return pipeline.fit(x_train, y_train), float(threshold)
    from sklearn.model_selection import TunedThresholdClassifierCV

    tuned = TunedThresholdClassifierCV(pipeline, scoring="f1", cv=3, random_state=seed)
    tuned.fit(x_train, y_train)
    return tuned.estimator_, float(tuned.best_threshold_)


def finalize(pipeline, schema: Schema, model_type: str, params: dict[str, Any],
             x_train: pd.DataFrame, y_train: pd.Series, x_test: pd.DataFrame,
             y_test: pd.Series, threshold: float | None, model_dir: str | Path, step: str,
             pipeline_run_id: str, settings: Settings | None = None, seed: int = 42,
             cv_score: float | None = None, tags: dict[str, str] | None = None) -> ModelResult:
    """Fit ``pipeline`` and its threshold, evaluate it on the holdout, save its bundle, log it
    to MLflow."""
    import mlflow

    from shipyard.tracking import log_bundle, step_run

    pipeline, threshold = fit(pipeline, x_train, y_train, threshold, seed)

    classes = pipeline.named_steps["model"].classes_.tolist()
    proba = pipeline.predict_proba(x_test)
    result = evaluate(y_test.to_numpy(), proba, threshold, classes)
    bundle = save_bundle(pipeline, model_dir, schema, model_type, family(model_type).flavor,
                         threshold, extra={"holdout_metrics": result.metrics, "params": params})
    with step_run(step, pipeline_run_id, settings,
                  tags={"shipyard.model_type": model_type, **(tags or {})}) as run:
        mlflow.log_params({"model_type": model_type, **params})
        mlflow.log_metrics({f"holdout_{k}": v for k, v in result.metrics.items()})
        if cv_score is not None:
            mlflow.log_metric("cv_roc_auc", cv_score)
        example = x_test.head(5)
        model_uri = log_bundle(bundle, example, pipeline.predict_proba(example)[:, -1])
    return ModelResult(model_type, params, result, model_uri, run.info.run_id, str(bundle),
                       cv_score)


def train(train_path: str | Path, test_path: str | Path, schema_path: str | Path,
          model_dir: str | Path, model_type: str = "xgboost", params: dict | None = None,
          threshold: float | None = None, seed: int = 42, pipeline_run_id: str = "local",
          settings: Settings | None = None) -> ModelResult:
    """Fit ``model_type`` with ``params`` over its defaults on the training data."""
    schema = Schema.load(schema_path)
    x_train, y_train, x_test, y_test = load_split(train_path, test_path, schema)
    merged = {**family(model_type).defaults, **(params or {})}
    return finalize(make_pipeline(schema, model_type, merged, seed), schema, model_type, merged,
                    x_train, y_train, x_test, y_test, threshold, model_dir, "train",
                    pipeline_run_id, settings, seed)
