"""The MLflow pyfunc face of a Shipyard bundle, logged as *model from code*.

MLflow stores this file's source, not a pickled object, so loading the registered model with
``mlflow.pyfunc.load_model`` runs only this code and the bundle's no-code formats.
"""

from __future__ import annotations

import mlflow
from mlflow.pyfunc.model import PythonModel, PythonModelContext


class ShipyardPyfunc(PythonModel):
    """``predict`` returns the label (or value) per row and, for classifiers, the probability
    of the last class (binary: the positive one) — from the same bundle code the predictor
    loads, features in the same canonical encoding."""

    def load_context(self, context: PythonModelContext) -> None:
        from shipyard.model.bundle import load_bundle

        self.model = load_bundle(context.artifacts["bundle"])

    # No annotations: MLflow reads predict's type hints (signature inference, input checks).
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]  # noqa: D102
        import pandas as pd

        scores = self.model.scores(model_input)
        out = pd.DataFrame({"predict": self.model.labels(scores)})
        if scores.ndim == 2:
            out["predict_proba"] = scores[:, -1]
        return out


mlflow.models.set_model(ShipyardPyfunc())
