"""The tune step: scikit-learn's successive-halving search over each model family.

Every candidate evaluation is an MLflow child run; the best configuration by the task's
cross-validated metric (ROC AUC, macro F1, RMSE — or the one asked for) is compared with the
train step's baseline on the same folds, and the better one is refit on all training data and
finalized. Selection happens here, inside one component, not as a fan-out of tasks: successive
halving compares every candidate on the same folds round by round, and one process pays the
pandas/scikit-learn/XGBoost imports (5–9 s per task here) once rather than per candidate.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from shipyard.evaluation import METRICS, primary_metric
from shipyard.model_bundle import load_bundle
from shipyard.models import family, make_pipeline, parse_model_types
from shipyard.schema import Schema
from shipyard.settings import Settings
from shipyard.task import REGRESSION
from shipyard.training import ModelResult, Split, finalize, load_split

if TYPE_CHECKING:
    from shipyard.evaluation import Evaluation
    from shipyard.model_bundle import LoadedModel


@dataclass
class Candidate:
    model_type: str
    params: dict[str, Any]
    cv_score: float


def search_family(
    name: str,
    split: Split,
    metric: str,
    n_candidates: int,
    folds: Any,
    seed: int,
    parent_step_run_id: str | None = None,
) -> Candidate:
    """Successive halving over one family's space; log each evaluation as a child run."""
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingRandomSearchCV

    task = split.schema.task or "binary"
    x, y = split.x_train, split.y_train
    space = {f"model__{k}": v for k, v in family(name).space_for(task).items()}
    rarest = len(y) if task == REGRESSION else max(1, int(np.bincount(y)[np.bincount(y) > 0].min()))
    # The first rung must still hold some rows of the rarest class per fold.
    min_resources = min(
        len(y),
        max(
            len(y) // 3 ** max(math.ceil(math.log(n_candidates, 3)) - 1, 0),
            math.ceil(10 * folds.get_n_splits() * len(y) / rarest),
        ),
    )
    search = HalvingRandomSearchCV(
        make_pipeline(split.schema, name, seed=seed),
        space,
        n_candidates=n_candidates,
        factor=3,
        cv=folds,
        min_resources=min_resources,
        scoring=METRICS[metric].scorer,
        random_state=seed,
        refit=False,
        error_score="raise",
        n_jobs=1,
    )
    search.fit(x, y)
    _log_trials(name, metric, search.cv_results_, parent_step_run_id)
    best = {k.removeprefix("model__"): v for k, v in search.best_params_.items()}
    return Candidate(
        name,
        {**family(name).defaults_for(task), **best},
        _natural(metric, float(search.best_score_)),
    )


def _natural(metric: str, score: float) -> float:
    """A scikit-learn score in the metric's own units (errors are negated there)."""
    return score if METRICS[metric].greater_is_better else -score


def _log_trials(name: str, metric: str, results: dict, parent_run_id: str | None) -> None:
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    if parent_run_id is None:
        return
    client = MlflowClient()
    experiment_id = client.get_run(parent_run_id).info.experiment_id
    for i, params in enumerate(results["params"]):
        run = client.create_run(
            experiment_id,
            run_name=f"{name}-trial-{i}",
            tags={"mlflow.parentRunId": parent_run_id, "shipyard.model_type": name},
        )
        client.log_batch(
            run.info.run_id,
            metrics=[
                Metric(
                    f"cv_{metric}", _natural(metric, float(results["mean_test_score"][i])), 0, 0
                ),
                Metric("n_resources", float(results["n_resources"][i]), 0, 0),
                Metric("iteration", float(results["iter"][i]), 0, 0),
            ],
            params=[Param(k.removeprefix("model__"), str(v)) for k, v in params.items()],
        )
        client.set_terminated(run.info.run_id)
    client.set_tag(parent_run_id, f"shipyard.{name}.trials", str(len(results["params"])))


def tune(
    train_path: str | Path,
    test_path: str | Path,
    schema_path: str | Path,
    baseline_dir: str | Path,
    model_dir: str | Path,
    baseline_uri: str,
    baseline_run_id: str,
    model_types: str = "xgboost,random_forest,linear",
    n_candidates: int = 8,
    cv: int = 3,
    threshold: float | None = None,
    seed: int = 42,
    pipeline_run_id: str = "local",
    settings: Settings | None = None,
    metric: str = "auto",
) -> ModelResult:
    """Search each family, compare with the baseline, finalize the winner."""
    import mlflow
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score

    from shipyard.tracking import step_run

    split = load_split(train_path, test_path, Schema.load(schema_path))
    task = split.schema.task or "binary"
    metric = primary_metric(task, metric)
    better = max if METRICS[metric].greater_is_better else min
    folds = (KFold if task == REGRESSION else StratifiedKFold)(
        n_splits=cv, shuffle=True, random_state=seed
    )
    baseline = load_bundle(baseline_dir)
    base_type, base_params = baseline.manifest["model_type"], baseline.manifest["params"]
    with step_run("tune-search", pipeline_run_id, settings) as run:
        candidates = [
            search_family(name, split, metric, n_candidates, folds, seed, run.info.run_id)
            for name in parse_model_types(model_types)
        ]
        base_score = _natural(
            metric,
            float(
                cross_val_score(
                    make_pipeline(split.schema, base_type, base_params, seed),
                    split.x_train,
                    split.y_train,
                    cv=folds,
                    scoring=METRICS[metric].scorer,
                ).mean()
            ),
        )
        candidates.append(Candidate(base_type, base_params, base_score))
        for c in candidates:
            mlflow.log_metric(f"best_cv_{metric}_{c.model_type}", c.cv_score)
    best = better(candidates, key=lambda c: c.cv_score)
    if best is candidates[-1]:  # the baseline won: keep the model train already logged
        shutil.copytree(baseline_dir, model_dir, dirs_exist_ok=True)
        return ModelResult(
            base_type,
            base_params,
            _stored_evaluation(baseline, split),
            baseline_uri,
            baseline_run_id,
            str(model_dir),
            base_score,
            {"winner": "baseline"},
            task=task,
            cv_metric=metric,
        )
    result = finalize(
        make_pipeline(split.schema, best.model_type, best.params, seed),
        split,
        best.model_type,
        best.params,
        threshold,
        model_dir,
        "tune",
        pipeline_run_id,
        settings,
        seed,
        cv_score=best.cv_score,
        cv_metric=metric,
    )
    result.extra["winner"] = "tuned"
    result.extra[f"baseline_cv_{metric}"] = round(base_score, 6)
    return result


def _stored_evaluation(model: LoadedModel, split: Split) -> Evaluation:
    from shipyard.evaluation import evaluate

    return evaluate(
        split.y_test_labels.to_numpy(),
        model.scores(split.x_test),
        model.threshold,
        model.classes,
        model.task,
    )
