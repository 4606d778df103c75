"""A numpy fast path for serving the pipelines Shipyard trains.

scikit-learn's ``ColumnTransformer`` on a one-row DataFrame costs about 7 ms here, more than ten
times the model itself, and it bounds any server's throughput. Shipyard knows the exact
structure it trains (median-impute + standard-scale numerics, most-frequent-impute + one-hot
categoricals, then XGBoost, a linear model or a forest, for any task), so it compiles the
fitted preprocessing into a few numpy operations on the request's canonical columns and calls
the booster directly. :func:`checked_fast_path` proves it on the probe rows stored with the
model (the answers the pipeline gave at training) when the model loads; anything it does not
recognise, or any difference beyond ``TOLERANCE``, keeps the sklearn pipeline — a model that
registered always loads.

Training proves the compiled arrays once and stores them in the bundle (``fast_path.json``,
checksummed in the manifest like every other file, so registration's checksum covers them);
the register step then proves them against the pipeline on the holdout. A server loads them
with :func:`stored_fast_path` and starts without skops, scikit-learn's pipeline or a proof
(seconds of imports); ``SHIPYARD_SERVING_PROVE_AT_START`` proves them again at every start.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from shipyard.data.features import canonical_columns, canonical_frame, iso_text
from shipyard.data.schema import BOOL_DTYPE, Schema
from shipyard.model.parity import largest_difference

if TYPE_CHECKING:
    from shipyard.model.bundle import LoadedModel
    from shipyard.model.outlier import OutlierScorer

logger = logging.getLogger(__name__)
TOLERANCE = 1e-6  # the parity contract: served probabilities within this of the registered
FAST_PATH_FILE = "fast_path.json"


@dataclass
class CompiledModel:
    numeric: list[str]
    numeric_fill: np.ndarray
    indicators: np.ndarray  # which numeric columns get a missing-indicator column after them
    mean: np.ndarray
    scale: np.ndarray
    categorical: list[str]
    categorical_fill: list[str]
    category_index: list[dict[str, int]]
    offsets: list[int]
    width: int
    score: Any  # features matrix -> probabilities [n, k] or regression values [n]
    spec: dict[str, Any] | None = None  # how ``score`` is rebuilt from the bundle; None: it isn't
    same_matrix: bool = False  # the outlier scorer reads ``transform`` (proven when stored)

    def to_json(self) -> dict[str, Any]:
        """The arrays as JSON (floats round-trip exactly) and how to rebuild ``score``."""
        return {
            "numeric": self.numeric,
            "numeric_fill": self.numeric_fill.tolist(),
            "indicators": self.indicators.tolist(),
            "mean": np.asarray(self.mean, dtype=np.float64).tolist(),
            "scale": np.asarray(self.scale, dtype=np.float64).tolist(),
            "categorical": self.categorical,
            "categorical_fill": self.categorical_fill,
            "category_index": self.category_index,
            "offsets": self.offsets,
            "width": self.width,
            "score": self.spec,
            "same_matrix": self.same_matrix,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], directory: Path) -> CompiledModel:
        """The compiled model ``to_json`` wrote, its XGBoost booster read from the bundle."""
        return cls(
            list(data["numeric"]),
            np.asarray(data["numeric_fill"], dtype=np.float64),
            np.asarray(data["indicators"], dtype=np.int64),
            np.asarray(data["mean"], dtype=np.float64),
            np.asarray(data["scale"], dtype=np.float64),
            list(data["categorical"]),
            list(data["categorical_fill"]),
            [dict(index) for index in data["category_index"]],
            list(data["offsets"]),
            int(data["width"]),
            _score_from(data["score"], directory),
            data["score"],
            bool(data.get("same_matrix", False)),
        )

    def transform(self, columns: dict[str, np.ndarray], rows: int) -> np.ndarray:
        out = np.zeros((rows, self.width), dtype=np.float64)
        if self.numeric:
            block = np.column_stack([columns[n] for n in self.numeric]).astype(np.float64)
            missing = np.isnan(block)
            if missing.any():
                block = np.where(missing, self.numeric_fill, block)
            if len(self.indicators):
                block = np.hstack([block, missing[:, self.indicators]])
            out[:, : block.shape[1]] = (block - self.mean) / self.scale
        row_index = np.arange(rows)
        for name, fill, index, offset in zip(
            self.categorical, self.categorical_fill, self.category_index, self.offsets, strict=True
        ):
            codes = np.fromiter(
                (index.get(fill if _missing(v) else v, -1) for v in columns[name]),
                dtype=np.int64,
                count=rows,
            )
            known = codes >= 0
            out[row_index[known], offset + codes[known]] = 1.0
        return out

    def scores(self, columns: dict[str, np.ndarray]) -> np.ndarray:
        """Probabilities ``[n, k]`` (classifiers) or values ``[n]`` (regressors) for the
        model's columns (``shipyard.data.features.model_columns``)."""
        rows = len(next(iter(columns.values())))
        return np.asarray(self.score(self.transform(columns, rows)), dtype=np.float64)


