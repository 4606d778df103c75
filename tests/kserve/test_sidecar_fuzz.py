"""A seeded, bounded fuzz of a real drift sidecar on 127.0.0.1: malformed CloudEvents and v2
bodies on its row routes (with and without the ingest token), and malformed label posts
(with and without the label token).

Every case must be answered — no 5xx, no dropped connection — and every refusal must say what
is wrong in under 1 KB. Afterwards the sidecar must be ready, take a valid event, and have
logged no traceback.
"""

from __future__ import annotations

import collections
import http.client
import json
import random
import time

import pytest

from shipyard.data.schema import infer_schema
from shipyard.data.synthetic import generate_transactions
from shipyard.local.servers import start_detector, v2_request
from shipyard.monitoring.drift import DriftDetector
from support import junk

SEED, ROW_CASES, LABEL_CASES = 20261207, 1500, 1500
MAX_MESSAGE = 1024
INGEST, LABEL = "fuzz-ingest-token-0123456789abcdef", "fuzz-label-token-0123456789abcdef"
REQUEST = "org.kubeflow.serving.inference.request"
RESPONSE = "org.kubeflow.serving.inference.response"


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory, shipyard_home):
    reference = generate_transactions(2000, seed=11)
    schema = infer_schema(reference, "is_fraud")
    folder = DriftDetector.fit(reference, schema).save(tmp_path_factory.mktemp("fuzz") / "d")
    env = {
        "SHIPYARD_INGEST_TOKEN": INGEST,
        "SHIPYARD_LABEL_TOKEN": LABEL,
        "SHIPYARD_INFERENCE_LOG_URI": str(tmp_path_factory.mktemp("fuzz-log")),
        "SHIPYARD_MODEL_VERSION": "1",
    }
    server = start_detector(str(folder), "drift", shipyard_home / "sidecar-fuzz.log", env=env)
    yield {"server": server, "schema": schema, "rows": reference.drop(columns="is_fraud")}
    server.stop()


def row_case(rng: random.Random, valid: dict) -> tuple[str, bytes, dict]:
    body = json.loads(json.dumps(valid))
    headers = {"Content-Type": "application/json", "ce-specversion": "1.0"}
    headers["ce-type"] = rng.choice([REQUEST, REQUEST, RESPONSE, "com.example.x", ""])
    headers["ce-id"] = rng.choice(["1", "same", "", "x" * 400, str(rng.random())])
    if rng.random() < 0.85:
        headers["Authorization"] = f"Bearer {INGEST}"
    elif rng.random() < 0.5:
        headers["Authorization"] = rng.choice(["Bearer", "Bearer wrong", "Basic abc", "\u00e9"])
    op = rng.randrange(10)
    target = body["inputs"][rng.randrange(len(body["inputs"]))]
    if op == 0:
        target[rng.choice(["name", "shape", "datatype", "data"])] = junk(rng)
    elif op == 1:
        body[rng.choice(["inputs", "id", "parameters", "outputs"])] = junk(rng)
    elif op == 2:
        body["parameters"] = {"shipyard_requests": rng.choice(["[[1", '[["a", 1e9]]', "[]"])}
    elif op == 3:
        body["outputs"] = [
            {"name": "predict", "shape": junk(rng), "data": junk(rng)},
            {"name": "predict_proba", "shape": [1, junk(rng)], "data": junk(rng)},
        ]
    elif op == 4:
        return "deep", b"[" * 50_000 + b"]" * 50_000, headers
    elif op == 5:
        return "truncated", json.dumps(body).encode()[: rng.randrange(1, 50)], headers
    elif op == 6:
        del target["data"]
    data = json.dumps(body).encode()
    return "mutated", data, headers


def label_case(rng: random.Random) -> tuple[str, bytes, dict]:
    headers = {"Content-Type": "application/json"}
    if rng.random() < 0.85:
        headers["Authorization"] = f"Bearer {LABEL}"
    items = [
        {
            "id": rng.choice(["1", "same", "never", junk(rng)]),
            "row": rng.choice([0, 1, -1, 2**70, 1.5, junk(rng)]),
            "label": rng.choice([0, 1, True, "maybe", 7, None, junk(rng)]),
            **({"correct": junk(rng)} if rng.random() < 0.2 else {}),
        }
        for _ in range(rng.randint(0, 5))
    ]
    op = rng.randrange(6)
    if op == 0:
        return "deep", b'{"labels": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", headers
    if op == 1:
        return "junk", json.dumps(junk(rng)).encode(), headers
    if op == 2:
        return "not JSON", bytes(rng.randrange(256) for _ in range(rng.randint(1, 60))), headers
    body: object = {"labels": items} if op != 3 else items
    if op == 4:
        body = {"labels": items, "correct": junk(rng)}
    return "labels", json.dumps(body).encode(), headers


def post(host: str, path: str, body: bytes, headers: dict) -> tuple[int, str]:
    """A fresh connection per case: a dropped connection is a failure, not a retry."""
    connection = http.client.HTTPConnection(host, timeout=30)
    try:
        connection.request("POST", path, body, headers)
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    if response.status == 200:
        return 200, ""
    try:
        message = json.loads(data).get("error")
    except (ValueError, AttributeError):
        message = None
    return response.status, message if isinstance(message, str) else data.decode("latin-1")


def test_fuzz_sidecar_routes(sidecar):
    server = sidecar["server"]
    host = server.base_url.removeprefix("http://")
    valid = v2_request(sidecar["rows"].head(2), sidecar["schema"], "1")
    rng = random.Random(SEED)
    paths = ["/v1/models/drift:predict", "/v2/models/drift/infer"]
    cases = [(rng.choice(paths), *row_case(rng, valid)) for _ in range(ROW_CASES)]
    cases += [("/v1/labels/drift", *label_case(rng)) for _ in range(LABEL_CASES)]
    counts: collections.Counter = collections.Counter()
    failures = []
    started = time.monotonic()
    for path, what, body, headers in cases:
        try:
            status, message = post(host, path, body, headers)
        except (http.client.HTTPException, OSError) as error:
            failures.append((path, what, "connection", repr(error)[:200]))
            continue
        counts[(path, status)] += 1
        if status >= 500:
            failures.append((path, what, status, message[:200]))
        elif status != 200 and (not message or len(message.encode()) >= MAX_MESSAGE):
            failures.append((path, what, status, f"message: {message[:200]!r}"))
    print(
        f"\n{len(cases)} cases in {time.monotonic() - started:.1f} s; "
        + ", ".join(f"{p} {s}: {n}" for (p, s), n in sorted(counts.items()))
    )
    summary = collections.Counter((p, w, s, m[:100]) for p, w, s, m in failures)
    assert not failures, summary.most_common(30)

    ready = http.client.HTTPConnection(host, timeout=10)
    ready.request("GET", "/v2/models/drift/ready")
    assert ready.getresponse().status == 200
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {INGEST}"}
    assert post(host, "/v2/models/drift/infer", json.dumps(valid).encode(), headers)[0] == 200
    log = server.log.read_text()
    assert "Traceback" not in log
