"""The register step's evidence: the challenger (and the current champion) scored on the
same holdout, served answers proven equal to the model's (``serving.parity_check``), and
out-of-fold scores on the training rows where the holdout is too small to tell."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from shipyard.errors import ModelNotFound, SchemaError, ShipyardError
from shipyard.model.bundle import LoadedModel, load_bundle
from shipyard.model.ref import ModelRef
from shipyard.model.task import REGRESSION
from shipyard.registry.client import Registry

if TYPE_CHECKING:
    pass

# Below these a holdout cannot tell a weak model from a trivial one: cross-validate instead.
MIN_TEST_ROWS = 20
MIN_CLASS_ROWS = 5


def _score(model: LoadedModel, test: pd.DataFrame) -> tuple[dict[str, float], np.ndarray]:
    from shipyard.model.evaluation import evaluate

    missing = [c for c in model.features + [model.schema.target] if c not in test.columns]
    if missing:
        raise ModelNotFound(f"the holdout lacks columns the model needs: {', '.join(missing)}")
    scores = model.scores(test)
    result = evaluate(
        test[model.schema.target].to_numpy(), scores, model.threshold, model.classes, model.task
    )
    return {k: v for k, v in result.metrics.items() if k != "threshold"}, scores


@dataclass
class Evaluation:
    """What the gate decides on: the holdout metrics, and the rows' labels and scores the
    intervals are drawn from (the holdout's, or out-of-fold on the training rows where the
    holdout is too small to tell)."""

    challenger: LoadedModel
    challenger_metrics: dict[str, float]
    parity_tags: dict[str, str]
    previous: str | None
    champion_metrics: dict[str, float] | None
    y_test: np.ndarray | None = None  # class indices, or values for regression
    challenger_scores: np.ndarray | None = None
    champion_scores: np.ndarray | None = None
    champion_threshold: float | None = None
    train_y: np.ndarray | None = None  # the trivial baseline's prior or mean comes from these
    thin: str = ""  # why the holdout cannot tell ("" when it can)
    cv_y: np.ndarray | None = None  # the training rows' labels and out-of-fold scores
    cv_scores: np.ndarray | None = None


def thin_holdout(y: np.ndarray, task: str, classes: list[Any] | None) -> str:
    """Why ``y`` is too small a holdout to tell a weak model from a trivial one, or ""."""
    if len(y) < MIN_TEST_ROWS:
        return f"the holdout has {len(y)} rows (fewer than {MIN_TEST_ROWS})"
    if task == REGRESSION:
        return ""
    counts = np.bincount(y.astype(np.int64), minlength=len(classes or []))
    rarest = int(counts.argmin())
    if counts[rarest] < MIN_CLASS_ROWS:
        label = (classes or [])[rarest] if classes else rarest
        return (
            f"the holdout has {counts[rarest]} rows of class {label!r} "
            f"(fewer than {MIN_CLASS_ROWS})"
        )
    return ""


def cross_validated(
    model: LoadedModel, train: pd.DataFrame, seed: int = 0
) -> tuple[np.ndarray, np.ndarray] | None:
    """Out-of-fold scores of the model's own pipeline (same family and parameters) on the
    training rows: the evidence when the holdout is too small. None if even those are too
    few (fewer than two rows of a class, or ten rows)."""
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict

    from shipyard.data.features import canonical_frame
    from shipyard.model.families import make_pipeline

    y = model.label_values(train)
    if model.task == REGRESSION:
        folds = min(5, len(y) // 5)
        splitter: Any = KFold(folds, shuffle=True, random_state=seed) if folds >= 2 else None
    else:
        folds = min(5, int(np.bincount(y).min()))
        splitter = StratifiedKFold(folds, shuffle=True, random_state=seed) if folds >= 2 else None
    if splitter is None or len(y) < 10:
        return None
    pipeline = make_pipeline(
        model.schema,
        str(model.manifest["model_type"]),
        dict(model.manifest.get("params") or {}),
        seed=seed,
        task=model.task,
    )
    method = "predict" if model.task == REGRESSION else "predict_proba"
    scores = cross_val_predict(
        pipeline, canonical_frame(train, model.schema), y, cv=splitter, method=method
    )
    return y, np.asarray(scores, dtype=np.float64)


def _score_champion(
    registry: Registry, ref: ModelRef, challenger: LoadedModel, test: pd.DataFrame
) -> tuple[dict[str, float], np.ndarray, float | None]:
    """The champion's metrics, scores and threshold on the challenger's holdout; a
    ShipyardError saying what to fix when it cannot be loaded or scored there."""
    try:
        champion = registry.load(ref)
        if champion.task != challenger.task:
            raise ShipyardError(
                f"it is a {champion.task} model, the challenger a {challenger.task} one"
            )
        metrics, scores = _score(champion, test)
    except ShipyardError as exc:
        raise ShipyardError(
            f"cannot score the current champion v{ref.number} on this holdout: {exc}",
            hint="fix or re-alias the champion first, or register under another model_name",
        ) from exc
    return metrics, scores, champion.threshold


def evaluate(
    model_dir: str | Path,
    test: pd.DataFrame,
    name: str,
    registry: Registry,
    train: pd.DataFrame | None = None,
) -> Evaluation:
    """Score the challenger and the current champion on ``test``; prove served parity.
    ``train`` (the training rows) gives the trivial baseline's prior or mean, and the
    cross-validated evidence where the holdout is too small."""
    from shipyard.model.parity import probe_rows
    from shipyard.serving.parity_check import check_served_parity

    challenger = load_bundle(model_dir)
    metrics, scores = _score(challenger, test)
    parity = check_served_parity(
        challenger, probe_rows(challenger.schema, test, max_sample=len(test))
    )
    previous = registry.champion_version(name)
    champion_metrics = champion_scores = champion_threshold = None
    if previous is not None:
        champion_metrics, champion_scores, champion_threshold = _score_champion(
            registry, ModelRef.of(name, previous), challenger, test
        )
    y_test = challenger.label_values(test)
    evaluation = Evaluation(
        challenger,
        metrics,
        parity.tags(),
        previous,
        champion_metrics,
        y_test,
        scores,
        champion_scores,
        champion_threshold,
    )
    if train is not None and challenger.schema.target in train.columns:
        try:
            evaluation.train_y = challenger.label_values(train)
        except SchemaError:  # not the model's training data: the holdout's own prior serves
            train = None
    evaluation.thin = thin_holdout(y_test, challenger.task, challenger.classes)
    if evaluation.thin and previous is None and train is not None:
        try:
            found = cross_validated(challenger, train)
        except ValueError as exc:  # e.g. a fold the pipeline cannot fit: the holdout decides
            evaluation.thin += f" (cross-validation failed: {' '.join(str(exc).split())[:200]})"
            found = None
        if found is not None:
            evaluation.cv_y, evaluation.cv_scores = found
    return evaluation
