"""Issue 18's serving faults, against the session's real predictor and drift detector:
deep JSON nesting is a 400 on every JSON route, gRPC ModelMetadata answers for the model
(tritonclient), the server metadata lists the repository extension only while it is on, and
every 4xx refused before the model is counted in ``shipyard_predictor_requests_total``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.request

import grpc
import pytest
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.grpc.grpc_predict_v2_pb2_grpc import GRPCInferenceServiceStub

from support import BINARY_OUTPUTS

DEEP = 100_000


def send(url: str, body: bytes, headers: dict | None = None, method: str = "POST"):
    """(status, parsed JSON answer) without raising on 4xx/5xx; a dropped connection raises."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def nested(depth: int = DEEP, opening: bytes = b"[", closing: bytes = b"]") -> bytes:
    return opening * depth + closing * depth


def deep_object(depth: int = DEEP) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def requests_total(base: str, **labels: str) -> float:
    """``shipyard_predictor_requests_total`` for exactly ``labels`` (0 if not there yet)."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
        text = response.read().decode()
    for line in text.splitlines():
        match = re.match(r"shipyard_predictor_requests_total\{(.*)\} (\S+)$", line)
        if match and dict(re.findall(r'(\w+)="([^"]*)"', match[1])) == labels:
            return float(match[2])
    return 0.0


JSON = {"Content-Type": "application/json"}
PREDICTOR_ROUTES = [
    ("/v2/models/fraud/infer", JSON),
    ("/v2/models/fraud/infer", {}),  # tritonclient's JSON mode: no Content-Type
    ("/v2/models/fraud/versions/local/infer", JSON),
    ("/v1/models/fraud:predict", JSON),
]


@pytest.mark.parametrize(
    "body", [nested(), deep_object(), nested(1025)], ids=["array", "object", "1025"]
)
@pytest.mark.parametrize(("path", "headers"), PREDICTOR_ROUTES)
def test_deep_nesting_is_400_on_every_predictor_route(predictor_server, path, headers, body):
    status, answer = send(f"{predictor_server['base']}{path}", body, headers)
    assert status == 400, answer
    assert "JSON" in answer["error"] and len(answer["error"]) < 400, answer
    assert predictor_server["process"].poll() is None


def test_deep_nesting_in_the_binary_extension_header_is_400(predictor_server):
    body = nested()
    headers = {"Inference-Header-Content-Length": str(len(body))}
    status, answer = send(f"{predictor_server['base']}/v2/models/fraud/infer", body, headers)
    assert status == 400 and "JSON" in answer["error"], answer


@pytest.mark.parametrize("body", [nested(), deep_object()], ids=["array", "object"])
def test_deep_nesting_is_400_on_the_sidecar_labels_route(drift_server, body):
    headers = {**JSON, "Authorization": f"Bearer {drift_server['label_token']}"}
    status, answer = send(f"{drift_server['base']}/v1/labels/drift", body, headers)
    assert status == 400, answer
    assert answer["error"] == (
        "invalid labels: malformed JSON: the labels body is nested more than 1024 levels deep"
    )
    status, answer = send(
        f"{drift_server['base']}/v1/labels/drift", b'{"labels": [', headers
    )  # malformed, not deep: still named
    assert status == 400 and answer["error"].startswith(
        "invalid labels: malformed JSON in the labels body"
    )


def test_deep_nesting_is_400_on_the_sidecar_event_route(drift_server):
    import os

    headers = {
        **JSON,
        "Authorization": f"Bearer {os.environ['SHIPYARD_INGEST_TOKEN']}",  # the predictor's
        "ce-specversion": "1.0",
        "ce-id": "deep",
        "ce-source": "http://localhost:9081/",
        "ce-type": "org.kubeflow.serving.inference.request",
    }
    for path in ("/v1/models/drift:predict", "/v2/models/drift/infer"):
        status, answer = send(f"{drift_server['base']}{path}", nested(), headers)
        assert status == 400, (path, answer)


TRITON_METADATA = """
import json, sys
import tritonclient.grpc as client
triton = client.InferenceServerClient(sys.argv[1])
print(json.dumps(triton.get_model_metadata("fraud", as_json=True)))
triton.close()
"""


def test_grpc_model_metadata_with_tritonclient(predictor_server, model):
    # tritonclient's gRPC stubs and kserve's register the same proto names: not in one process
    done = subprocess.run(
        [sys.executable, "-c", TRITON_METADATA, predictor_server["grpc"]],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    metadata = json.loads(done.stdout)
    assert metadata["name"] == "fraud"
    assert [i["name"] for i in metadata["inputs"]] == list(model.features)
    assert all(i["datatype"] in ("FP64", "BYTES") for i in metadata["inputs"])
    assert metadata["inputs"][0]["shape"] == ["-1"]  # int64 in JSON form
    assert [o["name"] for o in metadata["outputs"]] == BINARY_OUTPUTS
    assert metadata["versions"] == ["local"]


def test_grpc_model_metadata_of_an_unknown_model_is_not_found(predictor_server):
    stub = GRPCInferenceServiceStub(grpc.insecure_channel(predictor_server["grpc"]))
    with pytest.raises(grpc.RpcError) as raised:
        stub.ModelMetadata(pb.ModelMetadataRequest(name="nope"), timeout=10)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


def test_server_metadata_lists_no_repository_extension_while_it_is_off(predictor_server):
    stub = GRPCInferenceServiceStub(grpc.insecure_channel(predictor_server["grpc"]))
    answer = stub.ServerMetadata(pb.ServerMetadataRequest(), timeout=10)
    assert "model_repository_extension" not in answer.extensions
    status, rest = send(f"{predictor_server['base']}/v2", None, method="GET")
    assert status == 200 and "model_repository_extension" not in rest["extensions"]


def test_every_4xx_is_counted_in_the_request_metrics(predictor_server, model):
    base = predictor_server["base"]
    labels = {"model": "fraud", "version": "local", "role": "canary", "status": "400"}
    before = requests_total(base, **labels)
    refused = [
        (f"{base}/v2/models/fraud/infer", b'{"inputs": [', JSON),  # unparsable
        (f"{base}/v2/models/fraud/infer", nested(), JSON),  # too deep
        (f"{base}/v2/models/fraud/infer", b'{"inputs": 3}', JSON),  # not a v2 request
        (f"{base}/v2/models/fraud/infer", b"{}", {"Inference-Header-Content-Length": "x"}),
        (f"{base}/v1/models/fraud:predict", b"[", JSON),
    ]
    for url, body, headers in refused:
        status, answer = send(url, body, headers)
        assert status == 400, answer
    stub = GRPCInferenceServiceStub(grpc.insecure_channel(predictor_server["grpc"]))
    bad = pb.ModelInferRequest(model_name="fraud", raw_input_contents=[b"\x00"])
    with pytest.raises(grpc.RpcError) as raised:
        stub.ModelInfer(bad, timeout=10)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert requests_total(base, **labels) == before + len(refused) + 1

    unknown = {"model": "(unknown)", "version": "", "role": "canary", "status": "404"}
    before = requests_total(base, **unknown)
    status, _ = send(f"{base}/v2/models/nope/infer", b'{"inputs": []}', JSON)
    assert status == 404
    with pytest.raises(grpc.RpcError) as raised:
        stub.ModelInfer(pb.ModelInferRequest(model_name="nope"), timeout=10)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert requests_total(base, **unknown) == before + 2

    other = {**labels, "status": "404"}
    before = requests_total(base, **other)
    status, _ = send(f"{base}/v2/models/fraud/versions/9/infer", b"{}", JSON)
    assert status == 404
    assert requests_total(base, **other) == before + 1
