"""Helpers for tests: free ports, waiting for servers, stopping them by PID."""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import hmac
import json
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from shipyard.processes import free_port, stop_process_group

PROJECT = Path(__file__).resolve().parents[1]
# the outputs a served binary model with contributions and an outlier scorer answers, in order
BINARY_OUTPUTS = [
    "predict",
    "predict_proba",
    "contributions",
    "contributions_base",
    "outlier_score",
    "is_outlier",
]
SHIPYARD = str(Path(sys.executable).parent / "shipyard")  # the command this environment installs
REGISTERED_NAME = "session-model"  # the conftest's one registered version (read-only)
__all__ = [
    "BINARY_OUTPUTS",
    "PROJECT",
    "REGISTERED_NAME",
    "SHIPYARD",
    "Load",
    "call",
    "cloudevent",
    "free_port",
    "get_json",
    "infer",
    "latest",
    "listening",
    "junk",
    "messy_table",
    "mlflow_signed",
    "one_line",
    "post",
    "run_prometheus",
    "shipyard_run",
    "silent_endpoint",
    "stop",
    "wait_for_port",
    "web_server",
]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before listening")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout} s")


def stop(process: subprocess.Popen) -> None:
    """Stop a server started with start_new_session=True: its whole process group, by PID."""
    stop_process_group(process, timeout=15)


@contextlib.contextmanager
def silent_endpoint():
    """``host:port`` of a server that accepts connections and never answers: a listening
    socket nobody reads (the kernel completes the handshakes)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


@contextlib.contextmanager
def listening(command: list[str], port: int):
    """Run a server ``command`` that listens on 127.0.0.1:``port`` in a session of its own;
    yield once it listens, stop it by PID afterwards."""
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        wait_for_port(port, process)
        yield process
    finally:
        stop(process)


@contextlib.contextmanager
def web_server(folder: Path):
    """``host:port`` of a plain web server (``python -m http.server``) serving ``folder``,
    stopped by PID."""
    import sys

    port = free_port()
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    with listening([*command, "--directory", str(folder)], port):
        yield f"127.0.0.1:{port}"


CRD_FILE = PROJECT.parent / "shared" / "crds" / "serving.kserve.io_inferenceservices.yaml"


def inference_service_validator():
    """KServe's CRD schema where the data file is beside the project, else a schema derived
    from the kserve SDK's own model classes (``SdkValidator``): the check never skips."""
    if not CRD_FILE.exists():
        return SdkValidator()
    return _crd_validator()


@dataclass
class SdkError:
    absolute_path: list
    message: str


QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[KMGTPE]i?|[munkMGTPE])?$")


class SdkValidator:
    """Strict structure check of an InferenceService against the kserve SDK classes
    (``openapi_types`` / ``attribute_map``, and the kubernetes client's for core types):
    unknown fields, wrong types and malformed resource quantities are errors."""

    def iter_errors(self, body: dict):
        import kserve

        yield from self._check(body, kserve.V1beta1InferenceService, [])

    def _check(self, value, kind, path):
        import kubernetes.client

        import kserve

        if isinstance(kind, str):
            if kind.startswith("list["):
                if not isinstance(value, list):
                    yield SdkError(path, f"{value!r} is not a list")
                    return
                for i, item in enumerate(value):
                    yield from self._check(item, kind[5:-1], [*path, i])
                return
            if kind.startswith("dict("):
                if not isinstance(value, dict):
                    yield SdkError(path, f"{value!r} is not an object")
                elif path and path[-1] in ("limits", "requests"):
                    for key, quantity in value.items():
                        if not QUANTITY.match(str(quantity)):
                            yield SdkError([*path, key], f"{quantity!r} is not a quantity")
                return
            builtin = {
                "str": str,
                "int": int,
                "bool": bool,
                "float": (int, float),
                "object": object,
                "datetime": str,
            }.get(kind)
            if builtin is not None:
                if not isinstance(value, builtin) or (builtin is int and isinstance(value, bool)):
                    yield SdkError(path, f"{value!r} is not of type {kind}")
                return
            kind = getattr(kserve, kind, None) or getattr(kubernetes.client, kind, None)
            if kind is None:  # a type neither SDK names: accept what the API server decides
                return
        if not isinstance(value, dict):
            yield SdkError(path, f"{value!r} is not an object")
            return
        if path == ["metadata"]:
            return
        fields = {json_name: attr for attr, json_name in kind.attribute_map.items()}
        for key, item in value.items():
            if key not in fields:
                yield SdkError([*path, key], f"additional property {key!r} is not allowed")
                continue
            yield from self._check(item, kind.openapi_types[fields[key]], [*path, key])


