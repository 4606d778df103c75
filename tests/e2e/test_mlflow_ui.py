"""`shipyard ui`: the real MLflow server on the local store, on 127.0.0.1, showing the
registered model through its REST API, and gone after Ctrl-C."""

import os
import signal
import subprocess
import time

import pytest

from shipyard.http import get_json, get_text
from shipyard.processes import listen_problem, stop_process_group
from support import SHIPYARD, free_port

pytestmark = pytest.mark.e2e


def read_line_with(process: subprocess.Popen, text: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        seen.append(line)
        if text in line:
            return line
    raise AssertionError(f"no {text!r} within {timeout} s: {''.join(seen)}")


def test_ui_serves_the_local_store_and_stops_on_ctrl_c(trained):
    import mlflow
    from mlflow import MlflowClient

    from shipyard.registry.tracking import configure

    configure()
    version = mlflow.register_model(trained.model_uri, "ui-demo").version
    MlflowClient().set_registered_model_alias("ui-demo", "champion", version)

    port = free_port()
    process = subprocess.Popen(
        [SHIPYARD, "ui", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = read_line_with(process, "MLflow UI: ", timeout=240)
        address = f"http://127.0.0.1:{port}"
        assert line.startswith(f"MLflow UI: {address} ")
        model = get_json(f"{address}/api/2.0/mlflow/registered-models/get?name=ui-demo")
        assert model["registered_model"]["name"] == "ui-demo"
        aliases = model["registered_model"]["aliases"]
        assert {"alias": "champion", "version": str(version)} in aliases
        assert "<html" in get_text(f"{address}/").lower()  # the UI's page itself

        process.send_signal(signal.SIGINT)  # Ctrl-C
        out, _ = process.communicate(timeout=60)
        assert process.returncode == 0, out
        assert "MLflow UI stopped" in out
        assert listen_problem("127.0.0.1", port) is None  # the server's port is free again
    finally:
        stop_process_group(process)
