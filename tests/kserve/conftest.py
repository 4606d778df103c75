"""One real predictor ModelServer per session, on free 127.0.0.1 ports, stopped by PID."""

import json
import os
import subprocess
import sys
import time
import urllib.request

import pytest

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
