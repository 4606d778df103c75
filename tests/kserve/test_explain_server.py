"""Contributions from the real predictor server, over REST and gRPC: asked for by name in the
request's ``outputs``, FP32, adding up to the served probability, counted on /metrics only
when asked for."""

import json
import re
import urllib.error
import urllib.request

import grpc
import numpy as np
import pandas as pd
import pytest
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.grpc.grpc_predict_v2_pb2_grpc import GRPCInferenceServiceStub

from shipyard.local.servers import v2_request
from support import BINARY_OUTPUTS, infer, post

COUNTER = re.compile(
    r'^shipyard_predictor_contribution_rows_total\{[^}]*model="fraud"[^}]*\} (\S+)$'
)


@pytest.fixture(scope="module")
def rows(small_data):
    return pd.read_parquet(small_data["test"]).head(25)


def explained_rows(base: str) -> float:
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return sum(float(m[1]) for line in text.splitlines() if (m := COUNTER.match(line)))


def check_additive(values: np.ndarray, base: np.ndarray, model, rows) -> None:
    logit = base.astype(float) + values.astype(float).sum(1)
    expected = model.predict_proba(rows)[:, 1]
    np.testing.assert_allclose(1 / (1 + np.exp(-logit)), expected, atol=1e-5)


def test_rest_contributions_on_request(predictor_server, model, rows):
    base_url = predictor_server["base"]
    before = explained_rows(base_url)
    plain = infer(base_url, v2_request(rows, model.schema))
    assert [o["name"] for o in plain["outputs"]] == ["predict", "predict_proba"]
    assert explained_rows(base_url) == before  # not asked: not computed
    body = v2_request(rows, model.schema)
    body["outputs"] = [{"name": "contributions"}, {"name": "contributions_base"}]
    answer = {o["name"]: o for o in infer(base_url, body)["outputs"]}
    assert explained_rows(base_url) == before + len(rows)
    values = answer["contributions"]
    assert values["datatype"] == "FP32" and values["shape"] == [len(rows), len(model.features)]
    assert values["parameters"]["space"] == "logit"
    check_additive(
        np.asarray(values["data"], np.float32).reshape(values["shape"]),
        np.asarray(answer["contributions_base"]["data"], np.float32),
        model,
        rows,
    )


def test_rest_metadata_and_unknown_outputs_name_this_models_outputs(predictor_server, model):
    with urllib.request.urlopen(f"{predictor_server['base']}/v2/models/fraud", timeout=10) as r:
        metadata = json.loads(r.read())
    outputs = {o["name"]: o for o in metadata["outputs"]}
    assert list(outputs) == BINARY_OUTPUTS
    assert outputs["contributions"]["parameters"]["features"] == model.features
    body = v2_request(model.probes()[0].head(1), model.schema)
    body["outputs"] = [{"name": "shap"}]
    status, answer = post(f"{predictor_server['base']}/v2/models/fraud/infer", body)
    assert status == 400
    assert f"this model's outputs are: {', '.join(BINARY_OUTPUTS)}" in answer["error"]


def grpc_request(body: dict, outputs: list[str]) -> pb.ModelInferRequest:
    tensors = []
    for item in body["inputs"]:
        contents = pb.InferTensorContents()
        if item["datatype"] == "FP64":
            contents.fp64_contents.extend(np.nan if v is None else v for v in item["data"])
        elif item["datatype"] == "BOOL":
            contents.bool_contents.extend(item["data"])
        else:
            contents.bytes_contents.extend(str(v).encode() for v in item["data"])
        tensors.append(
            pb.ModelInferRequest.InferInputTensor(
                name=item["name"], datatype=item["datatype"], shape=item["shape"], contents=contents
            )
        )
    return pb.ModelInferRequest(
        model_name="fraud",
        inputs=tensors,
        outputs=[pb.ModelInferRequest.InferRequestedOutputTensor(name=n) for n in outputs],
    )


def fp32(response: pb.ModelInferResponse, name: str) -> tuple[np.ndarray, pb.ModelInferResponse]:
    for index, output in enumerate(response.outputs):
        if output.name == name:
            if response.raw_output_contents:
                data = np.frombuffer(response.raw_output_contents[index], dtype=np.float32)
            else:
                data = np.asarray(output.contents.fp32_contents, dtype=np.float32)
            return data.reshape(list(output.shape)), output
    raise AssertionError(f"no output {name}")


def test_grpc_contributions_on_request(predictor_server, model, rows):
    stub = GRPCInferenceServiceStub(grpc.insecure_channel(predictor_server["grpc"]))
    body = v2_request(rows, model.schema)
    response = stub.ModelInfer(
        grpc_request(body, ["contributions", "contributions_base"]), timeout=30
    )
    assert [o.name for o in response.outputs] == ["contributions", "contributions_base"]
    values, output = fp32(response, "contributions")
    assert output.datatype == "FP32" and values.shape == (len(rows), len(model.features))
    assert output.parameters["space"].string_param == "logit"
    check_additive(values, fp32(response, "contributions_base")[0], model, rows)
    metadata = stub.ModelMetadata(pb.ModelMetadataRequest(name="fraud"), timeout=10)
    assert [o.name for o in metadata.outputs][2:4] == ["contributions", "contributions_base"]
