"""The tune step: scikit-learn's successive-halving search over each model family.

Every candidate evaluation is an MLflow child run. Selection happens here, inside one
component, not as a fan-out of tasks: successive halving compares every candidate on the same
folds round by round, and one process pays the pandas/scikit-learn imports (5–9 s per task
here) once rather than per candidate.

Model choice: halving's best score comes from its last rung (a subsample of rows, smaller
test folds) and is the best of many noisy estimates, so it is not comparable with a full
cross-validation. Each family's best configuration, the train step's model and the
HistGradientBoosting defaults (the quality floor's reference) are therefore re-scored by
``cross_val_score`` on the same folds over the search's rows, and the best of those is the
candidate; the test split only judges it (and feeds the gate).

The budget (:func:`search_budget`) is sized to rows × features unless given explicitly.
Above ``SAMPLE_ROWS`` training rows the search and the finalists' cross-validation run on a
stratified sample of that many rows; the chosen configuration is then fitted on every row.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from shipyard.data.schema import Schema
from shipyard.model.bundle import load_bundle
from shipyard.model.evaluation import METRICS, primary_metric
from shipyard.model.families import family, limited_threads, make_pipeline, parse_model_types
from shipyard.model.task import REGRESSION
from shipyard.settings import Settings
from shipyard.steps.timing import report_progress
from shipyard.steps.train import (
    ModelResult,
    Split,
    cv_folds,
    finalize,
    load_split,
    sample_rows,
    sampled,
)

if TYPE_CHECKING:
    from shipyard.model.bundle import LoadedModel
    from shipyard.model.evaluation import Evaluation

AUTO = "auto"
TINY_ROWS = 1_000  # at most this many training rows: a handful of candidates, cheap families
TINY_FAMILIES = ("hist_gradient_boosting", "linear")
FAMILIES_AUTO = ("hist_gradient_boosting", "xgboost", "linear")
# (training rows × features) up to which a family gets this many candidates; beyond the last
# step the budget stays capped at the last value.
CANDIDATES_BY_CELLS = ((2_000_000, 8), (20_000_000, 6))
CANDIDATES_CAP = 4
TINY_CANDIDATES = 4
FLOOR_FAMILY = "hist_gradient_boosting"  # its defaults are always a finalist
# scikit-learn's own HistGradientBoosting defaults (31 leaves, no depth limit, early stopping
# above 10k rows): the plain model a user would compare with, so always a finalist too. On
# small tables with many text categories it beat our shallower defaults (AUC 0.840 vs 0.804
# on a 2,380-row table of the corpus).
LIBRARY_DEFAULTS: dict[str, Any] = {
    "max_iter": 100,
    "learning_rate": 0.1,
    "max_depth": None,
    "max_leaf_nodes": 31,
    "min_samples_leaf": 20,
    "l2_regularization": 0.0,
    "early_stopping": "auto",
}


@dataclass(frozen=True)
class Budget:
    """What the search may spend: which families, and random candidates per family."""

    families: list[str]
    n_candidates: int


def search_budget(
    rows: int, features: int, model_types: str = AUTO, n_candidates: int = 0
) -> Budget:
    """The default search effort for a table of ``rows`` × ``features``.

    ``model_types`` "auto" (or empty) picks the families, ``n_candidates`` 0 (or less) the
    candidates per family; anything else is an explicit override. A tiny table's run is
    dominated by fixed costs, so it gets few candidates and only the cheap families; larger
    tables get more candidates up to a cap that falls as the table grows (halving's cost grows
    with the rows, the candidates multiply it)."""
    tiny = rows <= TINY_ROWS
    if model_types.strip().lower() in ("", AUTO):
        families = list(TINY_FAMILIES if tiny else FAMILIES_AUTO)
    else:
        families = parse_model_types(model_types)
    if n_candidates > 0:
        return Budget(families, n_candidates)
    if tiny:
        return Budget(families, TINY_CANDIDATES)
    cells = rows * max(features, 1)
    for limit, count in CANDIDATES_BY_CELLS:
        if cells <= limit:
            return Budget(families, count)
    return Budget(families, CANDIDATES_CAP)


def space_size(space: dict[str, list[Any]]) -> int:
    """How many distinct configurations a grid of lists holds."""
    return math.prod(len(values) for values in space.values())


@dataclass
class Candidate:
    model_type: str
    params: dict[str, Any]
    cv_score: float
    source: str = "tuned"  # tuned (a search's best), baseline (the train step's), default

    @property
    def label(self) -> str:
        return "baseline" if self.source == "baseline" else f"{self.model_type}_{self.source}"


def search_family(
    name: str,
    split: Split,
    metric: str,
    n_candidates: int,
    folds: Any,
    seed: int,
    parent_step_run_id: str | None = None,
) -> Candidate:
    """Successive halving over one family's space; log each evaluation as a child run.

    ``n_candidates`` is capped at the size of the space (no configuration twice)."""
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingRandomSearchCV

    task = split.schema.task or "binary"
    x, y = split.x_train, split.y_train
    space = {f"model__{k}": v for k, v in family(name).space_for(task).items()}
    n_candidates = max(1, min(n_candidates, space_size(space)))
    rarest = len(y) if task == REGRESSION else max(1, int(np.bincount(y)[np.bincount(y) > 0].min()))
    # The first rung must still hold some rows of the rarest class per fold.
    min_resources = min(
        len(y),
        max(
            len(y) // 3 ** max(math.ceil(math.log(max(n_candidates, 2), 3)) - 1, 0),
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


def cross_validated(
    candidate: Candidate, split: Split, metric: str, folds: Any, seed: int
) -> float:
    """``candidate``'s mean score over ``folds`` on ``split``'s training rows, in the
    metric's units."""
    from sklearn.model_selection import cross_val_score

    scores = cross_val_score(
        make_pipeline(split.schema, candidate.model_type, candidate.params, seed),
        split.x_train,
        split.y_train,
        cv=folds,
        scoring=METRICS[metric].scorer,
        error_score="raise",
    )
    return _natural(metric, float(np.mean(scores)))


