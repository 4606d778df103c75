"""The model families Shipyard trains: a ColumnTransformer preprocessing + one estimator.

Each family has an estimator per task (classifier or regressor), default parameters and a
search space for tuning, and a flavor that decides how the bundle stores it (XGBoost's own
UBJ, or skops for scikit-learn). ``linear`` is logistic regression for classification and
ridge regression for regression (``logistic_regression`` and ``ridge`` name it too);
``hist_gradient_boosting`` (``hgb``) is scikit-learn's histogram gradient boosting, fast and
good on most tables, the train step's default.

Estimators run on one thread (``THREADS``): on a shared 2-core machine OpenMP's spinning
threads made an XGBoost cross-validation on 456 rows take 10.6 s instead of well under one,
and a HistGradientBoosting one 17.4 s instead of 0.4 s (measured here, see
``benchmarks/effort.py``); a pod's CPU limit is a share of cores just the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from shipyard.data.schema import Schema
from shipyard.errors import ConfigError
from shipyard.model.task import REGRESSION, is_classification

CLASSIFICATION = "classification"
THREADS = 1  # threads per estimator fit (XGBoost n_jobs, the OpenMP limit for the others)
DEFAULT_MODEL = "hist_gradient_boosting"  # the train step's family unless asked otherwise
MISSING_CATEGORY = "(missing)"  # what a null categorical becomes inside the model


@dataclass(frozen=True)
class ModelFamily:
    name: str
    flavor: str
    defaults: dict[str, Any]
    space: dict[str, list[Any]] = field(default_factory=dict)
    regression_defaults: dict[str, Any] | None = None  # where they differ from ``defaults``
    regression_space: dict[str, list[Any]] | None = None

    def defaults_for(self, task: str) -> dict[str, Any]:
        if task == REGRESSION and self.regression_defaults is not None:
            return dict(self.regression_defaults)
        return dict(self.defaults)

    def space_for(self, task: str) -> dict[str, list[Any]]:
        if task == REGRESSION and self.regression_space is not None:
            return dict(self.regression_space)
        return dict(self.space)


FAMILIES: dict[str, ModelFamily] = {
    "xgboost": ModelFamily(
        "xgboost",
        "xgboost",
        {
            "n_estimators": 300,
            "max_depth": 4,
            "learning_rate": 0.08,
            "subsample": 0.9,
            "colsample_bytree": 0.9,
            "min_child_weight": 1.0,
            "reg_lambda": 1.0,
        },
        {
            "max_depth": [2, 3, 4, 5, 6, 8],
            "learning_rate": [0.03, 0.05, 0.08, 0.12, 0.2],
            "subsample": [0.7, 0.8, 0.9, 1.0],
            "colsample_bytree": [0.6, 0.8, 1.0],
            "min_child_weight": [1.0, 3.0, 5.0, 10.0],
            "reg_lambda": [0.5, 1.0, 3.0, 10.0],
        },
    ),
    "random_forest": ModelFamily(
        "random_forest",
        "sklearn",
        {"n_estimators": 200, "max_depth": 12, "min_samples_leaf": 2, "max_features": "sqrt"},
        {
            "max_depth": [6, 8, 12, 16, None],
            "min_samples_leaf": [1, 2, 5, 10],
            "max_features": ["sqrt", "log2", 0.5],
        },
        {"n_estimators": 200, "max_depth": 12, "min_samples_leaf": 2, "max_features": 0.5},
        {
            "max_depth": [6, 8, 12, 16, None],
            "min_samples_leaf": [1, 2, 5, 10],
            "max_features": [0.33, 0.5, 1.0],
        },
    ),
    # Shallow trees without early stopping: scikit-learn's defaults (31 leaves, early stopping
    # on a 10 % split above 10k rows) stopped after 31 rounds at test AUC 0.915 on the 20k-row
    # synthetic table, where depth 3 and 200 rounds give 0.946 (and as good on small tables).
    "hist_gradient_boosting": ModelFamily(
        "hist_gradient_boosting",
        "sklearn",
        {
            "max_iter": 200,
            "learning_rate": 0.1,
            "max_depth": 3,
            "min_samples_leaf": 20,
            "l2_regularization": 1.0,
            "early_stopping": False,
        },
        {
            "max_iter": [100, 200, 300],
            "learning_rate": [0.05, 0.1, 0.2],
            "max_depth": [2, 3, 4, 5],
            "min_samples_leaf": [10, 20, 50],
            "l2_regularization": [0.0, 1.0, 10.0],
        },
    ),
    "linear": ModelFamily(
        "linear",
        "sklearn",
        {"C": 1.0, "max_iter": 2000},
        {"C": [0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0]},
        {"alpha": 1.0},
        {"alpha": [0.01, 0.1, 0.3, 1.0, 3.0, 10.0, 100.0]},
    ),
}
ALIASES = {"logistic_regression": "linear", "ridge": "linear", "hgb": "hist_gradient_boosting"}


def family(name: str) -> ModelFamily:
    try:
        return FAMILIES[ALIASES.get(name, name)]
    except KeyError:
        raise ConfigError(
            f"unknown model type {name!r}", hint=f"use one of {', '.join(FAMILIES)}"
        ) from None


def parse_model_types(value: str) -> list[str]:
    """``"xgboost, random_forest"`` → validated list of family names (aliases resolved)."""
    names = [part.strip() for part in value.split(",") if part.strip()]
    if not names:
        raise ConfigError("no model types given", hint=f"use some of {', '.join(FAMILIES)}")
    return list(dict.fromkeys(family(name).name for name in names))


def make_estimator(
    name: str, task: str, params: dict[str, Any] | None = None, seed: int = 42
) -> Any:
    """A fresh estimator of the family for ``task``, defaults overridden by ``params``."""
    fam = family(name)
    merged = {**fam.defaults_for(task), **(params or {})}
    classify = is_classification(task)
    if fam.name == "xgboost":
        from xgboost import XGBClassifier, XGBRegressor

        if classify:
            return XGBClassifier(**merged, tree_method="hist", n_jobs=THREADS, random_state=seed)
        return XGBRegressor(**merged, tree_method="hist", n_jobs=THREADS, random_state=seed)
    if fam.name == "hist_gradient_boosting":
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        boosting = HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor
        return boosting(**merged, random_state=seed)
    if fam.name == "random_forest":
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        forest = RandomForestClassifier if classify else RandomForestRegressor
        return forest(**merged, n_jobs=THREADS, random_state=seed)
    from sklearn.linear_model import LogisticRegression, Ridge

    return LogisticRegression(**merged) if classify else Ridge(**merged)


@contextmanager
def limited_threads(threads: int = THREADS) -> Iterator[None]:
    """OpenMP and BLAS pools (HistGradientBoosting, scikit-learn's helpers) limited to
    ``threads`` while fitting and scoring: see the module docstring for why.

    threadpoolctl limits only the pools already loaded, so scikit-learn's OpenMP runtime and
    SciPy's BLAS are loaded first: in a fresh task process they loaded inside the limit,
    unlimited, and a 187-row multiclass search took 252 s instead of 16 s on a busy box."""
    import scipy.linalg  # noqa: F401  (SciPy's own BLAS)
    import sklearn.ensemble  # noqa: F401  (scikit-learn's OpenMP runtime)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads):
        yield


def make_preprocessor(schema: Schema) -> Any:
    """Impute and scale numerics, one-hot categoricals (unknowns ignored).

    A null carries information on real tables (a comment nobody wrote, a test nobody ran):
    a numeric feature with nulls in training gets a missing-indicator column beside its
    median, and a null categorical is its own category, ``MISSING_CATEGORY``. Imputing the
    most frequent value instead erased the signal of a 344-row table whose label followed
    whether a free-text comment was there (ROC AUC 0.63 against 0.86 for a model that saw
    the nulls). It sees features in canonical form only (``shipyard.data.features``)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    parts = []
    if schema.model_numeric:
        parts.append(
            (
                "numeric",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="median", add_indicator=True)),
                        ("scale", StandardScaler()),
                    ]
                ),
                schema.model_numeric,
            )
        )
    if schema.categorical:
        parts.append(
            (
                "categorical",
                Pipeline(
                    [
                        (
                            "impute",
                            SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY),
                        ),
                        ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
                    ]
                ),
                schema.categorical,
            )
        )
    if not parts:
        raise ConfigError("the schema has no numeric or categorical feature to train on")
    return ColumnTransformer(parts, verbose_feature_names_out=False)


def make_pipeline(
    schema: Schema,
    name: str,
    params: dict[str, Any] | None = None,
    seed: int = 42,
    task: str | None = None,
) -> Any:
    """The full scikit-learn Pipeline: ``preprocess`` then ``model``, for the schema's task."""
    from sklearn.pipeline import Pipeline

    return Pipeline(
        [
            ("preprocess", make_preprocessor(schema)),
            ("model", make_estimator(name, task or schema.task or "binary", params, seed)),
        ]
    )
