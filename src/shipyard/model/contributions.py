"""Exact per-feature contributions for every model family Shipyard trains, in the model's own
margin space, folded back to the features a client sends.

- XGBoost: its own TreeSHAP (``pred_contribs=True``), in log-odds / softmax margin / label units;
- random forest, HistGradientBoosting: the same trees as an XGBoost booster
  (``shipyard.model.tree_booster``), so the same exact TreeSHAP; a forest's classifier in
  probability, HistGradientBoosting in its raw margin;
- linear: ``coef * (x - mean)`` on the preprocessed columns, with the training mean stored in
  the bundle at training (:func:`reference_extra`); exact, and what shap's LinearExplainer
  gives with the training data as background.

The preprocessor widens a feature into several columns (one-hot categories, a numeric
feature's missing indicator, a date's parts); their contributions are summed back to that
feature, which keeps additivity: ``margin = base + contributions.sum(-1)``. Only computed when
a client asks (they cost about 40 times a prediction on 256 rows).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from shipyard.data.features import model_columns
from shipyard.data.schema import Schema
from shipyard.errors import ShipyardError
from shipyard.model.bundle import LoadedModel
from shipyard.model.task import BINARY, MULTICLASS, REGRESSION

REFERENCE_KEY = "contribution_reference"  # the manifest's training means for linear models
INDICATOR = "missingindicator_"  # scikit-learn's name for a missing-indicator column


TOLERANCE = 1e-4  # |base + sum - margin|, relative to the margin's size (at least 1)


class Unavailable(Exception):
    """This model cannot give exact contributions; the message says why."""


class NotAdditive(ShipyardError):
    """Contributions that did not add up to the registered model's margin (never served)."""


@dataclass
class Contributions:
    """``values``: [rows, features] or [rows, classes, features]; ``base``: [rows] or
    [rows, classes]; ``space``: what the margin is (``logit``, ``softmax_margin``,
    ``probability`` or ``label``)."""

    values: np.ndarray
    base: np.ndarray
    space: str

    def frame(self, features: list[str], classes: list[Any] | None) -> pd.DataFrame:
        """As table columns (batch scoring): ``contribution_<feature>`` and
        ``contribution_base``; multiclass ``contribution_<class>_<feature>`` and
        ``contribution_base_<class>``."""
        out: dict[str, np.ndarray] = {}
        if self.values.ndim == 2:
            for j, name in enumerate(features):
                out[f"contribution_{name}"] = self.values[:, j]
            out["contribution_base"] = self.base
        else:
            for k, label in enumerate(classes or []):
                for j, name in enumerate(features):
                    out[f"contribution_{label}_{name}"] = self.values[:, k, j]
                out[f"contribution_base_{label}"] = self.base[:, k]
        return pd.DataFrame(out)


def space_of(model: LoadedModel) -> str:
    if model.task == REGRESSION:
        return "label"
    if model.manifest.get("model_type") == "random_forest":
        return "probability"
    return "logit" if model.task == BINARY else "softmax_margin"


def source_columns(preprocess: Any, schema: Schema) -> list[str]:
    """For each column the fitted ColumnTransformer outputs, the feature it came from."""
    parent = {name: name for name in schema.features}
    for name in schema.datetimes:
        for part in schema.column(name).parts or []:
            parent[f"{name}__{part}"] = name
    sources: list[str] = []
    for label, transformer, columns in preprocess.transformers_:
        if transformer == "drop" or label == "remainder" and transformer == "passthrough":
            continue
        steps = dict(getattr(transformer, "named_steps", {}))
        if "onehot" in steps:
            categories = steps["onehot"].categories_
            if len(categories) != len(columns):
                raise Unavailable("the one-hot encoder does not match its columns")
            for column, levels in zip(columns, categories, strict=True):
                sources += [parent[column]] * len(levels)
        elif "impute" in steps:
            names = steps["impute"].get_feature_names_out(list(columns))
            sources += [parent[n.removeprefix(INDICATOR)] for n in names]
        else:
            raise Unavailable(f"unknown preprocessing part {label!r}")
    return sources


