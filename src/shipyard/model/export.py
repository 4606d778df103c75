"""A registered model in the layout KServe's stock runtime loads, for users who ask for it.

For ``modelFormat: sklearn`` with ``protocolVersion: v2`` KServe runs MLServer's sklearn
runtime: it ``joblib.load``s ``model.joblib`` (a pickle: loading it runs code, so the bucket
must be trusted — Shipyard's own predictor loads formats that do not) and reads
``model-settings.json``. The settings declare every input with its content type, so MLServer
accepts the same v2 requests Shipyard's predictor does, and the registry version, which its
metrics carry as ``version``. The fitted pipeline is wrapped in scikit-learn's
``FixedThresholdClassifier`` so that ``predict`` uses the tuned decision threshold.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from shipyard.data.schema import BOOL_DTYPE
from shipyard.errors import ConfigError
from shipyard.model.bundle import LoadedModel
from shipyard.serving.v2_inputs import input_specs

MLSERVER_SKLEARN = "mlserver_sklearn.SKLearnModel"


def check_exportable(model: LoadedModel) -> None:
    """The stock runtime runs the bare pipeline: it answers class indices, not the user's
    labels, and does not map bools spelled as BOOL to the categories trained on. Refuse what
    it would answer differently from the registered model."""
    classes = model.classes
    if classes is not None and classes != list(range(len(classes))):
        raise ConfigError(
            f"KServe's stock runtime would answer class indices, not this "
            f"model's labels ({', '.join(map(str, classes[:5]))})",
            hint="serve it with Shipyard's predictor (model_format=shipyard)",
        )
    if model.schema.datetimes:
        raise ConfigError(
            f"KServe's stock runtime cannot derive the date parts of "
            f"{', '.join(model.schema.datetimes)} as the model was trained on them",
            hint="serve it with Shipyard's predictor (model_format=shipyard)",
        )
    bools = [
        c.name for c in model.schema.columns if c.dtype == BOOL_DTYPE and c.name in model.features
    ]
    if bools:
        raise ConfigError(
            f"KServe's stock runtime cannot take bool feature(s) "
            f"{', '.join(bools)} as the model was trained on them",
            hint="serve it with Shipyard's predictor (model_format=shipyard)",
        )


def thresholded(model: LoadedModel) -> Any:
    """The pipeline as one estimator whose ``predict`` applies the bundle's threshold."""
    from sklearn.frozen import FrozenEstimator
    from sklearn.model_selection import FixedThresholdClassifier

    classes = np.array(model.classes or [])
    if len(classes) != 2 or model.threshold is None:
        return model.pipeline  # argmax, as the bundle predicts
    wrapped = FixedThresholdClassifier(
        FrozenEstimator(model.pipeline), threshold=model.threshold, response_method="predict_proba"
    )
    return wrapped.fit(np.zeros((2, 1)), classes)  # frozen: fit only records the classes


def write_mlserver_sklearn(model: LoadedModel, dest: str | Path, name: str, version: str) -> Path:
    """Write ``model.joblib`` and ``model-settings.json`` into ``dest``; return it."""
    import joblib

    check_exportable(model)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    joblib.dump(thresholded(model), dest / "model.joblib")
    inputs = []
    for spec in input_specs(model.schema):
        entry = spec.as_metadata()
        if spec.datatype == "BYTES":
            entry["parameters"] = {"content_type": "str"}
        inputs.append(entry)
    settings = {
        "name": name,
        "implementation": MLSERVER_SKLEARN,
        "inputs": inputs,
        "parameters": {"uri": "./model.joblib", "version": str(version), "content_type": "pd"},
    }
    (dest / "model-settings.json").write_text(json.dumps(settings, indent=2))
    return dest


# KServe 0.20's kserve-mlserver runtime ships MLServer 1.7; uvloop<0.22: MLServer#2286.
MLSERVER_PACKAGES = (
    "mlserver==1.7.1",
    "mlserver-sklearn==1.7.1",
    "uvloop<0.22",
    "xgboost==3.2.0",
    "scikit-learn==1.9.1",
    "pandas==2.3.3",
    "numpy==1.26.4",
)


def mlserver_python(venv: str | Path) -> Path:
    """A separate virtualenv with MLServer and its sklearn runtime (created with uv on first
    use; MLServer's pins do not live beside KServe's SDK): to try an export locally, and for
    the tests and benchmarks that compare with the stock runtime."""
    import importlib.util
    import shutil
    import subprocess
    import sys

    venv = Path(venv)
    python = venv / "bin" / "python"
    if not (venv / "ready").is_file():
        uv = [sys.executable, "-m", "uv"]  # a dev dependency; else the uv on PATH
        if importlib.util.find_spec("uv") is None and shutil.which("uv"):
            uv = ["uv"]
        subprocess.run(
            [*uv, "venv", "--python", "3.11", str(venv)], check=True, capture_output=True
        )
        subprocess.run(
            [*uv, "pip", "install", "--python", str(python), *MLSERVER_PACKAGES],
            check=True,
            capture_output=True,
        )
        (venv / "ready").write_text("")
    return python
