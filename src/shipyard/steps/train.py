"""The train step: fit one model family, evaluate it on the holdout, log and save it.

:func:`finalize` is shared with tuning: whichever step produces a model, it is evaluated,
bundled and logged to MLflow the same way.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shipyard.data.features import canonical_frame
from shipyard.data.schema import Schema
from shipyard.model.bundle import raw_scores, save_bundle
from shipyard.model.evaluation import Evaluation, evaluate, primary_metric
from shipyard.model.families import DEFAULT_MODEL, family, limited_threads, make_pipeline
from shipyard.model.outlier import fit_outlier_scorer
from shipyard.model.parity import probe_rows
from shipyard.model.task import BINARY, REGRESSION, encode_labels, with_task
from shipyard.settings import Settings

log = logging.getLogger(__name__)
# Above this many training rows, what only needs a representative sample gets a stratified one
# (the search and its cross-validation, the binary threshold, the outlier cut-off), while the
# model itself is fitted on every row: the search's cost stops growing with the table.
SAMPLE_ROWS = 200_000


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

    task: str = BINARY
    cv_metric: str = "roc_auc"

    def metadata(self) -> dict[str, Any]:
        cv = {f"cv_{self.cv_metric}": round(self.cv_score, 6)} if self.cv_score is not None else {}
        return {
            "model_type": self.model_type,
            "params": json.dumps(self.params, default=str),
            "mlflow_model_uri": self.model_uri,
            "mlflow_run_id": self.run_id,
            "task": self.task,
            **cv,
            **self.evaluation.metrics,
            **self.extra,
        }


@dataclass
class Split:
    """Train and test features (canonical form) and labels (class indices for classifiers,
    the user's labels as ``y_test_labels`` for evaluation)."""

    schema: Schema
    x_train: pd.DataFrame
    y_train: np.ndarray
    x_test: pd.DataFrame
    y_test: np.ndarray
    y_test_labels: pd.Series
    raw_test: pd.DataFrame  # the test features as the table holds them (MLflow's signature)


def load_split(train_path: str | Path, test_path: str | Path, schema: Schema) -> Split:
    """Features and labels of train and test, in the schema's feature order and encoding."""
    train, test = pd.read_parquet(train_path), pd.read_parquet(test_path)
    schema, _ = with_task(schema, train[schema.target])
    return Split(
        schema,
        canonical_frame(train, schema),
        _targets(train, schema),
        canonical_frame(test, schema),
        _targets(test, schema),
        test[schema.target],
        test[schema.features],
    )


def _targets(frame: pd.DataFrame, schema: Schema) -> np.ndarray:
    if schema.task == REGRESSION:
        return frame[schema.target].to_numpy(dtype=np.float64)
    return encode_labels(frame[schema.target], schema.classes or [])


def sample_rows(y: np.ndarray, task: str, seed: int, rows: int | None = None) -> np.ndarray | None:
    """Sorted indices of ``rows`` rows, each class in its share (a random sample for
    regression, or where a class is too small to stratify on); None when ``y`` has no more.
    ``rows``: default ``SAMPLE_ROWS``."""
    rows = SAMPLE_ROWS if rows is None else rows
    if len(y) <= rows:
        return None
    from sklearn.model_selection import train_test_split

    index = np.arange(len(y))
    try:
        picked = train_test_split(
            index, train_size=rows, random_state=seed, stratify=None if task == REGRESSION else y
        )[0]
    except ValueError:  # a class with a single row cannot be stratified on
        picked = train_test_split(index, train_size=rows, random_state=seed)[0]
    return np.sort(picked)


def sampled(
    x: pd.DataFrame, y: np.ndarray, picked: np.ndarray | None
) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows ``picked`` (all of them for None)."""
    if picked is None:
        return x, y
    return x.iloc[picked], y[picked]


def cv_folds(schema: Schema, default: int) -> int:
    """The folds to cross-validate with: ``schema.extra["cv_folds"]`` where the validate step
    set it (fewer folds for a table whose smallest class cannot fill more), else ``default``.
    Anything but an integer of at least 2 there is ignored."""
    value = schema.extra.get("cv_folds") if isinstance(schema.extra, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return default
    try:
        folds = int(value)
    except ValueError:
        return default
    return folds if folds >= 2 and folds == float(value) else default


def fit(
    pipeline: Any,
    x_train: pd.DataFrame,
    y_train: np.ndarray,
    threshold: float | None,
    seed: int = 42,
    task: str = BINARY,
    cv: int = 3,
) -> tuple[Any, float | None]:
    """Fit ``pipeline``; a binary classifier with no ``threshold`` gets the F1-optimal one by
    ``cv``-fold cross-validation (scikit-learn's ``TunedThresholdClassifierCV``), since 0.5 is
    wrong for rare positives; above ``SAMPLE_ROWS`` rows the threshold is tuned on a stratified
    sample and the model then fitted on every row. Other tasks have no threshold (None)."""
    if task != BINARY:
        return pipeline.fit(x_train, y_train), None
    if threshold is not None:
        return pipeline.fit(x_train, y_train), float(threshold)
    from sklearn.model_selection import TunedThresholdClassifierCV

    tuned = TunedThresholdClassifierCV(pipeline, scoring="f1", cv=cv, random_state=seed)
    picked = sample_rows(y_train, task, seed)
    try:
        tuned.fit(*sampled(x_train, y_train, picked))
    except ValueError as exc:
        if "constant predictions" not in str(exc):
            raise
        # a model that scores every row alike (a tree on a few dozen rows) has no threshold
        # to tune; 0.5 stands, and the gate judges the model against guessing
        log.warning("threshold not tuned: %s; using 0.5", exc)
        return pipeline.fit(x_train, y_train), 0.5
    if picked is not None:  # the threshold came from the sample; the model sees every row
        return pipeline.fit(x_train, y_train), float(tuned.best_threshold_)
    return tuned.estimator_, float(tuned.best_threshold_)


def finalize(
    pipeline: Any,
    split: Split,
    model_type: str,
    params: dict[str, Any],
    threshold: float | None,
    model_dir: str | Path,
    step: str,
    pipeline_run_id: str,
    settings: Settings | None = None,
    seed: int = 42,
    cv_score: float | None = None,
    tags: dict[str, str] | None = None,
    cv_metric: str | None = None,
    cv: int | None = None,
) -> ModelResult:
    """Fit ``pipeline`` (and a binary threshold, over ``cv`` folds: default the schema's or 3),
    evaluate it on the holdout, save its bundle with probe rows, log it to MLflow."""
    import mlflow

    from shipyard.model.contributions import reference_extra
    from shipyard.registry.tracking import log_bundle, step_run

    schema, task = split.schema, split.schema.task or BINARY
    folds = cv if cv is not None else cv_folds(schema, 3)
    with limited_threads():
        pipeline, threshold = fit(
            pipeline, split.x_train, split.y_train, threshold, seed, task, folds
        )
    scores = raw_scores(pipeline, split.x_test, task)
    result = evaluate(split.y_test_labels.to_numpy(), scores, threshold, schema.classes, task)
    metric = cv_metric or primary_metric(task)
    probes = probe_rows(schema, split.raw_test)
    outlier_rows, _ = sampled(split.x_train, split.y_train, sample_rows(split.y_train, task, seed))
    outlier = fit_outlier_scorer(
        pipeline.named_steps["preprocess"].transform(outlier_rows), seed=seed
    )
    bundle = save_bundle(
        pipeline,
        model_dir,
        schema,
        model_type,
        family(model_type).flavor,
        threshold,
        extra={
            "holdout_metrics": result.metrics,
            "params": params,
            **reference_extra(pipeline, split.x_train),  # a linear model's contributions
        },
        probes=probes,
        outlier=outlier,
    )
    with step_run(
        step,
        pipeline_run_id,
        settings,
        tags={"shipyard.model_type": model_type, "shipyard.task": task, **(tags or {})},
    ) as run:
        mlflow.log_params({"model_type": model_type, "task": task, **params})
        mlflow.log_metrics({f"holdout_{k}": v for k, v in result.metrics.items()})
        if cv_score is not None:
            mlflow.log_metric(f"cv_{metric}", cv_score)
        example = split.raw_test.head(5)
        output = raw_scores(pipeline, split.x_test.head(5), task)
        model_uri = log_bundle(bundle, example, output if output.ndim == 1 else output[:, -1])
    return ModelResult(
        model_type,
        params,
        result,
        model_uri,
        run.info.run_id,
        str(bundle),
        cv_score,
        task=task,
        cv_metric=metric,
    )


def train(
    train_path: str | Path,
    test_path: str | Path,
    schema_path: str | Path,
    model_dir: str | Path,
    model_type: str = DEFAULT_MODEL,
    params: dict | None = None,
    threshold: float | None = None,
    seed: int = 42,
    pipeline_run_id: str = "local",
    settings: Settings | None = None,
) -> ModelResult:
    """Fit ``model_type`` with ``params`` over its defaults on the training data."""
    split = load_split(train_path, test_path, Schema.load(schema_path))
    task = split.schema.task or BINARY
    merged = {**family(model_type).defaults_for(task), **(params or {})}
    return finalize(
        make_pipeline(split.schema, model_type, merged, seed),
        split,
        family(model_type).name,
        merged,
        threshold,
        model_dir,
        "train",
        pipeline_run_id,
        settings,
        seed,
    )
