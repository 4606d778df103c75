"""The predictor's contribution outputs: ``contributions`` and ``contributions_base``.

The v2 protocol has no explain route, only the request's ``outputs`` list, so contributions
are two more outputs a client names there (never computed otherwise: they cost about 40 times
a prediction on 256 rows; ``shipyard_predictor_contribution_rows_total`` counts the rows
explained). Both are FP32: ``contributions`` ``[rows, features]`` (binary, regression) or
``[rows, classes, features]`` (multiclass), one value per input in the metadata's order;
``contributions_base`` ``[rows]`` or ``[rows, classes]``. Their ``parameters`` name the space
the values add up in (``logit``, ``softmax_margin``, ``probability``, ``label``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from prometheus_client import Counter

from shipyard.model.bundle import LoadedModel
from shipyard.model.contributions import Explainer
from shipyard.model.task import BINARY, MULTICLASS
from shipyard.serving.metrics import LABELS

CONTRIBUTIONS, BASE = "contributions", "contributions_base"
NAMES = (CONTRIBUTIONS, BASE)
ROWS = Counter(
    "shipyard_predictor_contribution_rows",
    "Rows whose contributions were computed (only when a request asks for them)",
    LABELS,
)


def parameters(explainer: Explainer, model: LoadedModel) -> dict[str, str]:
    """Scalar parameters (gRPC carries no lists): the space, and which class a binary model's
    values explain (multiclass: the class axis is ``predict_proba``'s order)."""
    params = {"space": explainer.space}
    if model.task == BINARY and model.classes:
        params["class"] = str(model.classes[-1])
    return params


def output_types(explainer: Explainer, model: LoadedModel) -> list[dict[str, Any]]:
    """The two outputs as the model metadata lists them."""
    features = len(model.features)
    if model.task == MULTICLASS:
        classes = len(model.classes or [])
        shapes = ([-1, classes, features], [-1, classes])
    else:
        shapes = ([-1, features], [-1])
    params: dict[str, Any] = {**parameters(explainer, model), "features": model.features}
    return [
        {"name": CONTRIBUTIONS, "datatype": "FP32", "shape": shapes[0], "parameters": params},
        {"name": BASE, "datatype": "FP32", "shape": shapes[1], "parameters": params},
    ]


def outputs(
    explainer: Explainer,
    columns: dict[str, np.ndarray],
    scores: np.ndarray,
    labels: dict[str, str],
) -> dict[str, tuple[str, np.ndarray]]:
    """Both outputs for decoded inputs, checked to add up to the ``scores`` served for them,
    counted in ``ROWS`` (under ``labels``; a caller that is not a server passes none)."""
    result = explainer.contributions(columns, scores)
    if labels:
        ROWS.labels(**labels).inc(len(result.values))
    return {
        CONTRIBUTIONS: ("FP32", result.values.astype(np.float32)),
        BASE: ("FP32", result.base.astype(np.float32)),
    }