def compile_model(pipeline: Any, schema: Schema) -> CompiledModel | None:
    """The compiled fast path for ``pipeline``, or None if its structure is not recognised."""
    try:
        return _compile(pipeline, schema)
    except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
        logger.info("serving with the scikit-learn pipeline (no fast path): %s", exc)
        return None


def stored_fast_path(model: LoadedModel) -> CompiledModel | None:
    """The compiled model stored (and proven) with the bundle at training, if it has one: its
    file was checked against the manifest when the bundle loaded."""
    if FAST_PATH_FILE not in model.manifest["files"]:
        return None
    return CompiledModel.from_json(
        json.loads((model.directory / FAST_PATH_FILE).read_text()), model.directory
    )


def write_fast_path(
    pipeline: Any, schema: Schema, directory: Path, outlier: OutlierScorer | None
) -> bool:
    """Store the compiled model in ``directory`` if it can be rebuilt from the bundle and, so
    rebuilt, answers the probe rows stored there as the pipeline did (``TOLERANCE``); whether
    the outlier scorer may read its matrix is proven here too (bit-equal scores)."""
    from shipyard.model.bundle import read_probes

    compiled = compile_model(pipeline, schema)
    probes = read_probes(directory, schema.features)
    if compiled is None or compiled.spec is None or probes is None:
        return False
    rows, expected = probes
    stored = CompiledModel.from_json(compiled.to_json(), directory)  # exactly what is served
    columns = canonical_columns(rows, schema)
    if largest_difference(expected, stored.scores(columns))[0] > TOLERANCE:
        return False
    if outlier is not None:
        registered = pipeline.named_steps["preprocess"].transform(canonical_frame(rows, schema))
        stored.same_matrix = bool(
            np.array_equal(
                outlier.scores(stored.transform(columns, len(rows))),
                outlier.scores(np.asarray(registered)),
            )
        )
    (directory / FAST_PATH_FILE).write_text(json.dumps(stored.to_json()))
    return True


def checked_fast_path(
    model: LoadedModel, candidate: CompiledModel | None = None
) -> tuple[CompiledModel | None, str]:
    """The fast path for a loaded bundle (``candidate``, stored with it, else compiled now)
    if it answers the stored probe rows as the pipeline did at training (within
    ``TOLERANCE``), else None; and why, for the log."""
    stored = model.probes()
    if stored is None:  # a bundle from before probes were stored: the pipeline is the reference
        probe = probe_frame(model.schema)
        stored = (probe, model.scores(probe))
    rows, expected = stored
    now, _ = largest_difference(expected, model.scores(rows))
    if now > TOLERANCE:
        logger.warning(
            "the pipeline now answers the stored probe rows differently from when "
            "it was trained (max diff %.2e): are the library versions the same?",
            now,
        )
    compiled = candidate or compile_model(model.pipeline, model.schema)
    if compiled is None:
        return None, "the pipeline's structure has no fast path"
    try:
        diff, row = largest_difference(
            expected, compiled.scores(canonical_columns(rows, model.schema))
        )
    except (ValueError, TypeError, IndexError) as exc:
        return None, f"the fast path failed on the probe rows: {exc}"
    if diff > TOLERANCE:
        return None, (
            f"the fast path differs from the registered answers by {diff:.2e} on probe row {row}"
        )
    return compiled, f"fast path proven on {len(rows)} probe rows (max diff {diff:.1e})"