def choose(candidates: list[Candidate], metric: str) -> Candidate:
    """The best by cross-validated score; on a tie the earliest (the baseline comes first)."""
    sign = 1.0 if METRICS[metric].greater_is_better else -1.0
    return max(candidates, key=lambda c: sign * c.cv_score)


def finalists(
    baseline: Candidate, searched: list[Candidate], task: str, families: list[str]
) -> list[Candidate]:
    """The baseline, each family's best, the floor family's defaults and scikit-learn's own
    defaults for it, without repeats."""
    pool = [baseline, *searched]
    if FLOOR_FAMILY in families:
        pool.append(
            Candidate(FLOOR_FAMILY, family(FLOOR_FAMILY).defaults_for(task), 0.0, "default")
        )
        pool.append(Candidate(FLOOR_FAMILY, dict(LIBRARY_DEFAULTS), 0.0, "library"))
    unique: list[Candidate] = []
    for candidate in pool:
        key = (family(candidate.model_type).name, sorted(candidate.params.items(), key=str))
        if all(
            (family(u.model_type).name, sorted(u.params.items(), key=str)) != key for u in unique
        ):
            unique.append(candidate)
    return unique


@limited_threads()  # BLAS/OpenMP pools held to our thread budget for the whole search
def tune(
    train_path: str | Path,
    test_path: str | Path,
    schema_path: str | Path,
    baseline_dir: str | Path,
    model_dir: str | Path,
    baseline_uri: str,
    baseline_run_id: str,
    model_types: str = AUTO,
    n_candidates: int = 0,
    cv: int = 3,
    threshold: float | None = None,
    seed: int = 42,
    pipeline_run_id: str = "local",
    settings: Settings | None = None,
    metric: str = "auto",
) -> ModelResult:
    """Search each family within the budget (``model_types`` "auto" and ``n_candidates`` 0
    size it to the table), re-score the finalists on the same folds, finalize the best."""
    from sklearn.model_selection import KFold, StratifiedKFold

    split = load_split(train_path, test_path, Schema.load(schema_path))
    task = split.schema.task or "binary"
    metric = primary_metric(task, metric)
    folds = (KFold if task == REGRESSION else StratifiedKFold)(
        n_splits=cv_folds(split.schema, cv), shuffle=True, random_state=seed
    )
    budget = search_budget(
        len(split.y_train), len(split.schema.features), model_types, n_candidates
    )
    baseline = load_bundle(baseline_dir)
    base = Candidate(
        baseline.manifest["model_type"], dict(baseline.manifest["params"]), 0.0, "baseline"
    )
    search_split = search_sample(split, seed)
    pool = _search_and_compare(
        budget, base, search_split, metric, folds, seed, pipeline_run_id, settings
    )
    best = choose(pool, metric)
    if best is pool[0]:  # the baseline won: keep the model train already logged
        shutil.copytree(baseline_dir, model_dir, dirs_exist_ok=True)
        evaluation = _stored_evaluation(baseline, split)
        result = ModelResult(base.model_type, base.params, evaluation, baseline_uri,
                             baseline_run_id, str(model_dir), base.cv_score, task=task,
                             cv_metric=metric)  # fmt: skip
    else:
        pipeline = make_pipeline(split.schema, best.model_type, best.params, seed)
        result = finalize(pipeline, split, best.model_type, best.params, threshold, model_dir,
                          "tune", pipeline_run_id, settings, seed, cv_score=best.cv_score,
                          cv_metric=metric, cv=folds.get_n_splits())  # fmt: skip
    result.extra.update(
        {
            "winner": best.source,
            "families": ",".join(budget.families),
            "n_candidates": budget.n_candidates,
            "cv_folds": folds.get_n_splits(),
            "search_rows": len(search_split.y_train),
            f"baseline_cv_{metric}": round(base.cv_score, 6),
        }
    )
    return result


