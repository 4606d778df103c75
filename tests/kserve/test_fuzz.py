"""A seeded, bounded fuzz of a real predictor: malformed v2 requests built from the served
model's metadata over REST JSON, the REST binary extension and gRPC.

Every case must be answered without a 5xx / INTERNAL, every refusal must say what is wrong in
under 1 KB, and afterwards the server must be ready, answer a valid request, and have logged
no traceback. Cases meant to be refused must be refused (a 4xx, not a 200), among them values
outside their datatype's range and numbers sent as BYTES (``v2_inputs`` checks values).
"""

from __future__ import annotations

import collections
import copy
import http.client
import json
import random
import struct
import time
from dataclasses import dataclass

import grpc
import numpy as np
import pytest
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.grpc.grpc_predict_v2_pb2_grpc import GRPCInferenceServiceStub
from kserve.utils.numpy_codec import to_np_dtype

import support
from shipyard.local.servers import start_predictor
from support import free_port

SEED, JSON_CASES, BINARY_CASES, GRPC_CASES = 20261202, 3000, 1500, 1500
MAX_MESSAGE = 1024
# what a refusal must mention: the part of the request that is wrong
NAMES = (
    "input",
    "output",
    "parameter",
    "shape",
    "datatype",
    "JSON",
    "header",
    "field",
    "request",
    "model",
    "body",
    "data",
    "BYTES",
    "id",
)
NUMERIC = (
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
)
RANGES = {
    "INT8": (-128, 127),
    "INT16": (-(1 << 15), (1 << 15) - 1),
    "UINT8": (0, 255),
    "UINT16": (0, (1 << 16) - 1),
    "UINT32": (0, (1 << 32) - 1),
    "INT32": (-(1 << 31), (1 << 31) - 1),
}


@dataclass
class Case:
    kind: str  # "reject": must be a 4xx; "any": may be valid
    what: str
    body: bytes = b""
    headers: dict | None = None
    grpc: pb.ModelInferRequest | None = None
    channel: str = "JSON"


@pytest.fixture(scope="module")
def server(trained, shipyard_home):
    grpc_port = free_port()
    process = start_predictor(
        str(trained.bundle_dir), "fraud", shipyard_home / "fuzz.log", grpc_port=grpc_port
    )
    yield {
        "base": process.base_url,
        "grpc": f"127.0.0.1:{grpc_port}",
        "log": process.log,
        "host": process.base_url.removeprefix("http://"),
    }
    process.stop()


@pytest.fixture(scope="module")
def metadata(server):
    connection = http.client.HTTPConnection(server["host"], timeout=10)
    connection.request("GET", "/v2/models/fraud")
    return json.loads(connection.getresponse().read())


def valid_inputs(metadata: dict, rows: int = 2) -> list[dict]:
    """One input per advertised tensor, with plausible values for its datatype."""
    return [
        {
            "name": t["name"],
            "shape": [rows],
            "datatype": t["datatype"],
            "data": ["online"] * rows if t["datatype"] == "BYTES" else [1.5] * rows,
        }
        for t in metadata["inputs"]
    ]


