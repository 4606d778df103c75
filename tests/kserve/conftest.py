"""One real predictor and one real drift detector server per session, on free 127.0.0.1
ports, stopped by PID."""

import json
import os
import subprocess
import sys
import time
import urllib.request

import pytest

from shipyard.data.synthetic import generate_transactions
from shipyard.drift import DriftDetector
from shipyard.schema import infer_schema
from support import PROJECT, free_port, stop


@pytest.fixture(scope="session")
def predictor_server(trained, shipyard_home):
    http_port, grpc_port = free_port(), free_port()
    log = open(shipyard_home / "predictor.log", "w")
    process = subprocess.Popen(
        [sys.executable, str(PROJECT / "kserve" / "predictor_server.py"), "--model_name",
         "fraud", "--model_source", str(trained.bundle_dir), "--http_port", str(http_port),
         "--grpc_port", str(grpc_port), "--host", "127.0.0.1", "--role", "canary"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "SHIPYARD_HOME": str(shipyard_home)})
    base = f"http://127.0.0.1:{http_port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{base}/v2/models/fraud/ready", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            raise RuntimeError("predictor did not become ready:\n"
                               + (shipyard_home / "predictor.log").read_text()[-3000:])
        time.sleep(0.3)
    yield {"base": base, "grpc": f"127.0.0.1:{grpc_port}", "process": process}
    stop(process)
    log.close()


def post(url: str, body: bytes | dict, content_type: str = "application/json"):
    """POST and return (status, parsed JSON body) without raising on 4xx/5xx."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@pytest.fixture(scope="session")
def drift_server(tmp_path_factory, shipyard_home):
    reference = generate_transactions(5000, seed=1)
    schema = infer_schema(reference, "is_fraud")
    folder = DriftDetector.fit(reference, schema).save(tmp_path_factory.mktemp("det") / "d")
    port = free_port()
    log = open(shipyard_home / "drift.log", "w")
    process = subprocess.Popen(
        [sys.executable, str(PROJECT / "kserve" / "drift_server.py"), "--model_name", "drift",
         "--detector_source", str(folder), "--http_port", str(port), "--grpc_port",
         str(free_port()), "--host", "127.0.0.1", "--window_size", "400"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{base}/v2/models/drift/ready", timeout=2):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                stop(process)
                raise RuntimeError((shipyard_home / "drift.log").read_text()[-3000:]) from None
            time.sleep(0.3)
    yield {"base": base, "schema": schema}
    stop(process)
    log.close()