def _missing(value: Any) -> bool:
    """A missing categorical: NaN, as the canonical encoding has it."""
    return value is None or (isinstance(value, float) and value != value)


def _compile(pipeline: Any, schema: Schema) -> CompiledModel | None:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression, Ridge

    steps = dict(pipeline.named_steps)
    if list(steps) != ["preprocess", "model"]:
        return None
    pre, estimator = steps["preprocess"], steps["model"]
    if not isinstance(pre, ColumnTransformer):
        return None
    parts = _preprocessing(pre)
    if parts is None:
        return None
    numeric, categorical = parts["numeric"], parts["categorical"]
    if set(numeric) | set(categorical) != set(schema.model_columns):
        return None
    spec = _spec(estimator, LogisticRegression, Ridge)
    if spec is not None:
        score = _score_from(spec, booster=getattr(estimator, "get_booster", lambda: None)())
    else:  # a forest: the estimator itself, on the compiled matrix
        score = getattr(estimator, "predict_proba", estimator.predict)
    return CompiledModel(
        numeric,
        parts["fill_num"],
        parts["indicators"],
        parts["mean"],
        parts["scale"],
        categorical,
        parts["fill_cat"],
        parts["index"],
        parts["offsets"],
        parts["width"],
        score,
        spec,
    )


def _preprocessing(pre: Any) -> dict[str, Any] | None:
    """The fitted ColumnTransformer as arrays: the numeric part (median fill, missing
    indicators, scaling) first, then each categorical's one-hot block; None for any other
    shape of preprocessing (the pipeline itself then scores)."""
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    empty = np.zeros(0)
    parts: dict[str, Any] = dict(numeric=[], categorical=[], fill_cat=[], index=[], offsets=[])
    parts.update(width=0, fill_num=empty, mean=empty, scale=empty)
    parts["indicators"] = np.zeros(0, dtype=np.int64)
    for name, part, columns in pre.transformers_:
        if name == "remainder":
            if part != "drop" and len(columns):
                return None
            continue
        imputer, last = part.steps[0][1], part.steps[-1][1]
        if not isinstance(imputer, SimpleImputer) or len(part.steps) != 2:
            return None
        if name == "numeric" and isinstance(last, StandardScaler) and parts["width"] == 0:
            numeric = _numeric(imputer, last, list(columns))
            if numeric is None:
                return None
            parts.update(numeric)
        elif name == "categorical" and isinstance(last, OneHotEncoder):
            if last.drop is not None or last.handle_unknown != "ignore":
                return None
            parts["categorical"] = list(columns)
            parts["fill_cat"] = [str(v) for v in imputer.statistics_]
            for categories in last.categories_:
                parts["offsets"].append(parts["width"])
                parts["index"].append({str(c): i for i, c in enumerate(categories)})
                parts["width"] += len(categories)
        else:
            return None
    return parts


def _numeric(imputer: Any, scaler: Any, numeric: list[str]) -> dict[str, Any] | None:
    """The numeric part's arrays: median fill, the columns given a missing indicator, and
    the scaler's mean and scale over values and indicators."""
    fill_num = np.asarray(imputer.statistics_, dtype=np.float64)
    if imputer.add_indicator and imputer.indicator_.features != "missing-only":
        return None
    indicators = (
        np.asarray(imputer.indicator_.features_, dtype=np.int64)
        if imputer.add_indicator
        else np.zeros(0, dtype=np.int64)
    )
    width = len(numeric) + len(indicators)
    mean = scaler.mean_ if scaler.with_mean else np.zeros(width)
    scale = scaler.scale_ if scaler.with_std else np.ones(width)
    if len(fill_num) != len(numeric) or len(mean) != width:
        return None
    return {
        "numeric": numeric,
        "fill_num": fill_num,
        "indicators": indicators,
        "mean": mean,
        "scale": scale,
        "width": width,
    }