def reference_extra(pipeline: Any, x_train: pd.DataFrame) -> dict[str, Any]:
    """What a linear model's bundle keeps for its contributions: the preprocessed training
    columns' means (nothing for other families)."""
    estimator = pipeline.named_steps["model"]
    if not hasattr(estimator, "coef_"):
        return {}
    transformed = np.asarray(pipeline.named_steps["preprocess"].transform(x_train), float)
    return {REFERENCE_KEY: {"transformed_mean": transformed.mean(axis=0).tolist()}}


class Explainer:
    """Contributions for one loaded model; the trees are converted once, on first use.

    ``fast``: the predictor's compiled preprocessing (``serving.fast_path``), proven equal to
    the registered one at load, used in its place (a 1-row scikit-learn transform costs
    several milliseconds). Everything runs on one thread: on a shared machine OpenMP's
    threads made a 1-row XGBoost call take 30 ms instead of 0.1."""

    def __init__(self, model: LoadedModel, fast: Any = None) -> None:
        self.model = model
        self.fast = fast
        self.preprocess = model.pipeline.named_steps["preprocess"]
        self.estimator = model.pipeline.named_steps["model"]
        self.space = space_of(model)
        sources = source_columns(self.preprocess, model.schema)
        features = model.features
        self.fold = np.zeros((len(sources), len(features)))
        self.fold[np.arange(len(sources)), [features.index(s) for s in sources]] = 1.0
        self.outputs = len(model.classes or []) if model.task == MULTICLASS else 1
        self.kind = self._kind()
        self._own: Any = None
        if self.kind == "xgboost":
            self._own = self.estimator.get_booster().copy()
            self._own.set_param({"nthread": 1})
        self._boosters: list[Any] | None = None
        self._lock = threading.Lock()

    def _kind(self) -> str:
        name = type(self.estimator).__name__
        if name.startswith("XGB"):
            return "xgboost"
        if name.startswith("RandomForest"):
            return "forest"
        if name.startswith("HistGradientBoosting"):
            return "hgb"
        if hasattr(self.estimator, "coef_"):
            if REFERENCE_KEY not in self.model.manifest:
                raise Unavailable(
                    "this linear model version was saved without its training means; "
                    "train it again to get contributions"
                )
            return "linear"
        raise Unavailable(f"no exact contributions for a {name}")

    def transform(self, columns: dict[str, np.ndarray]) -> np.ndarray:
        """Canonical inputs (feature -> values) as the estimator's input matrix."""
        schema = self.model.schema
        if self.fast is not None:
            wide = model_columns(columns, schema)
            return np.asarray(self.fast.transform(wide, len(next(iter(wide.values())))))
        frame = pd.DataFrame(model_columns(columns, schema), columns=schema.model_columns)
        return np.asarray(self.preprocess.transform(frame), dtype=np.float64)

    def contributions(
        self, columns: dict[str, np.ndarray], scores: np.ndarray | None = None
    ) -> Contributions:
        """Contributions checked against what the model answers for the same rows: the
        ``scores`` served (probabilities or values), else the registered estimator's own
        margin. A row whose sum misses by more than ``TOLERANCE`` is an error, never an
        answer (a float32 rounding case of converted trees could)."""
        x = self.transform(columns)
        if self.kind == "linear":
            raw, base = self._linear(x)
        elif self.kind == "xgboost":
            raw, base = self._xgboost(x)
        else:
            raw, base = self._converted(x)
        total = base + raw.sum(-1)
        if scores is None:
            expected, got = self._margin(x), total
        else:
            expected, got = self._served(scores), self._answer(total)
        gap = np.abs(got - expected) / np.maximum(1.0, np.abs(expected))
        if gap.size and float(gap.max()) > TOLERANCE:
            where = self.space if scores is None else "served answer"
            raise NotAdditive(f"contributions missed the model's {where} by {gap.max():.2g}")
        return Contributions(raw @ self.fold, base, self.space)

    def _served(self, scores: np.ndarray) -> np.ndarray:
        """The served scores as :meth:`_answer` gives them: the explained class's probability
        (binary), every class's (multiclass), or the values (regression)."""
        scores = np.asarray(scores, dtype=np.float64)
        return scores[:, 1] if self.model.task == BINARY else scores

    def _answer(self, total: np.ndarray) -> np.ndarray:
        """Margins (base + sum) as the answer the model serves."""
        if self.space == "logit":
            return np.asarray(1.0 / (1.0 + np.exp(-total)))
        if self.space == "softmax_margin":
            shifted = np.exp(total - total.max(axis=-1, keepdims=True))
            return np.asarray(shifted / shifted.sum(axis=-1, keepdims=True))
        return total

    def margin(self, columns: dict[str, np.ndarray]) -> np.ndarray:
        """What the registered estimator computes in this space: [rows] or [rows, classes]."""
        return self._margin(self.transform(columns))

    def _margin(self, x: np.ndarray) -> np.ndarray:
        est = self.estimator
        if self.kind == "xgboost":
            import xgboost as xgb

            out = self._own.predict(xgb.DMatrix(x, nthread=1), output_margin=True)
        elif self.kind == "hgb":
            out = est._raw_predict(x, n_threads=1)
        elif self.model.task == REGRESSION:
            out = est.predict(x)
        elif self.kind == "forest":
            out = est.predict_proba(x)
            out = out[:, 1] if self.model.task == BINARY else out
        else:
            out = est.decision_function(x)
        out = np.asarray(out, dtype=np.float64)
        return out.reshape(len(x), -1)[:, 0] if self.outputs == 1 else out

    def _linear(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = np.asarray(self.model.manifest[REFERENCE_KEY]["transformed_mean"], float)
        coef = np.atleast_2d(np.asarray(self.estimator.coef_, dtype=np.float64))
        intercept = np.atleast_1d(np.asarray(self.estimator.intercept_, dtype=np.float64))
        raw = (x - mean)[:, None, :] * coef[None, :, :]  # [rows, outputs, columns]
        base = np.broadcast_to(intercept + coef @ mean, (len(x), len(intercept)))
        if self.outputs == 1:
            return raw[:, 0, :], np.array(base[:, 0])
        return raw, np.array(base)

    def _xgboost(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import xgboost as xgb

        out = self._own.predict(xgb.DMatrix(x, nthread=1), pred_contribs=True)
        out = np.asarray(out, dtype=np.float64)
        return out[..., :-1], out[..., -1]

    def _converted(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import xgboost as xgb

        data = xgb.DMatrix(x, nthread=1)
        parts = [np.asarray(b.predict(data, pred_contribs=True), float) for b in self.boosters()]
        raw = np.stack([p[:, :-1] for p in parts], axis=1)
        base = np.stack([p[:, -1] for p in parts], axis=1) + self._offset()
        if self.outputs == 1:
            return raw[:, 0, :], base[:, 0]
        return raw, base

    def _offset(self) -> np.ndarray:
        if self.kind == "hgb":
            return np.asarray(self.estimator._baseline_prediction, float).reshape(-1)
        return np.zeros(self.outputs)

    def boosters(self) -> list[Any]:
        """One XGBoost booster per explained output, built once (thread-safe)."""
        with self._lock:
            if self._boosters is None:
                self._boosters = self._build()
            return self._boosters

    def _build(self) -> list[Any]:
        from shipyard.model import tree_booster

        width = self.fold.shape[0]
        if self.kind == "hgb":
            outputs = range(self.outputs)
            trees = [tree_booster.hist_gradient_boosting_trees(self.estimator, k) for k in outputs]
        elif self.model.task == REGRESSION:
            trees = [tree_booster.forest_trees(self.estimator, None)]
        elif self.model.task == BINARY:
            trees = [tree_booster.forest_trees(self.estimator, 1)]
        else:
            trees = [tree_booster.forest_trees(self.estimator, k) for k in range(self.outputs)]
        return [tree_booster.booster(t, width) for t in trees]


def explainer_for(model: LoadedModel, fast: Any = None) -> tuple[Explainer | None, str]:
    """The model's explainer, or None and the reason it has none."""
    try:
        return Explainer(model, fast), "exact"
    except Unavailable as exc:
        return None, str(exc)
    except Exception as exc:  # an unexpected preprocessor: no contributions, never no model
        return None, f"contributions unavailable: {type(exc).__name__}: {exc}"
