"""The predictor behind a real kserve ModelServer, called by independent v2 clients."""

import asyncio
import urllib.request

import grpc
import numpy as np
import pandas as pd
import pytest
from kserve.protocol.infer_type import InferInput, InferRequest

from kserve import InferenceGRPCClient, InferenceRESTClient, RESTConfig
from support import BINARY_OUTPUTS, get_json, post

pytestmark = pytest.mark.usefixtures("predictor_server")


@pytest.fixture(scope="module")
def rows(small_data):
    return pd.read_parquet(small_data["test"]).head(50)


def v2_body(frame, model, **extra):
    inputs = [
        {
            "name": name,
            "shape": [len(frame)],
            "datatype": "BYTES" if name in model.schema.categorical else "FP64",
            "data": frame[name].tolist(),
        }
        for name in model.features
    ]
    return {"inputs": inputs, **extra}


def infer_request(frame, model):
    return InferRequest(
        "fraud",
        [
            InferInput(
                name,
                [len(frame)],
                "BYTES" if name in model.schema.categorical else "FP64",
                frame[name].tolist(),
            )
            for name in model.features
        ],
    )


def test_health_and_metadata(predictor_server, model):
    base = predictor_server["base"]
    assert get_json(f"{base}/v2/health/live")[0] == 200
    assert get_json(f"{base}/v2/health/ready")[0] == 200
    assert get_json(f"{base}/v2/models/fraud/ready")[0] == 200
    status, meta = get_json(f"{base}/v2/models/fraud")
    assert status == 200 and meta["name"] == "fraud"
    inputs = {i["name"]: i["datatype"] for i in meta["inputs"]}
    assert set(inputs) == set(model.features) and inputs["channel"] == "BYTES"
    assert [o["name"] for o in meta["outputs"]] == BINARY_OUTPUTS


def assert_answers_as_the_model(response, rows, model):
    """A kserve client's response holds the model's own probabilities and labels."""
    np.testing.assert_allclose(
        response.get_output_by_name("predict_proba").as_numpy(),
        model.predict_proba(rows),
        rtol=1e-6,
    )
    np.testing.assert_array_equal(
        response.get_output_by_name("predict").as_numpy().ravel(), model.predict(rows)
    )


def test_kserve_rest_client(predictor_server, rows, model):
    async def call():
        client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0))
        try:
            return await client.infer(
                predictor_server["base"], infer_request(rows, model), model_name="fraud"
            )
        finally:
            await client.close()

    assert_answers_as_the_model(asyncio.run(call()), rows, model)


def test_kserve_grpc_client(predictor_server, rows, model):
    async def call():
        client = InferenceGRPCClient(predictor_server["grpc"])
        try:
            return await client.infer(infer_request(rows, model))
        finally:
            await client.close()

    assert_answers_as_the_model(asyncio.run(call()), rows, model)


def test_tritonclient_http(predictor_server, rows, model):
    import tritonclient.http as triton

    client = triton.InferenceServerClient(predictor_server["base"].removeprefix("http://"))
    inputs = []
    for name in model.features:
        if name in model.schema.categorical:
            tensor = triton.InferInput(name, [len(rows)], "BYTES")
            tensor.set_data_from_numpy(rows[name].to_numpy(dtype=object), binary_data=False)
        else:
            tensor = triton.InferInput(name, [len(rows)], "FP64")
            tensor.set_data_from_numpy(rows[name].to_numpy(np.float64), binary_data=False)
        inputs.append(tensor)
    outputs = [triton.InferRequestedOutput("predict_proba", binary_data=False)]
    result = client.infer(
        "fraud", inputs, outputs=outputs, headers={"Content-Type": "application/json"}
    )
    np.testing.assert_allclose(
        result.as_numpy("predict_proba"), model.predict_proba(rows), rtol=1e-6
    )
    assert result.as_numpy("predict") is None  # only what was asked for


