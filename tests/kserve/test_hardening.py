"""Nothing a client sends gets a 5xx or takes the model offline; every fault is one clear line.

Against real predictor processes: the session's (defaults: repository extension off) and one
started here with a repository token and a 1 MiB request limit.
"""

import json
import os
import secrets
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request

import grpc
import numpy as np
import pandas as pd
import pytest
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.grpc.grpc_predict_v2_pb2_grpc import GRPCInferenceServiceStub

from shipyard.local.servers import start_predictor
from support import free_port

LIMIT = 1 << 20


@pytest.fixture(scope="module")
def rows(small_data):
    return pd.read_parquet(small_data["test"]).head(3)


def v2_body(frame, model, **extra) -> dict:
    return {
        "inputs": [
            {
                "name": n,
                "shape": [len(frame)],
                "datatype": "BYTES" if n in model.schema.categorical else "FP64",
                "data": frame[n].tolist(),
            }
            for n in model.features
        ],
        **extra,
    }


def http(method: str, url: str, data: bytes | None = None, headers: dict | None = None):
    """(status, headers, parsed JSON body) without raising on 4xx/5xx."""
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, error.headers, json.loads(error.read() or b"{}")


def infer(base: str, body: bytes, headers: dict | None = None):
    status, _, answer = http("POST", f"{base}/v2/models/fraud/infer", body, headers)
    return status, answer


def stub(address: str) -> GRPCInferenceServiceStub:
    return GRPCInferenceServiceStub(
        grpc.insecure_channel(address, options=[("grpc.max_send_message_length", 64 << 20)])
    )


@pytest.fixture(scope="module")
def guarded(trained, shipyard_home):
    """A predictor with the repository extension on (a random token) and a 1 MiB limit."""
    token, grpc_port = secrets.token_urlsafe(16), free_port()
    saved = {
        k: os.environ.get(k)
        for k in ("SHIPYARD_MODEL_REPOSITORY_TOKEN", "SHIPYARD_MAX_REQUEST_BYTES")
    }
    os.environ.update(SHIPYARD_MODEL_REPOSITORY_TOKEN=token, SHIPYARD_MAX_REQUEST_BYTES=str(LIMIT))
    try:
        server = start_predictor(
            str(trained.bundle_dir), "fraud", shipyard_home / "guarded.log", grpc_port=grpc_port
        )
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.update({key: value})
    yield {
        "base": server.base_url,
        "grpc": f"127.0.0.1:{grpc_port}",
        "token": token,
        "log": server.log,
    }
    server.stop()


# -- finding 1: the model-repository extension ------------------------------------------


def test_repository_is_off_by_default(predictor_server):
    base = predictor_server["base"]
    for action in ("unload", "load"):
        status, _, answer = http("POST", f"{base}/v2/repository/models/fraud/{action}", b"")
        assert status == 404 and "disabled" in answer["error"]
    with pytest.raises(grpc.RpcError) as raised:
        stub(predictor_server["grpc"]).RepositoryModelUnload(
            pb.RepositoryModelUnloadRequest(model_name="fraud"), timeout=10
        )
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert http("GET", f"{base}/v2/models/fraud/ready")[0] == 200


def test_server_metadata_lists_the_repository_extension_only_while_it_is_on(
    predictor_server, guarded
):
    for server, on in ((predictor_server, False), (guarded, True)):
        answer = stub(server["grpc"]).ServerMetadata(pb.ServerMetadataRequest(), timeout=10)
        assert ("model_repository_extension" in answer.extensions) is on
        status, _, rest = http("GET", f"{server['base']}/v2")
        assert status == 200 and ("model_repository_extension" in rest["extensions"]) is on