@functools.lru_cache(maxsize=1)
def _crd_validator():
    """A strict validator for InferenceService objects from KServe v0.20.0's CRD (a data file
    beside the project): ``additionalProperties: false`` wherever the schema lists properties
    and does not preserve unknown fields, so unknown fields fail as the API server prunes or
    refuses them. Skips the calling test where the file is absent."""
    import jsonschema
    import yaml

    crd = yaml.load(CRD_FILE.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    schema = next(v for v in crd["spec"]["versions"] if v["name"] == "v1beta1")
    schema = schema["schema"]["openAPIV3Schema"]

    def strict(node):
        if isinstance(node, dict):
            if (
                "properties" in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
                and "additionalProperties" not in node
            ):
                node["additionalProperties"] = False
            for value in node.values():
                strict(value)
        elif isinstance(node, list):
            for value in node:
                strict(value)

    strict(schema)
    schema["properties"]["metadata"] = {"type": "object"}
    return jsonschema.Draft7Validator(schema)


def wait_for_http(url: str, process: subprocess.Popen, timeout: float = 120.0) -> None:
    """Until ``url`` answers 200; fails early if the server process exits."""
    from shipyard.processes import wait_for_http as poll

    if not poll(url, timeout, process, interval=0.5):
        raise TimeoutError(f"{url} did not answer within {timeout} s")


def check_pipeline_strictly(docs: list[dict]):
    """Kubeflow's own schema, no unknown field allowed: the spec, its deployment config and the
    kfp-kubernetes platform document if there is one. Returns the parsed PipelineSpec."""
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    spec = json_format.ParseDict(
        docs[0], pipeline_spec_pb2.PipelineSpec(), ignore_unknown_fields=False
    )
    json_format.ParseDict(
        docs[0]["deploymentSpec"],
        pipeline_spec_pb2.PipelineDeploymentConfig(),
        ignore_unknown_fields=False,
    )
    for platform in docs[1:]:
        json_format.ParseDict(
            platform, pipeline_spec_pb2.PlatformSpec(), ignore_unknown_fields=False
        )
    return spec


def messy_table(seed: int, task: str, rows: int = 300):
    """Random columns of every awkward kind; the label depends on several of them."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "ints": rng.integers(-5, 50, rows),  # an integer column, served as FP64
            "floats": rng.normal(10, 3, rows).round(rng.integers(0, 4)),
            "mixed": rng.choice([1, 2.5, 3, 4.25], rows).astype(object),
            "flag": (rng.random(rows) < 0.4).astype(object),
            "color": rng.choice(["red", "green", "blue", "Red ", "ünï"], rows).astype(object),
            # dates as a CSV holds them: text, some with a time of day, one with a zone
            "when": (
                pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 900, rows), "h")
            ).strftime("%Y-%m-%d %H:%M"),
        }
    )
    frame.loc[0, "when"] = "2023-02-03T04:05:06+02:00"
    for name, share in (("floats", 0.1), ("flag", 0.1), ("color", 0.15), ("when", 0.05)):
        frame.loc[rng.random(rows) < share, name] = None
    signal = frame["ints"] / 10 + frame["floats"].fillna(10) / 3 + (frame["flag"] == True)  # noqa: E712
    if task == "regression":
        frame["label"] = signal + rng.normal(0, 0.3, rows)
    else:
        cut = np.quantile(signal, [0.5] if task == "binary" else [0.33, 0.66])
        names = ["no", "yes"] if task == "binary" else ["low", "mid", "high"]
        frame["label"] = np.array(names, dtype=object)[np.searchsorted(cut, signal)]
    return frame


# Helpers for tests that talk to real servers (predictor, detector, router, Prometheus).


def post(
    url: str,
    body: bytes | dict,
    headers: dict | None = None,
    content_type: str = "application/json",
) -> tuple[int, dict]:
    """POST and return (status, parsed JSON body) without raising on 4xx/5xx."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": content_type, **(headers or {})}
    )
    return _answer(request)


def infer(base: str, body: dict, model: str = "fraud") -> dict:
    """The answer of the v2 server at ``base`` to ``body``, asserted to be a 200."""
    status, answer = post(f"{base}/v2/models/{model}/infer", body)
    assert status == 200, answer
    return answer


def get_json(url: str, headers: dict | None = None) -> tuple[int, dict]:
    """GET and return (status, parsed JSON body) without raising on 4xx/5xx."""
    return _answer(urllib.request.Request(url, headers=headers or {}))


