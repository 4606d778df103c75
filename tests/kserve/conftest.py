"""One real predictor and one real drift detector server per session, on free 127.0.0.1
ports, stopped by PID."""

import json
import urllib.request

import pytest

from shipyard.data.synthetic import generate_transactions
from shipyard.drift import DriftDetector
from shipyard.schema import infer_schema
from shipyard.serving.local import start_detector, start_predictor
from support import PROJECT, free_port


@pytest.fixture(scope="session")
def predictor_server(trained, shipyard_home):
    """The image's entrypoint script, as a canary, on free 127.0.0.1 ports."""
    grpc_port = free_port()
    server = start_predictor(str(trained.bundle_dir), "fraud", shipyard_home / "predictor.log",
                             grpc_port=grpc_port, role="canary",
                             entrypoint=PROJECT / "kserve" / "predictor_server.py")
    yield {"base": server.base_url, "grpc": f"127.0.0.1:{grpc_port}", "process": server.process}
    server.stop()


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
    server = start_detector(str(folder), "drift", shipyard_home / "drift.log", window_size=400,
                            entrypoint=PROJECT / "kserve" / "drift_server.py")
    yield {"base": server.base_url, "schema": schema}
    server.stop()