def _spec(estimator: Any, logistic_type: type[Any], ridge_type: type[Any]) -> dict[str, Any] | None:
    """What the compiled scorer computes, as JSON (None: the estimator itself scores)."""
    name = type(estimator).__name__
    if name in ("XGBClassifier", "XGBRegressor"):
        objective = estimator.get_xgb_params().get("objective")
        if objective not in ("binary:logistic", "multi:softprob", "reg:squarederror"):
            raise ValueError(f"XGBoost objective {objective} has no fast path")
        return {"kind": "xgboost", "objective": objective}
    if isinstance(estimator, logistic_type):
        coef, intercept = estimator.coef_, estimator.intercept_
        return {"kind": "logistic", "coef": coef.tolist(), "intercept": intercept.tolist()}
    if isinstance(estimator, ridge_type):
        coef, intercept = np.ravel(estimator.coef_), float(np.ravel(estimator.intercept_)[0])
        return {"kind": "ridge", "coef": coef.tolist(), "intercept": intercept}
    return None


def _score_from(
    spec: dict[str, Any], directory: Path | None = None, booster: Any = None
) -> Callable[[np.ndarray], np.ndarray]:
    """The scorer ``spec`` describes; an XGBoost booster is ``booster`` or the bundle's own."""
    if spec["kind"] == "xgboost":
        import xgboost

        # One thread: for request-sized inputs OpenMP's fork/spin costs more than it saves,
        # and its spinning threads take the core the server and its sidecar need.
        own = (
            booster.copy()
            if booster is not None
            else xgboost.Booster(model_file=str(Path(str(directory)) / "model.ubj"))
        )
        own.set_param({"nthread": 1})
        if spec["objective"] == "binary:logistic":
            return lambda x: _two_columns(own.inplace_predict(x))
        return lambda x: own.inplace_predict(x)
    coef = np.asarray(spec["coef"], dtype=np.float64)
    if spec["kind"] == "logistic":
        intercept = np.asarray(spec["intercept"], dtype=np.float64)
        if coef.shape[0] == 1:
            return lambda x: _two_columns(1.0 / (1.0 + np.exp(-(x @ coef[0] + intercept[0]))))
        return lambda x: _softmax(x @ coef.T + intercept)
    ridge_intercept = float(spec["intercept"])
    return lambda x: x @ coef + ridge_intercept


def _two_columns(positive: np.ndarray) -> np.ndarray:
    positive = np.asarray(positive, dtype=np.float64)
    return np.column_stack([1.0 - positive, positive])


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def probe_frame(schema: Schema) -> pd.DataFrame:
    """Rows that exercise every category, an unseen one, bounds, midpoints and missing values."""
    rows = max(
        8, max((len(schema.column(n).categories or []) for n in schema.categorical), default=0) + 2
    )
    data: dict[str, list] = {}
    for name in schema.features:
        column = schema.column(name)
        if name in schema.categorical:
            unseen = [] if column.dtype == BOOL_DTYPE else ["__unseen__"]
            values = list(column.categories or []) + unseen + [np.nan]
        elif name in schema.datetimes:
            low = column.min if column.min is not None else 0.0
            high = column.max if column.max is not None else 86400.0
            values = [iso_text(s) for s in np.linspace(low, high, rows - 1)] + [np.nan]
        else:
            low = column.min if column.min is not None else -1.0
            high = column.max if column.max is not None else 1.0
            values = list(np.linspace(low, high, rows - 1)) + [np.nan]
        data[name] = [values[i % len(values)] for i in range(rows)]
    frame = pd.DataFrame(data)
    for name in schema.numeric:
        frame[name] = frame[name].astype(np.float64)
    return frame