def mutate_json(rng: random.Random, metadata: dict) -> Case:
    inputs = valid_inputs(metadata, rng.choice([1, 2, 3]))
    body: dict = {"id": "fuzz", "inputs": inputs}
    i = rng.randrange(len(inputs))
    target, name = inputs[i], inputs[i]["name"]
    op = rng.randrange(22)
    if op == 0:
        del target[rng.choice(["name", "shape", "datatype", "data"])]
        return Case("reject", "input field dropped", json.dumps(body).encode())
    if op == 1:
        target[rng.choice(["name", "shape", "datatype", "data"])] = support.junk(rng)
        nullable = {t["name"] for t in metadata["inputs"] if t["parameters"].get("nullable")}
        empty = target.get("data") == [] and target["shape"] == [0]
        null = target.get("data") == [None] and target["shape"] == [1] and name in nullable
        kind = "any" if empty or null else "reject"  # a null where the model takes nulls
        return Case(kind, "input field junk", json.dumps(body).encode())
    if op == 2:
        target["shape"] = [rng.choice([-1, -(2**63), 2**63 - 1, 2**64, 0, 10**12])]
        return Case("reject", "shape out of range", json.dumps(body).encode())
    if op == 3:
        target["shape"] = [rng.randint(0, 5) for _ in range(rng.randint(0, 4))]
        size = int(np.prod(target["shape"])) if target["shape"] else 1
        kind = "reject" if size != len(target["data"]) or len(target["shape"]) > 2 else "any"
        return Case(kind, "shape changed", json.dumps(body).encode())
    if op == 4:
        target["datatype"] = rng.choice(["FP8", "STRING", "", "x" * 300, "BF16"])
        return Case("reject", "unknown datatype", json.dumps(body).encode())
    if op == 5:  # another valid datatype: numbers stay numbers for numeric ones
        was, target["datatype"] = target["datatype"], rng.choice(NUMERIC + ("BYTES",))
        if was == "BYTES" and target["datatype"] != "BYTES":
            return Case("reject", "strings as numbers", json.dumps(body).encode())
        if was != "BYTES" and target["datatype"] == "BYTES":
            return Case("reject", "BYTES given numbers", json.dumps(body).encode())
        return Case("any", "datatype swapped", json.dumps(body).encode())
    if op == 6 and target["datatype"] != "BYTES":
        datatype = rng.choice(sorted(RANGES))
        low, high = RANGES[datatype]
        target["datatype"] = datatype
        target["data"] = [rng.choice([low - 1, high + 1, high + 173])] * len(target["data"])
        return Case("reject", f"{datatype} out of range", json.dumps(body).encode())
    if op == 7:
        target["data"] = [rng.choice([2**64, -(2**63) - 1, 2**200])] * len(target["data"])
        target["datatype"] = rng.choice(["INT64", "UINT64", "FP64"])
        kind = "reject" if target["datatype"] != "FP64" else "any"
        return Case(kind, "integer beyond 64 bits in data", json.dumps(body).encode())
    if op == 8:
        target["data"] = support.junk(rng)
        if target["data"] == [None]:
            return Case("any", "data null", json.dumps(body).encode())  # null is missing
        if target["datatype"] == "BYTES" and target["data"] == [[1, [2]]]:
            return Case("reject", "BYTES given nested numbers", json.dumps(body).encode())
        return Case("reject", "data junk", json.dumps(body).encode())
    if op == 9:
        target["data"] = [[v] for v in target["data"]]
        return Case("any", "data nested", json.dumps(body).encode())
    if op == 10:
        target["data"] = target["data"] + [target["data"][0]]
        return Case("reject", "data longer than shape", json.dumps(body).encode())
    if op == 11:
        inputs.append(copy.deepcopy(target))
        return Case("reject", "duplicate input", json.dumps(body).encode())
    if op == 12:
        target["name"] = rng.choice(
            ["", "x" * rng.choice([300, 70_000]), name + "\u0000", name.upper(), "../" + name]
        )
        return Case("reject", "input renamed", json.dumps(body).encode())
    if op == 13:
        body["parameters"] = {"p": support.junk(rng)}
        big = isinstance(body["parameters"]["p"], int) and abs(body["parameters"]["p"]) > 2**63
        return Case("reject" if big else "any", "request parameter", json.dumps(body).encode())
    if op == 14:
        target["parameters"] = {"binary_data_size": support.junk(rng), "q": [[[[[[1]]]]]]}
        return Case("reject", "input parameters", json.dumps(body).encode())
    if op == 15:
        body["outputs"] = rng.choice(
            [
                [{"name": "nope"}],
                [{}],
                "predict",
                [{"name": 5}],
                [{"name": "predict", "parameters": {"n": 2**65}}],
            ]
        )
        return Case("reject", "outputs", json.dumps(body).encode())
    if op == 16:
        body["id"] = support.junk(rng)
        return Case(
            "any" if body["id"] is None or isinstance(body["id"], str) else "reject",
            "id",
            json.dumps(body).encode(),
        )
    if op == 17:
        raw = json.dumps(body).encode()
        return Case("reject", "truncated JSON", raw[: rng.randrange(1, len(raw) - 1)])
    if op == 18:
        return Case("reject", "random bytes", rng.randbytes(rng.randint(1, 400)))
    if op == 19:
        depth = rng.choice([100, 5000, 200_000])
        return Case(
            "reject", "deeply nested JSON", b'{"inputs": ' + b"[" * depth + b"]" * depth + b"}"
        )
    if op == 20:
        body["inputs"] = support.junk(rng)
        return Case("reject", "inputs junk", json.dumps(body).encode())
    return Case("reject", "not an object", json.dumps(support.junk(rng)).encode())


