"""The predictor's row-unusualness: ``outlier_score`` and ``is_outlier`` outputs, and a metric.

Every model trained by Shipyard carries an isolation forest fitted on its preprocessed
training matrix (``shipyard.model.outlier``). A request that names ``outlier_score`` or
``is_outlier`` in its ``outputs`` gets them for every row (FP64 ``[rows]``, BOOL ``[rows]``);
every request, named or not, has the scores of its first ``outlier_metric_rows`` rows observed
in ``shipyard_predictor_outlier_score`` and those above the training cutoff counted in
``shipyard_predictor_outlier_rows_total``, so the share of unusual traffic is watched without
a client asking (bounded, so a 10,000-row request costs what a 32-row one does).

The matrix comes from the same preprocessing the answers come from: the proven fast path's
transform when it reproduces the registered pipeline's scores on the stored probe rows, else
the registered pipeline's own preprocessing.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from prometheus_client import Counter, Histogram

from shipyard.data.features import canonical_inputs, model_columns
from shipyard.model.bundle import LoadedModel
from shipyard.model.outlier import OutlierScorer
from shipyard.serving.fast_path import CompiledModel
from shipyard.serving.metrics import LABELS

SCORE, FLAG = "outlier_score", "is_outlier"
NAMES = (SCORE, FLAG)
SCORES = Histogram(
    "shipyard_predictor_outlier_score",
    "Isolation-forest anomaly score of served rows (about 0.5 ordinary, towards 1 unusual)",
    LABELS,
    buckets=(0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.9, 1.0),
)
FLAGGED = Counter(
    "shipyard_predictor_outlier_rows",
    "Served rows scored above the model's training cutoff (1 % of training rows are)",
    LABELS,
)
logger = logging.getLogger(__name__)


class Outliers:
    """The scorer saved with ``model`` and the matrix it reads, or nothing for an old bundle."""

    def __init__(
        self, model: LoadedModel, fast: CompiledModel | None, proven: bool = False
    ) -> None:
        """``proven``: ``fast`` is the bundle's stored fast path, whose matrix was compared
        with the registered preprocessing's when it was stored (``fast.same_matrix``)."""
        self.model = model
        self.scorer: OutlierScorer | None = model.outlier_scorer()
        same = (fast is not None and fast.same_matrix) if proven else _same_matrix(model, fast)
        self.fast = fast if self.scorer is not None and same else None

    @property
    def available(self) -> bool:
        return self.scorer is not None

    def scores(self, columns: dict[str, np.ndarray], rows: int | None = None) -> np.ndarray:
        """Scores of the first ``rows`` rows (all by default) of decoded ``columns``."""
        assert self.scorer is not None
        if rows is not None:
            columns = {name: values[:rows] for name, values in columns.items()}
        return self.scorer.scores(_matrix(self.model, self.fast, columns))

    def outputs(self, columns: dict[str, np.ndarray]) -> dict[str, tuple[str, np.ndarray]]:
        """Both outputs for every row of a request."""
        assert self.scorer is not None
        scores = self.scores(columns)
        return {SCORE: ("FP64", scores), FLAG: ("BOOL", self.scorer.flags(scores))}

    def observe(
        self,
        columns: dict[str, np.ndarray],
        labels: dict[str, str],
        limit: int,
        scores: np.ndarray | None = None,
    ) -> None:
        """Put the first ``limit`` rows' scores in the metrics (``scores``: already computed
        for the request's outputs, so not scored twice)."""
        if self.scorer is None or limit <= 0:
            return
        scores = self.scores(columns, limit) if scores is None else scores[:limit]
        histogram = SCORES.labels(**labels)
        for value in scores.tolist():
            histogram.observe(value)
        FLAGGED.labels(**labels).inc(int(self.scorer.flags(scores).sum()))

    def output_types(self) -> list[dict[str, Any]]:
        if self.scorer is None:
            return []
        params = {"cutoff": self.scorer.cutoff, "percentile": self.scorer.percentile}
        return [
            {"name": SCORE, "datatype": "FP64", "shape": [-1], "parameters": params},
            {"name": FLAG, "datatype": "BOOL", "shape": [-1], "parameters": params},
        ]


def _matrix(
    model: LoadedModel, fast: CompiledModel | None, columns: dict[str, np.ndarray]
) -> np.ndarray:
    rows = len(next(iter(columns.values()))) if columns else 0
    if fast is not None:
        return fast.transform(model_columns(columns, model.schema), rows)
    return model.preprocessed(pd.DataFrame(columns, columns=model.features))


def _same_matrix(model: LoadedModel, fast: CompiledModel | None) -> bool:
    """Whether the fast path's matrix gives the registered scorer's scores on the probes."""
    probes = model.probes()
    scorer = model.outlier_scorer()
    if fast is None or probes is None or scorer is None:
        return False
    frame, _ = probes
    served = scorer.scores(_matrix(model, fast, canonical_inputs(frame, model.schema)))
    registered = model.outlier_scores(frame, scorer)
    same = bool(np.array_equal(served, registered))
    if not same:
        logger.info("outlier scores come from the registered preprocessing (fast path differs)")
    return same