def test_id_and_outputs_in_raw_json(predictor_server, rows, model):
    status, body = post(
        f"{predictor_server['base']}/v2/models/fraud/infer",
        v2_body(rows, model, id="req-7", outputs=[{"name": "predict"}]),
    )
    assert status == 200 and body["id"] == "req-7"
    assert [o["name"] for o in body["outputs"]] == ["predict"]


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda b: b["inputs"].pop(0), "missing input 'amount'"),
        (
            lambda b: b["inputs"][1].update(datatype="FP32", data=[1.0] * 50),
            "input 'merchant_category' has datatype FP32; expected BYTES",
        ),
        (lambda b: b["inputs"][0].update(shape=[7]), "input 'amount': data does not fit"),
        (
            lambda b: b["inputs"][0].update(data=b["inputs"][0]["data"][:10], shape=[10]),
            "inputs have different row counts",
        ),
        (lambda b: b["inputs"][0].pop("shape"), "inputs.0.shape: Field required"),
    ],
)
def test_bad_requests_are_400_naming_the_input(predictor_server, rows, model, mutate, message):
    body = v2_body(rows, model)
    mutate(body)
    status, answer = post(f"{predictor_server['base']}/v2/models/fraud/infer", body)
    assert status == 400, answer
    assert message in answer["error"]
    assert "grocery" not in answer["error"]  # the body is not echoed back


def test_malformed_json_is_400(predictor_server):
    status, answer = post(f"{predictor_server['base']}/v2/models/fraud/infer", b'{"inputs": [')
    assert status == 400 and "malformed JSON" in answer["error"]


def test_grpc_bad_request_is_invalid_argument(predictor_server, rows, model):
    request = infer_request(rows, model)
    request.inputs = request.inputs[1:]

    async def call():
        client = InferenceGRPCClient(predictor_server["grpc"], retries=0)
        try:
            return await client.infer(request)
        finally:
            await client.close()

    with pytest.raises(grpc.RpcError) as raised:
        asyncio.run(call())
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "missing input 'amount'" in raised.value.details()


def test_metrics_count_requests_by_status_and_rows(predictor_server, rows, model):
    base = predictor_server["base"]
    post(f"{base}/v2/models/fraud/infer", v2_body(rows, model))
    post(f"{base}/v2/models/fraud/infer", {"inputs": []})
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
        text = response.read().decode()
    assert (
        'shipyard_predictor_requests_total{model="fraud",role="canary",status="200",'
        'version="local"}'
    ) in text
    assert 'status="400"' in text
    assert "shipyard_predictor_rows_per_request_bucket" in text
    assert 'shipyard_predictor_predicted_class_total{class="0"' in text
    assert predictor_server["process"].poll() is None  # still serving


def test_versioned_path(predictor_server, rows, model):
    status, body = post(
        f"{predictor_server['base']}/v2/models/fraud/versions/local/infer",
        v2_body(rows.head(2), model),
    )
    assert status == 200 and body["outputs"][0]["shape"][0] == 2


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def test_parallel_clients_no_errors_memory_stable(predictor_server, rows, model):
    """8 clients for a bounded time (3 s of warm-up, then 6 s measured): zero errors, RSS flat."""
    import threading
    import time

    url = f"{predictor_server['base']}/v2/models/fraud/infer"
    pid = predictor_server["process"].pid
    bodies = [v2_body(rows.head(n), model) for n in (1, 7, 50)]
    errors, done = [], [0]

    def client(seconds: float, seed: int) -> None:
        deadline, i = time.monotonic() + seconds, seed
        while time.monotonic() < deadline:
            status, answer = post(url, bodies[i % 3])
            i += 1
            if status != 200 or not answer.get("outputs"):
                errors.append((status, answer))
            done[0] += 1

    def burst(seconds: float) -> None:
        threads = [threading.Thread(target=client, args=(seconds, k)) for k in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=seconds + 60)

    burst(3.0)
    before = rss_kib(pid)
    burst(6.0)
    after = rss_kib(pid)
    assert errors == []
    assert done[0] > 50
    assert after - before < max(0.1 * before, 30 * 1024), (before, after)


def test_other_version_is_404_naming_both(predictor_server, rows, model):
    status, body = post(
        f"{predictor_server['base']}/v2/models/fraud/versions/9/infer", v2_body(rows.head(2), model)
    )
    assert status == 404
    assert "version '9' is not served" in body["error"] and "'local'" in body["error"]