def encode_bytes(values: list[bytes]) -> bytes:
    return b"".join(struct.pack("<I", len(v)) + v for v in values)


def raw_tensor(spec: dict, rows: int) -> bytes:
    if spec["datatype"] == "BYTES":
        return encode_bytes([b"online"] * rows)
    return np.full(rows, 1.5, dtype=np.float64).tobytes()


def mutate_binary(rng: random.Random, metadata: dict) -> Case:
    rows = rng.choice([1, 2, 3])
    specs = [
        {"name": t["name"], "shape": [rows], "datatype": t["datatype"]} for t in metadata["inputs"]
    ]
    raws = [raw_tensor(s, rows) for s in specs]
    i = rng.randrange(len(specs))
    op, kind, what = rng.randrange(10), "reject", ""
    if op == 0:
        raws[i], what = raws[i][:-1], "binary part one byte short"
    elif op == 1:
        raws[i], what = raws[i] + b"\0", "binary part one byte long"
    elif op == 2 and specs[i]["datatype"] == "BYTES":
        raws[i], what = (
            struct.pack("<I", rng.choice([2**32 - 1, 1000, 7])) + raws[i][4:],
            "BYTES length prefix wrong",
        )
    elif op == 3:
        raws[i], what = rng.randbytes(len(raws[i])), "binary part random bytes"
        kind = "any" if specs[i]["datatype"] != "BYTES" else "reject"
    elif op == 4:
        specs[i]["shape"], what = [rows + rng.choice([-1, 1, 100])], "shape does not fit"
    elif op == 5:
        was = specs[i]["datatype"]
        specs[i]["datatype"] = rng.choice(["FP32", "INT8", "UINT64", "BOOL"])
        what = "datatype does not fit the bytes"
        itemsize = np.dtype(to_np_dtype(specs[i]["datatype"])).itemsize
        if was != "BYTES" and len(raws[i]) == itemsize * rows:
            kind = "any"  # the same bytes read as another 8-byte type: a valid tensor
    elif op == 6:
        what = "binary_data_size wrong"
    elif op == 7:
        what = "binary_data_size junk"
    elif op == 8:
        what = "header length wrong"
    elif op == 9:
        what = "trailing bytes"
    else:
        kind, what = "any", "binary, unchanged"
    sizes = [len(r) for r in raws]
    if op == 6:
        sizes[i] += rng.choice([-3, 5, 10**9])
    inputs = [
        {**s, "parameters": {"binary_data_size": n}} for s, n in zip(specs, sizes, strict=True)
    ]
    if op == 7:
        inputs[i]["parameters"]["binary_data_size"] = rng.choice([None, -1, "8", 1.5, [8]])
    head = json.dumps({"inputs": inputs}).encode()
    length: object = len(head)
    if op == 8:
        length = rng.choice(
            ["abc", "-1", "0", "1e3", str(len(head) + 10**6), "", str(len(head) - 1), "9" * 400]
        )
    body = head + b"".join(raws)
    if op == 9:
        body += rng.randbytes(rng.randint(1, 50))
    headers = {
        "Content-Type": rng.choice(["application/octet-stream", "text/plain", None]),
        "Inference-Header-Content-Length": str(length),
    }
    return Case(kind, what, body, {k: v for k, v in headers.items() if v}, channel="binary")


