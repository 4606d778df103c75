"""One small table and small models of every family and task for the model, contribution and
serving tests: numbers with nulls, a category with nulls, a bool and a date, so every kind of
wide column is there to fold."""

import numpy as np
import pandas as pd
from kserve.protocol.infer_type import InferInput, InferRequest, RequestedOutput

from shipyard.data.features import canonical_frame
from shipyard.data.schema import Schema, infer_schema
from shipyard.model.bundle import LoadedModel, load_bundle, save_bundle
from shipyard.model.contributions import reference_extra
from shipyard.model.families import family, make_pipeline
from shipyard.model.task import encode_labels, with_task
from shipyard.serving.predictor import ShipyardPredictor

FAMILIES = ["xgboost", "random_forest", "hist_gradient_boosting", "linear"]
SMALL = {
    "xgboost": {"n_estimators": 20},
    "random_forest": {"n_estimators": 10},
    "hist_gradient_boosting": {"max_iter": 20},
    "linear": {},
}


def table(task: str, rows: int = 400) -> tuple[Schema, pd.DataFrame, np.ndarray]:
    """Numbers with nulls, a category with nulls, a bool and a date, the label for ``task``."""
    rng = np.random.default_rng(11)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=rows),
            "b": rng.integers(0, 9, rows).astype(float),
            "flag": rng.random(rows) < 0.3,
            "cat": rng.choice(["x", "y", "z", None], rows),
            "when": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 400, rows), unit="D"),
        }
    )
    frame["when"] = frame["when"].dt.strftime("%Y-%m-%d")
    if task == "regression":
        frame["y"] = 100 * frame["a"].fillna(0) + frame["b"] + 20 * (frame["cat"] == "x")
    elif task == "multiclass":
        frame["y"] = np.where(frame["flag"], "high", np.where(frame["a"] > 0, "mid", "low"))
    else:
        frame["y"] = np.where(frame["a"] + (frame["cat"] == "y") > 0.8, "yes", "no")
    frame.loc[frame.index[:30], "a"] = np.nan
    schema, _ = with_task(infer_schema(frame, "y"), frame["y"], task)
    y = (
        frame["y"].to_numpy(float)
        if task == "regression"
        else encode_labels(frame["y"], schema.classes or [])
    )
    return schema, frame, y


def trained(task_data, name, folder) -> LoadedModel:
    """``task_data`` = (task, schema, frame, y); the bundle saved in ``folder``, loaded."""
    task, schema, frame, y = task_data
    pipeline = make_pipeline(schema, name, SMALL[name], task=task)
    x = canonical_frame(frame, schema)
    pipeline.fit(x, y)
    extra = reference_extra(pipeline, x)
    save_bundle(pipeline, folder, schema, name, family(name).flavor, None, extra=extra)
    return load_bundle(folder)


def predictor_for(folder, name="m") -> ShipyardPredictor:
    """The in-process predictor on the bundle in ``folder``, loaded."""
    model = ShipyardPredictor(name, str(folder))
    assert model.load()
    return model


def inputs_for(frame: pd.DataFrame, schema) -> list[InferInput]:
    """``frame``'s features as v2 inputs of the datatype each column is served as."""
    inputs = []
    for spec in schema.features:
        column = schema.column(spec)
        values = frame[spec].tolist()
        if column.kind == "numeric":
            inputs.append(InferInput(spec, [len(values)], "FP64", values))
        elif column.dtype == "bool":
            inputs.append(InferInput(spec, [len(values)], "BOOL", values))
        else:
            inputs.append(InferInput(spec, [len(values)], "BYTES", values))
    return inputs


def ask(predictor, frame, schema, *names):
    """``predictor``'s answer for ``frame``, asking for ``names`` (all when none)."""
    outputs = [RequestedOutput(n) for n in names] or None
    request = InferRequest(predictor.name, inputs_for(frame, schema), request_outputs=outputs)
    return predictor.predict(request)