def test_repository_needs_the_token_and_readiness_follows(guarded, rows, model):
    base, token = guarded["base"], guarded["token"]
    url = f"{base}/v2/repository/models/fraud"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": token}):
        status, answer_headers, answer = http("POST", f"{url}/unload", b"", headers)
        assert status == 401 and answer_headers["WWW-Authenticate"] == "Bearer"
    assert http("GET", f"{base}/v2/health/ready")[0] == 200
    with pytest.raises(grpc.RpcError) as raised:
        stub(guarded["grpc"]).RepositoryModelUnload(
            pb.RepositoryModelUnloadRequest(model_name="fraud"),
            timeout=10,
            metadata=[("authorization", "Bearer wrong")],
        )
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED

    bearer = {"Authorization": f"Bearer {token}"}
    assert http("POST", f"{url}/unload", b"", bearer)[:3:2] == (
        200,
        {"name": "fraud", "unload": True},
    )
    assert http("GET", f"{base}/v2/health/ready")[0] == 503
    assert http("GET", f"{base}/v2/models/fraud/ready")[0] == 503
    assert http("GET", f"{base}/v2/health/live")[0] == 200
    status, answer = infer(base, json.dumps(v2_body(rows, model)).encode())
    assert status == 503 and "fraud" in answer["error"]
    channel = stub(guarded["grpc"])
    assert not channel.ServerReady(pb.ServerReadyRequest(), timeout=10).ready
    assert not channel.ModelReady(pb.ModelReadyRequest(name="fraud"), timeout=10).ready

    grpc_auth = [("authorization", f"Bearer {token}")]
    loaded = channel.RepositoryModelLoad(
        pb.RepositoryModelLoadRequest(model_name="fraud"), timeout=30, metadata=grpc_auth
    )
    assert loaded.isLoaded
    assert channel.ServerReady(pb.ServerReadyRequest(), timeout=10).ready
    assert http("GET", f"{base}/v2/health/ready")[0] == 200
    assert infer(base, json.dumps(v2_body(rows, model)).encode())[0] == 200
    status, _, answer = http("POST", f"{base}/v2/repository/models/other/load", b"", bearer)
    assert status == 404 and "other" in answer["error"]


# -- finding 2 and 3: decoding faults are 400 naming the part, JSON without a header ---------