def mutate_grpc(rng: random.Random, metadata: dict) -> Case:
    rows = rng.choice([1, 2, 3])
    tensors = [
        pb.ModelInferRequest.InferInputTensor(name=t["name"], datatype=t["datatype"], shape=[rows])
        for t in metadata["inputs"]
    ]
    raws = [raw_tensor({"datatype": t.datatype}, rows) for t in tensors]
    request = pb.ModelInferRequest(model_name="fraud", inputs=tensors, raw_input_contents=raws)
    i = rng.randrange(len(tensors))
    tensor = request.inputs[i]
    op = rng.randrange(11)
    if op == 0 and tensor.datatype == "BYTES":
        request.raw_input_contents[i] = struct.pack("<I", rng.choice([2**32 - 1, 99])) + raws[i][4:]
        return Case("reject", "gRPC BYTES length prefix wrong", grpc=request)
    if op == 1:
        request.raw_input_contents[i] = raws[i][: -rng.randint(1, 3)]
        return Case("reject", "gRPC raw tensor short", grpc=request)
    if op == 2:
        del request.raw_input_contents[i]
        return Case("reject", "gRPC raw tensor missing", grpc=request)
    if op == 3:
        tensor.shape[:] = [rng.choice([-1, -(2**63), 2**62, 0, rows + 1])]
        return Case("reject", "gRPC shape wrong", grpc=request)
    if op == 4:
        tensor.datatype = rng.choice(["FP8", "", "INT8", "UINT16", "x" * 500])
        return Case("reject", "gRPC datatype wrong", grpc=request)
    if op == 5:
        tensor.contents.fp64_contents.extend([1.0] * rows)
        return Case("reject", "gRPC contents and raw", grpc=request)
    if op == 6:  # typed contents instead of raw
        request.ClearField("raw_input_contents")
        for t in request.inputs:
            if t.datatype == "BYTES":
                t.contents.bytes_contents.extend([b"online"] * rows)
            else:
                t.contents.fp64_contents.extend([1.5] * rows)
        target = request.inputs[i]
        if target.datatype == "BYTES":
            target.ClearField("contents")
            target.contents.int64_contents.extend([5] * rows)
            return Case("reject", "gRPC BYTES given int64 contents", grpc=request)
        datatype = rng.choice(sorted(RANGES))
        target.datatype = datatype
        target.ClearField("contents")
        field = "uint_contents" if datatype.startswith("UINT") else "int_contents"
        getattr(target.contents, field).extend([RANGES[datatype][1]] * rows)
        return Case("any", "gRPC typed contents", grpc=request)
    if op == 7:
        request.parameters["p"].int64_param = rng.choice([-(2**63), 2**63 - 1])
        tensor.parameters["binary_data_size"].string_param = "x" * rng.choice([1, 3000])
        return Case("any", "gRPC parameters", grpc=request)
    if op == 8:
        request.outputs.add(name=rng.choice(["nope", "", "x" * 3000]))
        return Case("reject", "gRPC unknown output", grpc=request)
    if op == 9:
        tensor.name = rng.choice(["", "y" * 70_000, tensor.name + "_"])
        return Case("reject", "gRPC input renamed", grpc=request)
    request.raw_input_contents.append(rng.randbytes(8))
    return Case("reject", "gRPC extra raw tensor", grpc=request)


def cases(metadata: dict) -> list[Case]:
    rng = random.Random(SEED)
    return (
        [mutate_json(rng, metadata) for _ in range(JSON_CASES)]
        + [mutate_binary(rng, metadata) for _ in range(BINARY_CASES)]
        + [mutate_grpc(rng, metadata) for _ in range(GRPC_CASES)]
    )