def search_sample(split: Split, seed: int) -> Split:
    """``split`` with its training rows cut to a stratified ``SAMPLE_ROWS`` (as it is when it
    holds no more): what the search and the finalists' cross-validation see."""
    picked = sample_rows(split.y_train, split.schema.task or "binary", seed)
    x, y = sampled(split.x_train, split.y_train, picked)
    return dataclasses.replace(split, x_train=x, y_train=y)


def _search_and_compare(
    budget: Budget,
    base: Candidate,
    split: Split,
    metric: str,
    folds: Any,
    seed: int,
    pipeline_run_id: str,
    settings: Settings | None,
) -> list[Candidate]:
    """Search each family, then cross-validate the finalists on the same folds (their
    ``cv_score`` set), all logged in one ``tune-search`` run; progress reported as it goes."""
    import mlflow

    from shipyard.registry.tracking import step_run

    task = split.schema.task or "binary"
    with step_run("tune-search", pipeline_run_id, settings) as run:
        mlflow.log_params(
            {"families": ",".join(budget.families), "n_candidates": budget.n_candidates}
        )
        searched = []
        # the bar's units: each family's search, then each finalist's cross-validation
        # (the baseline, the library's defaults and each family's best, before duplicates go)
        planned = 2 * len(budget.families) + 2
        for done, name in enumerate(budget.families):  # each search's time, for the report
            report_progress("tune", done, planned)
            started = time.perf_counter()
            searched.append(
                search_family(
                    name, split, metric, budget.n_candidates, folds, seed, run.info.run_id
                )
            )
            mlflow.log_metric(f"search_seconds_{name}", round(time.perf_counter() - started, 3))
        for c in searched:
            mlflow.log_metric(f"search_cv_{metric}_{c.model_type}", c.cv_score)
        pool = finalists(base, searched, task, budget.families)
        planned = len(budget.families) + len(pool)
        for done, c in enumerate(pool, start=len(budget.families)):
            report_progress("tune", done, planned)
            c.cv_score = cross_validated(c, split, metric, folds, seed)
            mlflow.log_metric(f"cv_{metric}_{c.label}", c.cv_score)
    report_progress("tune", planned, planned)
    return pool


def _stored_evaluation(model: LoadedModel, split: Split) -> Evaluation:
    from shipyard.model.evaluation import evaluate

    return evaluate(
        split.y_test_labels.to_numpy(),
        model.scores(split.raw_test),  # raw: the model encodes its own inputs (dates too)
        model.threshold,
        model.classes,
        model.task,
    )
