"""The MLflow pyfunc face of a Shipyard bundle, logged as *model from code*.

MLflow stores this file's source, not a pickled object, so loading the registered model with
``mlflow.pyfunc.load_model`` runs only this code and the bundle's no-code formats.
"""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd
from mlflow.pyfunc.model import PythonModel, PythonModelContext


class ShipyardPyfunc(PythonModel):
    """``predict`` returns the label (or value) per row and, for classifiers, the probability
    of the last class (binary: the positive one) — from the same bundle code the predictor
    loads, features in the same canonical encoding."""

    def load_context(self, context: PythonModelContext) -> None:
        from shipyard.model.bundle import load_bundle

        self.model = load_bundle(context.artifacts["bundle"])

    # A DataFrame in and out: MLflow checks the hint (and asks for one when there is none);
    # the logged signature stays the one inferred from the example, the bundle checks columns.
    def predict(
        self,
        context: PythonModelContext | None,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        """Label (or value) per row and the last class's probability."""
        scores = self.model.scores(model_input)
        out = pd.DataFrame({"predict": self.model.labels(scores)})
        if scores.ndim == 2:
            out["predict_proba"] = scores[:, -1]
        return out


mlflow.models.set_model(ShipyardPyfunc())
