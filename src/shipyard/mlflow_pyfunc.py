"""The MLflow pyfunc face of a Shipyard bundle, logged as *model from code*.

MLflow stores this file's source, not a pickled object, so loading the registered model with
``mlflow.pyfunc.load_model`` runs only this code and the bundle's no-code formats.
"""

from __future__ import annotations

import mlflow
from mlflow.pyfunc import PythonModel


class ShipyardPyfunc(PythonModel):
    """``predict`` returns the positive-class probability and the label per row."""

    def load_context(self, context) -> None:
        from shipyard.model_bundle import load_bundle

        self.model = load_bundle(context.artifacts["bundle"])

    def predict(self, context, model_input, params=None):  # noqa: D102 (mlflow API)
        import pandas as pd

        proba = self.model.predict_proba(model_input)
        return pd.DataFrame({"predict": self.model.predict(model_input),
                             "predict_proba": proba[:, -1]})


mlflow.models.set_model(ShipyardPyfunc())