def _answer(request: urllib.request.Request) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def call(router: str, body: bytes) -> tuple[str, int]:
    """One request through the router: (where it was routed, HTTP status)."""
    request = urllib.request.Request(
        f"{router}/v2/models/fraud/infer", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.headers["x-shipyard-routed-to"], response.status
    except urllib.error.HTTPError as error:
        return error.headers.get("x-shipyard-routed-to", "?"), error.code


class Load:
    """Clients calling the router until stopped; every answer recorded."""

    def __init__(self, router: str, body: bytes, clients: int = 3):
        self.answers: list[tuple[str, int]] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(router, body)) for _ in range(clients)
        ]

    def _run(self, router, body):
        while not self._stop.is_set():
            self.answers.append(call(router, body))
            time.sleep(0.01)

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join()


def run_prometheus(targets: dict[str, tuple[str, str]], folder):
    """Prometheus (Debian's) on 127.0.0.1 scraping each job's base URL every second with
    the ``model_version`` label given (what the PodMonitor's relabeling attaches on a
    cluster); yields its URL once every target has been scraped, and stops it by PID."""
    import shutil

    from shipyard.local.monitoring import start_prometheus

    if not shutil.which("prometheus"):
        import pytest

        pytest.skip("prometheus is not installed (apt-get install prometheus)")
    server = start_prometheus(
        {job: (url, {"model_version": version}) for job, (url, version) in targets.items()}, folder
    )
    try:
        yield server.url
    finally:
        server.stop()


REQUEST = "org.kubeflow.serving.inference.request"


def cloudevent(
    base: str,
    body: dict,
    kind: str = REQUEST,
    event_id: str = "",
    model: str = "drift",
    token: str | None = None,
):
    """POST as KServe's agent does: binary-mode CloudEvent headers, JSON data; with the
    predictor's ingest token (``token``, else this process's SHIPYARD_INGEST_TOKEN, which
    ``start_detector`` sets; "" sends none)."""
    import os

    token = os.environ.get("SHIPYARD_INGEST_TOKEN", "") if token is None else token
    request = urllib.request.Request(
        f"{base}/v1/models/{model}:predict",
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            "ce-specversion": "1.0",
            "ce-id": event_id or str(uuid.uuid4()),
            "ce-source": "http://localhost:9081/",
            "ce-type": kind,
            "ce-inferenceservicename": "fraud",
            "ce-namespace": "default",
            "ce-component": "predictor",
            "ce-endpoint": "default",
            **({"Authorization": f"Bearer {token}"} if token else {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def latest(base: str, windows: int, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{base}/v1/drift/drift", timeout=5) as response:
            state = json.loads(response.read())
        if state["windows_scored"] >= windows:
            return state
        time.sleep(0.2)
    raise TimeoutError(state)


def shipyard_run(
    pipeline_file: Path, home: Path, *sets: str, **env: str
) -> tuple[int, str, str, float]:
    """`shipyard run --no-serve` in its own process, in ``home`` with no other ``SHIPYARD_*``
    setting than ``env``; (exit code, stdout, stderr, seconds)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    environment.update({"SHIPYARD_HOME": str(home), **env})
    argv = [SHIPYARD, "run", "--no-serve", "--pipeline-file", str(pipeline_file)]
    for item in sets:
        argv += ["--set", item]
    start = time.monotonic()
    done = subprocess.run(argv, env=environment, capture_output=True, text=True, timeout=300)
    return done.returncode, done.stdout, done.stderr, time.monotonic() - start


def one_line(stderr: str) -> str:
    """The one line a command's error is, asserted to be one line and no traceback."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def mlflow_signed(
    body: bytes, secret: str, stamp: int | None = None, delivery: str = ""
) -> dict[str, str]:
    """The headers an MLflow registry webhook delivery of ``body`` carries: its id, its
    timestamp and the HMAC-SHA256 of ``delivery.stamp.body`` with ``secret``."""
    delivery, when = delivery or uuid.uuid4().hex, str(stamp or int(time.time()))
    digest = hmac.new(
        secret.encode(), f"{delivery}.{when}.".encode() + body, hashlib.sha256
    ).digest()
    return {
        "X-MLflow-Delivery-Id": delivery,
        "X-MLflow-Timestamp": when,
        "X-MLflow-Signature": "v1," + base64.b64encode(digest).decode(),
    }


# JSON values a fuzzer puts where a field, a list or a body should be: wrong types, huge and
# tiny numbers, long, empty, NUL, lone-surrogate and path-like strings, nested containers
JUNK = [
    None,
    True,
    -1,
    0,
    2**70,
    -(2**64),
    1e308,
    "",
    "x" * 3000,
    [],
    {},
    [[1, [2]]],
    {"a": {"b": [1]}},
    "é\u0000\ud7ff",
    "\ud800",
    "../../x",
    "fraud&hours=100000",
    [None],
    3.5,
    "NaN",
]


def junk(rng: random.Random) -> object:
    """One of :data:`JUNK`, chosen by ``rng``."""
    return rng.choice(JUNK)
