"""A seeded, bounded fuzz of a real ``shipyard trigger serve`` process on 127.0.0.1: requests
built byte by byte (so that framing, headers and paths can be wrong too) on every route, with
and without the token or MLflow's signature, bodies from valid payloads mutated.

Every case must be answered — no connection closed without an answer — and never with a 5xx;
every JSON refusal says what is wrong in under 300 characters; cases meant to be refused are
refused (a 4xx). Afterwards the server is healthy and has logged no traceback. Runs cannot
start anything here: the pipeline file does not exist, so a triggered run fails at once.
"""

from __future__ import annotations

import json
import random
import socket
import time
from collections import Counter
from dataclasses import dataclass

import pytest

from shipyard.processes import console_script, free_port, start_server, stop_process_group
from support import junk, mlflow_signed

SEED, CASES, TIME_LIMIT = 20261205, 4000, 60.0
TOKEN, SECRET = "fuzz-t0ken", "fuzz-secret"
HOST = b"Host: x\r\nConnection: close\r\n"
ROUTES = ("/alertmanager", "/mlflow", "/run/fraud", "/decisions", "/healthz", "/metrics")


@dataclass
class Case:
    what: str
    raw: bytes
    refuse: bool  # must be a 4xx


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("trigger-fuzz")
    port = free_port()
    log = folder / "trigger.log"
    command = [console_script("shipyard"), "trigger", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--pipeline-file", str(folder / "absent.yaml")]
    process = start_server(
        command,
        log,
        f"http://127.0.0.1:{port}/healthz",
        "trigger",
        60,
        {
            "SHIPYARD_HOME": str(folder / "home"),
            "SHIPYARD_TRIGGER_TOKEN": TOKEN,
            "SHIPYARD_TRIGGER_MLFLOW_SECRET": SECRET,
            "SHIPYARD_TRIGGER_READ_TIMEOUT_SECONDS": "5",
            "SHIPYARD_TRIGGER_COOLDOWN_SECONDS": "0",
        },
    )
    yield {"port": port, "log": log}
    stop_process_group(process)


def request(
    method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if "Content-Length" not in (headers or {}) and "Transfer-Encoding" not in (headers or {}):
        lines.append(f"Content-Length: {len(body)}")
    return "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + body


def alertmanager_body(rng: random.Random) -> dict:
    return {
        "version": "4",
        "status": "firing",
        "alerts": [
            {
                "status": rng.choice(["firing", "resolved"]),
                "fingerprint": f"fp{rng.randrange(50)}",
                "labels": {
                    "alertname": rng.choice(
                        ["ShipyardDriftDetected", "ShipyardModelDecay", "Other"]
                    ),
                    "model": rng.choice(["fraud", "churn", ""]),
                },
            }
            for _ in range(rng.randint(0, 4))
        ],
    }


def mlflow_body(rng: random.Random) -> dict:
    return {
        "entity": "model_version_alias",
        "action": rng.choice(["created", "deleted"]),
        "data": {"name": "fraud", "alias": rng.choice(["retrain", "champion"]), "version": "3"},
    }


def mutate(rng: random.Random, value: object) -> object:
    """Replace one value somewhere in ``value`` (a JSON document) with junk."""
    if isinstance(value, dict) and value and rng.random() < 0.7:
        key = rng.choice(sorted(value))
        return {**value, key: mutate(rng, value[key])}
    if isinstance(value, list) and value and rng.random() < 0.7:
        i = rng.randrange(len(value))
        return [*value[:i], mutate(rng, value[i]), *value[i + 1 :]]
    return junk(rng)


def body_bytes(rng: random.Random, document: object) -> tuple[bytes, bool]:
    """(body, whether it is surely malformed)."""
    choice = rng.randrange(10)
    if choice == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randint(1, 300))), False
    if choice == 1:
        depth = rng.choice([50, 5000, 200_000])
        return b"[" * depth + b"]" * depth, True
    if choice == 2:
        return json.dumps(document).encode()[: rng.randint(0, 40)], False
    if choice == 3:
        return rng.choice([b"[1]", b"null", b'"x"', b"1" * 5000, b"{" * 3, b"\xff\xfe{}"]), True
    if choice == 4:
        return json.dumps(document, ensure_ascii=False).encode("utf-8", "surrogatepass"), False
    return json.dumps(mutate(rng, document)).encode(), False