@pytest.mark.parametrize(
    "parameters, where",
    [
        ({"request": 2**70}, "request parameter 'request'"),
        ({"input": -(2**64)}, "input 'amount' parameter 'input'"),
    ],
)
def test_parameters_beyond_64_bits_are_400(predictor_server, rows, model, parameters, where):
    body = v2_body(rows, model)
    if "request" in parameters:
        body["parameters"] = parameters
    else:
        body["inputs"][0]["parameters"] = parameters
    status, answer = infer(
        predictor_server["base"], json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    assert status == 400 and where in answer["error"] and "64-bit" in answer["error"]


@pytest.mark.parametrize(
    "header, body, message",
    [
        ("abc", b'{"inputs": []}', "'Inference-Header-Content-Length' must be"),
        ("100", b'{"inputs": []}', "from 1 to 14"),
        ("2", b"{}", "inputs: Field required"),
        ("13", b'{"inputs": 5}', "inputs: Input should be a valid"),
    ],
)
def test_malformed_binary_requests_are_400(predictor_server, header, body, message):
    status, answer = infer(
        predictor_server["base"],
        body,
        {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": header},
    )
    assert status == 400 and message in answer["error"], answer


def binary_request(model, rows, bad: str | None = None) -> tuple[bytes, int]:
    """A v2 binary-extension request: every input raw after the JSON part; ``bad`` names an
    input whose BYTES buffer gets a length prefix running past its end."""
    inputs, parts = [], []
    for name in model.features:
        if name in model.schema.categorical:
            raw = b"".join(
                struct.pack("<I", len(v.encode())) + v.encode() for v in rows[name].astype(str)
            )
            if name == bad:
                raw = struct.pack("<I", 999) + raw[4:]
            datatype = "BYTES"
        else:
            raw, datatype = rows[name].to_numpy(np.float64).tobytes(), "FP64"
        inputs.append(
            {
                "name": name,
                "shape": [len(rows)],
                "datatype": datatype,
                "parameters": {"binary_data_size": len(raw)},
            }
        )
        parts.append(raw)
    head = json.dumps({"inputs": inputs}).encode()
    return head + b"".join(parts), len(head)


def test_binary_request_with_bad_bytes_prefix_names_the_input(predictor_server, rows, model):
    body, length = binary_request(model, rows)
    headers = {
        "Content-Type": "application/octet-stream",
        "Inference-Header-Content-Length": str(length),
    }
    assert infer(predictor_server["base"], body, headers)[0] == 200
    body, length = binary_request(model, rows, bad="channel")
    headers["Inference-Header-Content-Length"] = str(length)
    status, answer = infer(predictor_server["base"], body, headers)
    assert status == 400 and "input 'channel'" in answer["error"], answer


def grpc_request(model, rows, bad: str | None = None) -> pb.ModelInferRequest:
    body, length = binary_request(model, rows, bad)
    head, raw, offset = json.loads(body[:length]), [], length
    for item in head["inputs"]:
        size = item["parameters"]["binary_data_size"]
        raw.append(body[offset : offset + size])
        offset += size
    return pb.ModelInferRequest(
        model_name="fraud",
        raw_input_contents=raw,
        inputs=[
            pb.ModelInferRequest.InferInputTensor(
                name=i["name"], datatype=i["datatype"], shape=i["shape"]
            )
            for i in head["inputs"]
        ],
    )


def test_grpc_bytes_with_bad_length_prefix_is_invalid_argument(predictor_server, rows, model):
    channel = stub(predictor_server["grpc"])
    assert channel.ModelInfer(grpc_request(model, rows), timeout=30).outputs
    with pytest.raises(grpc.RpcError) as raised:
        channel.ModelInfer(grpc_request(model, rows, bad="merchant_category"), timeout=30)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "input 'merchant_category'" in raised.value.details()


def test_tritonclient_json_mode_without_content_type(predictor_server, rows, model):
    """tritonclient's HTTP client sends no Content-Type with binary data off."""
    import tritonclient.http as triton

    client = triton.InferenceServerClient(predictor_server["base"].removeprefix("http://"))
    inputs = []
    for name in model.features:
        categorical = name in model.schema.categorical
        tensor = triton.InferInput(name, [len(rows)], "BYTES" if categorical else "FP64")
        tensor.set_data_from_numpy(
            rows[name].to_numpy(object if categorical else np.float64), binary_data=False
        )
        inputs.append(tensor)
    result = client.infer(
        "fraud", inputs, outputs=[triton.InferRequestedOutput("predict_proba", binary_data=False)]
    )
    np.testing.assert_allclose(
        result.as_numpy("predict_proba"), model.predict_proba(rows), rtol=1e-6
    )


# -- finding 4: bounded messages, one log line, a body limit -----------------------------


def test_huge_input_name_is_quoted_not_echoed(guarded, rows, model):
    name = "x" * (500 << 10)
    body = v2_body(rows, model)
    body["inputs"][0]["name"] = name
    started = time.monotonic()
    status, answer = infer(
        guarded["base"], json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    assert status == 400 and len(answer["error"]) < 1000, answer["error"][:300]
    assert (
        f"({len(name)} characters)" in answer["error"]
        and "inputs are: amount" in answer["error"]
        and time.monotonic() - started < 5
    )
    log = guarded["log"].read_text()
    assert name not in log and "Traceback" not in log
    line = next(line for line in log.splitlines() if "WARNING" in line and "xxxx" in line)
    assert len(line) < 1000


def test_body_over_the_limit_is_413(guarded):
    status, answer = infer(
        guarded["base"], b"{" + b" " * LIMIT + b"}", {"Content-Type": "application/json"}
    )
    assert status == 413 and str(LIMIT) in answer["error"]
    request = pb.ModelInferRequest(model_name="fraud", raw_input_contents=[b"\0" * (LIMIT + 1)])
    with pytest.raises(grpc.RpcError) as raised:
        stub(guarded["grpc"]).ModelInfer(request, timeout=30)
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert http("GET", f"{guarded['base']}/v2/health/ready")[0] == 200


# -- finding 5: a busy port is one line and exit 3 ----------------------------------------


@pytest.mark.parametrize("which", ["HTTP", "gRPC"])
def test_serve_on_a_busy_port_is_one_line_and_exit_3(predictor_server, trained, which):
    busy = int(
        (predictor_server["base"] if which == "HTTP" else predictor_server["grpc"]).rsplit(":", 1)[
            1
        ]
    )
    other = free_port()
    ports = (busy, other) if which == "HTTP" else (other, busy)
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "shipyard.cli",
            "serve",
            "--source",
            str(trained.bundle_dir),
            "--http-port",
            str(ports[0]),
            "--grpc-port",
            str(ports[1]),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        start_new_session=True,
    )
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert done.returncode == 3 and len(lines) == 1, lines
    assert f":{busy} ({which} port)" in lines[0] and "already in use" in lines[0]
    assert time.monotonic() - started < 30