class Rest:
    """One keep-alive connection, reopened when the server closes it."""

    def __init__(self, host: str) -> None:
        self.host, self.connection = host, None

    def post(self, body: bytes, headers: dict) -> tuple[int, bytes]:
        for attempt in range(2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(self.host, timeout=30)
            try:
                self.connection.request("POST", "/v2/models/fraud/infer", body, headers)
                response = self.connection.getresponse()
                data = response.read()
                if response.getheader("connection", "").lower() == "close":
                    self.connection.close()
                    self.connection = None
                return response.status, data
            except (http.client.HTTPException, ConnectionError):
                self.connection.close()
                self.connection = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


def send(case: Case, rest: Rest, stub: GRPCInferenceServiceStub) -> tuple[str, str]:
    """(outcome, message): outcome is an HTTP status or a gRPC code name."""
    if case.grpc is not None:
        try:
            stub.ModelInfer(case.grpc, timeout=30)
            return "OK", ""
        except grpc.RpcError as error:
            return error.code().name, error.details() or ""
    headers = case.headers or {"Content-Type": "application/json"}
    status, data = rest.post(case.body, headers)
    if status == 200:
        return "200", ""
    try:
        message = json.loads(data).get("error") or json.loads(data).get("detail")
    except (ValueError, AttributeError):
        message = None
    return str(status), message if isinstance(message, str) else data.decode("latin-1")


def test_fuzz(server, metadata):
    all_cases = cases(metadata)
    rest = Rest(server["host"])
    stub = GRPCInferenceServiceStub(
        grpc.insecure_channel(server["grpc"], options=[("grpc.max_send_message_length", 64 << 20)])
    )
    valid = json.dumps({"inputs": valid_inputs(metadata)}).encode()
    assert send(Case("any", "valid", valid), rest, stub)[0] == "200"

    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    failures = []
    started = time.monotonic()
    for case in all_cases:
        outcome, message = send(case, rest, stub)
        channel = "gRPC" if case.grpc is not None else case.channel
        counts[channel][outcome] += 1
        refused = outcome not in ("200", "OK")
        if outcome.startswith("5") or outcome in (
            "INTERNAL",
            "UNKNOWN",
            "UNAVAILABLE",
            "DATA_LOSS",
        ):
            failures.append((case.what, outcome, message[:300]))
        elif refused and (
            len(message.encode()) >= MAX_MESSAGE
            or not message
            or not any(n.lower() in message.lower() for n in NAMES)
        ):
            failures.append((case.what, outcome, f"message: {message[:300]!r}"))
        elif not refused and case.kind == "reject":
            failures.append((case.what, outcome, "accepted"))
    elapsed = time.monotonic() - started
    print(
        f"\n{len(all_cases)} cases in {elapsed:.1f} s; outcomes: "
        + "; ".join(f"{k}: {dict(v)}" for k, v in counts.items())
    )
    summary = collections.Counter((w, o, m[:120]) for w, o, m in failures)
    assert not failures, summary.most_common(40)

    ready = http.client.HTTPConnection(server["host"], timeout=10)
    ready.request("GET", "/v2/health/ready")
    assert ready.getresponse().status == 200
    assert send(Case("any", "valid", valid), rest, stub)[0] == "200"
    log = server["log"].read_text()
    assert "Traceback" not in log
    assert max(len(line) for line in log.splitlines()) < 2000


@pytest.mark.parametrize("place", ["id", "parameter", "input name", "output name"])
def test_a_lone_surrogate_is_a_400_naming_where(server, metadata, place):
    """JSON may escape a lone surrogate and FastAPI keeps it, but no response can carry it:
    it was a 500 wherever the response echoed or quoted it."""
    body: dict = {"id": "x", "inputs": valid_inputs(metadata, 1)}
    if place == "id":
        body["id"] = "\ud800"
    elif place == "parameter":
        body["parameters"] = {"p": "\ud800"}
    elif place == "input name":
        body["inputs"][0]["name"] = "\ud800"
    else:
        body["outputs"] = [{"name": "\ud800"}]
    headers = {"Content-Type": "application/json"}  # FastAPI parses the body itself
    status, data = Rest(server["host"]).post(json.dumps(body).encode(), headers)
    assert status == 400
    assert "not valid Unicode" in json.loads(data)["error"]
    assert json.loads(data)["error"].startswith(("request", "input", "output"))