def make_case(rng: random.Random) -> Case:
    kind = rng.randrange(12)
    token = {"Authorization": f"Bearer {TOKEN}"}
    if kind == 0:  # framing the parser refuses
        raw = rng.choice(
            [
                b"POST /alertmanager HTTP/1.1\r\n" + HOST + b"Content-Length: -1\r\n\r\n",
                b"POST /alertmanager HTTP/1.1\r\n" + HOST + b"Content-Length: abc\r\n\r\n",
                b"POST /run/fraud HTTP/1.1\r\n" + HOST + b"Content-Length: 1\r\nContent-Length: 2"
                b"\r\n\r\nab",
                b"POST /run/fraud HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n\r\n"
                b"zz\r\nab\r\n0\r\n\r\n",
                b"GET /healthz HTTP/1.1\r\n" + HOST + b"no colon here\r\n\r\n",
                b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\n" + HOST + b"\r\n",
                b"GET /r\xffn HTTP/1.1\r\n" + HOST + b"\r\n",
                b"BREW /healthz HTCPCP/1.0\r\n\r\n",
                b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 40,
            ]
        )
        return Case("framing", raw, True)
    if kind == 11 and rng.random() < 0.2:  # headers far over h11's 16 KiB (one read may exceed it)
        raw = b"GET /healthz HTTP/1.1\r\n" + HOST + b"X: " + b"v" * 1_000_000 + b"\r\n\r\n"
        return Case("huge headers", raw, True)
    if kind == 1:  # no or a wrong token on a write path
        route = rng.choice(["/alertmanager", "/run/fraud", "/decisions", "/mlflow"])
        header = rng.choice(
            [
                {},
                {"Authorization": "Bearer nope"},
                {"Authorization": "Bearer " + "\xff" * 10},
                {"Authorization": TOKEN},
                {"Authorization": f"bearer {TOKEN} "},
                {"X-MLflow-Signature": "v1,abc", "X-MLflow-Timestamp": "1"},
            ]
        )
        method = "GET" if route == "/decisions" else "POST"
        return Case("unauthenticated", request(method, route, b"{}", header), True)
    if kind == 2:  # a declared size over the limit
        route = rng.choice(["/alertmanager", "/run/fraud"])
        head = {**token, "Content-Length": str(rng.choice([(1 << 20) + 1, 10**12]))}
        return Case("too large", request("POST", route, b"", head), True)
    if kind == 3:  # model names
        name = rng.choice(
            [
                "fraud&hours=100000",
                "fraud/../../x",
                "%2e%2e%2fx",
                "fr%00aud",
                "x" * 5000,
                "Fraud",
                "-fraud",
                "fraud-",
                "fr aud".replace(" ", "%20"),
                "%ff",
                "",
            ]
        )
        return Case("model name", request("POST", f"/run/{name}", b"{}", token), True)
    if kind == 4:  # chunked bodies
        document = alertmanager_body(rng)
        data = json.dumps(mutate(rng, document) if rng.random() < 0.5 else document).encode()
        pieces = [data[i : i + 7] for i in range(0, len(data), 7)]
        body = b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in pieces) + b"0\r\n\r\n"
        headers = {**token, "Transfer-Encoding": "chunked"}
        return Case("chunked", request("POST", "/alertmanager", body, headers), False)
    if kind == 5:  # signed MLflow events, mutated
        document = mlflow_body(rng)
        body, bad = body_bytes(rng, document)
        signed = request("POST", "/mlflow", body, mlflow_signed(body, SECRET))
        return Case("mlflow signed", signed, bad)
    if kind == 6:  # other methods and routes
        method = rng.choice(["PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "GET", "POST"])
        path = rng.choice([*ROUTES, "/", "/nope", "/run", "/run/", "/decisions?x=1", "//x"])
        return Case("route", request(method, path, b"", token), False)
    if kind == 7:  # /run bodies
        body, bad = body_bytes(rng, {"reason": "fuzz"})
        return Case("run body", request("POST", "/run/fraud", body, token), bad)
    body, bad = body_bytes(rng, alertmanager_body(rng))
    return Case("alertmanager body", request("POST", "/alertmanager", body, token), bad)


def exchange(port: int, raw: bytes) -> bytes:
    """Send ``raw`` and read the answer until the server closes (``Connection: close``)."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        try:
            sock.sendall(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered and closed before reading everything: the answer is still there
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def test_trigger_routes_survive_a_seeded_fuzz(server):
    rng = random.Random(SEED)
    tally: Counter = Counter()
    failures = []
    started = time.monotonic()
    for n in range(CASES):
        if time.monotonic() - started > TIME_LIMIT:
            break
        case = make_case(rng)
        answer = exchange(server["port"], case.raw)
        tally[case.what] += 1
        if not answer.startswith(b"HTTP/1.1 "):
            failures.append((n, case.what, "no answer", case.raw[:120]))
            continue
        status = int(answer[9:12])
        tally[status // 100 * 100] += 1
        head, _, body = answer.partition(b"\r\n\r\n")
        if status >= 500:
            failures.append((n, case.what, status, case.raw[:120], body[:200]))
        elif case.refuse and status < 400:
            failures.append((n, case.what, f"accepted ({status})", case.raw[:120]))
        elif status >= 400 and body.startswith(b"{"):
            error = json.loads(body).get("error", "")
            if not error or len(error) > 300:
                failures.append((n, case.what, "refusal unexplained", body[:300]))
    took = time.monotonic() - started
    print(
        f"{sum(v for k, v in tally.items() if isinstance(k, str))} cases in {took:.1f} s: "
        f"{dict(tally)}"
    )
    assert not failures, sorted({(f[1], str(f[2])) for f in failures})
    assert sum(v for k, v in tally.items() if isinstance(k, str)) >= 300
    assert exchange(server["port"], request("GET", "/healthz")).startswith(b"HTTP/1.1 200")
    log = server["log"].read_text()
    assert "Traceback" not in log and "Exception in ASGI application" not in log
