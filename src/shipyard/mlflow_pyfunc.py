"""The MLflow pyfunc face of a Shipyard bundle, logged as *model from code*.

MLflow stores this file's source, not a pickled object, so loading the registered model with
``mlflow.pyfunc.load_model`` runs only this code and the bundle's no-code formats.
"""

from __future__ import annotations

import mlflow
from mlflow.pyfunc import PythonModel


class ShipyardPyfunc(PythonModel):
    """``predict`` returns the label (or value) per row and, for classifiers, the probability
    of the last class (binary: the positive one) — from the same bundle code the predictor
    loads, features in the same canonical encoding."""

    def load_context(self, context) -> None:
        from shipyard.model_bundle import load_bundle

        self.model = load_bundle(context.artifacts["bundle"])

    def predict(self, context, model_input, params=None):  # noqa: D102 (mlflow API)
        import pandas as pd

        scores = self.model.scores(model_input)
        out = pd.DataFrame({"predict": self.model.labels(scores)})
        if scores.ndim == 2:
            out["predict_proba"] = scores[:, -1]
        return out


mlflow.models.set_model(ShipyardPyfunc())
