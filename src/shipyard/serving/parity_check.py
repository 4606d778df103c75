"""Served equals registered, measured: rows sent through the predictor's own decoding and
scoring compared with what the registered pipeline answers for the same rows.

The register step runs this on the holdout and the edge rows (``shipyard.model.parity``), with bool
columns spelled both as BOOL and as BYTES; a version whose served answers differ is not
registered.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
from kserve.protocol.infer_type import InferRequest

from shipyard.errors import ShipyardError
from shipyard.model.bundle import LoadedModel
from shipyard.model.parity import largest_difference
from shipyard.model.task import REGRESSION
from shipyard.serving.fast_path import TOLERANCE
from shipyard.serving.predictor import Scorer
from shipyard.serving.v2_inputs import request_body, to_columns


class ParityError(ShipyardError):
    """Served answers differ from the registered model's."""

    status = 500


@dataclass
class ParityReport:
    rows: int
    max_difference: float
    label_mismatches: int
    path: str  # "fast path" or "pipeline"

    def tags(self) -> dict[str, str]:
        return {
            "shipyard.parity_rows": str(self.rows),
            "shipyard.parity_max_diff": f"{self.max_difference:.3e}",
            "shipyard.parity_label_mismatches": str(self.label_mismatches),
            "shipyard.parity_path": self.path,
        }


def check_served_parity(model: LoadedModel, frame: pd.DataFrame) -> ParityReport:
    """Score ``frame`` as the predictor would (v2 JSON → decode → scorer) and as the
    registered pipeline does; raise :class:`ParityError` naming the row on any difference."""
    scorer = Scorer(model, prove=False)  # the fast path as a server loads it; this is its proof
    expected_scores, expected_labels = model.scores(frame), model.predict(frame)
    worst, mismatches = 0.0, 0
    for spelling in ("BOOL", "BYTES"):
        body = json.dumps(request_body(frame, model.schema, "parity", spelling)).encode()
        request = InferRequest.from_bytes(body, len(body), "parity")
        outputs = scorer.outputs(to_columns(request, model.schema))
        scores, labels = outputs.get("predict_proba", outputs["predict"])[1], outputs["predict"][1]
        diff, row = largest_difference(expected_scores, scores)
        tolerance = TOLERANCE * (
            max(1.0, float(np.abs(expected_scores[row]).max()))
            if model.task == REGRESSION and diff < np.inf
            else 1.0
        )
        wrong = np.flatnonzero(_labels_differ(expected_labels, labels))
        if diff > tolerance or wrong.size:
            at = int(wrong[0]) if wrong.size else row
            raise ParityError(
                f"served answers differ from the registered model's (bools as {spelling}): "
                f"row '{frame.index[at]}' differs by {diff:.3g} "
                f"(labels {expected_labels[at]!r} vs {labels[at]!r})",
                hint="a feature is encoded differently when served; see shipyard.data.features",
            )
        worst, mismatches = max(worst, diff), mismatches + int(wrong.size)
    return ParityReport(
        len(frame), worst, mismatches, "fast path" if scorer.fast is not None else "pipeline"
    )


def _labels_differ(expected: np.ndarray, got: np.ndarray) -> np.ndarray:
    if expected.dtype.kind == "f":
        return ~np.isclose(expected, got, rtol=TOLERANCE, atol=TOLERANCE)
    return np.asarray(expected) != np.asarray(got)
