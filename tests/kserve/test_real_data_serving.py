"""A model trained on a messy table with text labels and a bool column, served by the real
predictor: a client builds its request from ``GET /v2/models/{name}`` alone, and every answer
equals the registered model's, whichever way the bools are spelled."""

import numpy as np
import pytest

from shipyard.data.features import canonical_frame
from shipyard.data.schema import infer_schema
from shipyard.local.servers import start_predictor
from shipyard.model.bundle import load_bundle, save_bundle
from shipyard.model.families import make_pipeline
from shipyard.model.parity import probe_rows
from shipyard.model.task import encode_labels, with_task
from support import get_json, infer, messy_table


@pytest.fixture(scope="module")
def multiclass_server(tmp_path_factory, shipyard_home):
    frame = messy_table(5, "multiclass", rows=400)
    train, test = frame.iloc[:300], frame.iloc[300:]
    schema, _ = with_task(infer_schema(train, "label"), train["label"])
    pipeline = make_pipeline(schema, "xgboost", {"n_estimators": 20}).fit(
        canonical_frame(train, schema), encode_labels(train["label"], schema.classes)
    )
    folder = tmp_path_factory.mktemp("multiclass") / "bundle"
    save_bundle(
        pipeline,
        folder,
        schema,
        "xgboost",
        "xgboost",
        None,
        probes=probe_rows(schema, test),
    )
    server = start_predictor(str(folder), "levels", shipyard_home / "levels.log")
    yield {"base": server.base_url, "model": load_bundle(folder), "test": test, "server": server}
    server.stop()


def metadata_of(server: dict) -> dict:
    status, metadata = get_json(f"{server['base']}/v2/models/levels")
    assert status == 200, metadata
    return metadata


def test_metadata_tells_a_client_what_to_send(multiclass_server):
    metadata = metadata_of(multiclass_server)
    inputs = {i["name"]: i for i in metadata["inputs"]}
    assert inputs["flag"]["datatype"] == "BOOL" and inputs["flag"]["parameters"]["nullable"]
    assert inputs["color"]["datatype"] == "BYTES"
    assert set(inputs["color"]["parameters"]["categories"]) == {
        "red",
        "green",
        "blue",
        "Red ",
        "ünï",
    }
    # an inferred schema observed no null in ints; the model imputes one, so it takes them
    assert inputs["ints"]["datatype"] == "FP64" and inputs["ints"]["parameters"]["nullable"]
    assert inputs["when"]["datatype"] == "BYTES"  # a date, sent as the text the table holds
    outputs = {o["name"]: o for o in metadata["outputs"]}
    assert outputs["predict"]["datatype"] == "BYTES"
    assert outputs["predict_proba"]["shape"] == [-1, 3]
    assert outputs["predict_proba"]["parameters"]["classes"] == ["high", "low", "mid"]


@pytest.mark.parametrize("bools", ["BOOL", "BYTES"])
def test_answers_equal_the_registered_model_built_from_metadata(multiclass_server, bools):
    metadata = metadata_of(multiclass_server)
    test, model = multiclass_server["test"], multiclass_server["model"]
    if bools == "BOOL":  # BOOL cannot say null: those rows go as BYTES in the other case
        test = test[test["flag"].notna()]
    inputs = []
    for spec in metadata["inputs"]:  # what a client does with the metadata and its own rows
        values = [None if v is None or v != v else v for v in test[spec["name"]].tolist()]
        datatype = spec["datatype"]
        if datatype == "BOOL" and bools == "BYTES":
            datatype, values = "BYTES", [None if v is None else str(v).lower() for v in values]
        elif datatype == "BYTES":
            values = [None if v is None else str(v) for v in values]
        inputs.append(
            {"name": spec["name"], "datatype": datatype, "shape": [len(values)], "data": values}
        )
    assert {i["datatype"] for i in inputs if i["name"] == "flag"} == {bools}
    answer = infer(multiclass_server["base"], {"id": "p", "inputs": inputs}, "levels")
    outputs = {o["name"]: o for o in answer["outputs"]}
    assert outputs["predict"]["data"] == model.predict(test).tolist()
    proba = np.array(outputs["predict_proba"]["data"]).reshape(outputs["predict_proba"]["shape"])
    np.testing.assert_allclose(proba, model.scores(test), atol=1e-6)
