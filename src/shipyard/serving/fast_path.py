"""A numpy fast path for serving the pipelines Shipyard trains.

scikit-learn's ``ColumnTransformer`` on a one-row DataFrame costs about 7 ms here, more than ten
times the model itself, and it bounds any server's throughput. Shipyard knows the exact
structure it trains (median-impute + standard-scale numerics, most-frequent-impute + one-hot
categoricals, then XGBoost, logistic regression or a forest), so it compiles the fitted
preprocessing into a few numpy operations on the request's columns and calls the booster
directly. The compiled path is checked against the sklearn pipeline on probe rows when the
model loads; anything it does not recognise, or any mismatch, keeps the sklearn pipeline.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from shipyard.schema import Schema

logger = logging.getLogger(__name__)
TOLERANCE = 1e-5


@dataclass
class CompiledModel:
    numeric: list[str]
    numeric_fill: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    categorical: list[str]
    categorical_fill: list[str]
    category_index: list[dict[str, int]]
    offsets: list[int]
    width: int
    score: Any  # features matrix -> P(positive class)

    def transform(self, columns: dict[str, np.ndarray], rows: int) -> np.ndarray:
        out = np.zeros((rows, self.width), dtype=np.float64)
        if self.numeric:
            block = np.column_stack([columns[n] for n in self.numeric]).astype(np.float64)
            missing = np.isnan(block)
            if missing.any():
                block = np.where(missing, self.numeric_fill, block)
            out[:, :len(self.numeric)] = (block - self.mean) / self.scale
        row_index = np.arange(rows)
        for name, fill, index, offset in zip(self.categorical, self.categorical_fill,
                                             self.category_index, self.offsets, strict=True):
            codes = np.fromiter((index.get(fill if _missing(v) else v, -1) for v in columns[name]),
                                dtype=np.int64, count=rows)
            known = codes >= 0
            out[row_index[known], offset + codes[known]] = 1.0
        return out

    def predict_proba(self, columns: dict[str, np.ndarray]) -> np.ndarray:
        rows = len(next(iter(columns.values())))
        positive = np.asarray(self.score(self.transform(columns, rows)), dtype=np.float64)
        return np.column_stack([1.0 - positive, positive])


def compile_model(pipeline, schema: Schema) -> CompiledModel | None:
    """The compiled fast path for ``pipeline``, or None if its structure is not recognised."""
    try:
        compiled = _compile(pipeline, schema)
    except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
        logger.info("serving with the scikit-learn pipeline (no fast path): %s", exc)
        return None
    if compiled is None:
        return None
    probe = probe_frame(schema)
    expected = pipeline.predict_proba(probe[schema.features])
    got = compiled.predict_proba({n: column_values(probe[n], n in schema.categorical)
                                  for n in schema.features})
    if got.shape != expected.shape or np.max(np.abs(got - expected)) > TOLERANCE:
        logger.warning("fast path disagrees with the pipeline (max diff %.2e); not used",
                       float(np.max(np.abs(got - expected))) if got.shape == expected.shape
                       else float("nan"))
        return None
    return compiled


def _missing(value) -> bool:
    """A missing categorical: None or NaN (what pandas and the v2 decoder produce)."""
    return value is None or (isinstance(value, float) and value != value)


def column_values(series: pd.Series, categorical: bool) -> np.ndarray:
    """A column as the v2 decoder produces it: str (NaN when missing) or float64."""
    if categorical:
        return np.array([np.nan if pd.isna(v) else str(v) for v in series], dtype=object)
    return series.to_numpy(dtype=np.float64)


def _compile(pipeline, schema: Schema) -> CompiledModel | None:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    steps = dict(pipeline.named_steps)
    if list(steps) != ["preprocess", "model"]:
        return None
    pre, estimator = steps["preprocess"], steps["model"]
    if not isinstance(pre, ColumnTransformer) or len(estimator.classes_) != 2:
        return None
    numeric, categorical = [], []
    fill_num = mean = scale = np.zeros(0)
    fill_cat: list[str] = []
    index: list[dict[str, int]] = []
    offsets: list[int] = []
    width = 0
    for name, part, columns in pre.transformers_:
        if name == "remainder":
            if part != "drop" and len(columns):
                return None
            continue
        imputer, last = part.steps[0][1], part.steps[-1][1]
        if not isinstance(imputer, SimpleImputer) or len(part.steps) != 2:
            return None
        if name == "numeric" and isinstance(last, StandardScaler) and width == 0:
            numeric = list(columns)
            fill_num = np.asarray(imputer.statistics_, dtype=np.float64)
            mean = last.mean_ if last.with_mean else np.zeros(len(numeric))
            scale = last.scale_ if last.with_std else np.ones(len(numeric))
            if len(fill_num) != len(numeric):
                return None
            width = len(numeric)
        elif name == "categorical" and isinstance(last, OneHotEncoder):
            if last.drop is not None or last.handle_unknown != "ignore":
                return None
            categorical = list(columns)
            fill_cat = [str(v) for v in imputer.statistics_]
            for categories in last.categories_:
                offsets.append(width)
                index.append({str(c): i for i, c in enumerate(categories)})
                width += len(categories)
        else:
            return None
    if set(numeric) | set(categorical) != set(schema.features):
        return None
    return CompiledModel(numeric, fill_num, mean, scale, categorical, fill_cat, index, offsets,
                         width, _scorer(estimator, LogisticRegression))


def _scorer(estimator, logistic_type):
    if type(estimator).__name__ == "XGBClassifier":
        # One thread: for request-sized inputs OpenMP's fork/spin costs more than it saves,
        # and its spinning threads take the core the server and its sidecar need.
        booster = estimator.get_booster().copy()
        booster.set_param({"nthread": 1})
        if estimator.get_xgb_params().get("objective") != "binary:logistic":
            raise ValueError("only binary:logistic XGBoost models have a fast path")
        return lambda x: booster.inplace_predict(x)
    if isinstance(estimator, logistic_type):
        coef, intercept = estimator.coef_[0], float(estimator.intercept_[0])
        return lambda x: 1.0 / (1.0 + np.exp(-(x @ coef + intercept)))
    return lambda x: estimator.predict_proba(x)[:, 1]


def probe_frame(schema: Schema) -> pd.DataFrame:
    """Rows that exercise every category, an unseen one, bounds, midpoints and missing values."""
    rows = max(8, max((len(schema.column(n).categories or []) for n in schema.categorical),
                      default=0) + 2)
    data: dict[str, list] = {}
    for name in schema.features:
        column = schema.column(name)
        if name in schema.categorical:
            values = list(column.categories or []) + ["__unseen__", np.nan]
        else:
            low = column.min if column.min is not None else -1.0
            high = column.max if column.max is not None else 1.0
            values = list(np.linspace(low, high, rows - 1)) + [np.nan]
        data[name] = [values[i % len(values)] for i in range(rows)]
    frame = pd.DataFrame(data)
    for name in schema.numeric:
        frame[name] = frame[name].astype(np.float64)
    return frame
