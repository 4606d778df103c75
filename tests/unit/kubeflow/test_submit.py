"""``shipyard submit`` through the real ``kfp.Client``.

FAKED: Kubeflow Pipelines' API server (Go, with MySQL and Argo) cannot run here, so a small
HTTP server on 127.0.0.1 answers the v2beta1 REST calls the client makes. It keeps what it is
sent, checks the pipeline spec strictly with KFP's own protobuf schema, and refuses requests
without the expected bearer token, so the test sees exactly what a real endpoint would get.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from shipyard.cli import main
from shipyard.errors import ConfigError, ServiceUnavailable, ShipyardError
from shipyard.kubeflow.submit import submit
from support import PROJECT, check_pipeline_strictly, free_port

TOKEN = "test-token"


class FakeKfpApi(BaseHTTPRequestHandler):
    experiments: dict[str, dict] = {}
    runs: dict[str, dict] = {}
    recurring: dict[str, dict] = {}
    final_state = "SUCCEEDED"

    def log_message(self, *args) -> None:  # keep pytest's output clean
        pass

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {TOKEN}":
            return True
        self._send(401, {"error": "Unauthorized", "code": 16})
        return False

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if not self._authorized():
            return
        url = urlparse(self.path)
        if url.path == "/apis/v2beta1/healthz":
            return self._send(200, {"multi_user": False})
        if url.path == "/apis/v2beta1/experiments":
            wanted = json.loads(parse_qs(url.query)["filter"][0])["predicates"][0]["stringValue"]
            found = [e for e in self.experiments.values() if e["display_name"] == wanted]
            return self._send(200, {"experiments": found} if found else {})
        if url.path.startswith("/apis/v2beta1/runs/"):
            run = self.runs[url.path.rsplit("/", 1)[1]]
            return self._send(200, {**run, "state": self.final_state})
        self._send(404, {"error": f"no route {url.path}"})

    def do_POST(self) -> None:  # noqa: N802
        if not self._authorized():
            return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        path = urlparse(self.path).path
        if path == "/apis/v2beta1/experiments":
            body["experiment_id"] = f"exp-{len(self.experiments) + 1}"
            self.experiments[body["experiment_id"]] = body
            return self._send(200, body)
        if path in ("/apis/v2beta1/runs", "/apis/v2beta1/recurringruns"):
            try:
                check_pipeline_strictly(spec_documents(body))
            except Exception as exc:
                return self._send(400, {"error": f"invalid pipeline spec: {exc}"})
            if path.endswith("/runs"):
                body.update(run_id=f"run-{len(self.runs) + 1}", state="PENDING")
                self.runs[body["run_id"]] = body
            else:
                body["recurring_run_id"] = f"rec-{len(self.recurring) + 1}"
                self.recurring[body["recurring_run_id"]] = body
            return self._send(200, body)
        self._send(404, {"error": f"no route {path}"})


def spec_documents(body: dict) -> list[dict]:
    """With a platform spec (kfp-kubernetes) the client nests both under ``pipeline_spec``."""
    spec = body["pipeline_spec"]
    if "pipeline_spec" in spec:
        return [spec["pipeline_spec"], spec["platform_spec"]]
    return [spec]


@pytest.fixture
def kfp_api():
    FakeKfpApi.experiments, FakeKfpApi.runs, FakeKfpApi.recurring = {}, {}, {}
    FakeKfpApi.final_state = "SUCCEEDED"
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), FakeKfpApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", FakeKfpApi
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def pipeline_file(tmp_path_factory):
    from training_pipeline import compile_pipeline

    return compile_pipeline(tmp_path_factory.mktemp("ir") / "training_pipeline.yaml")


def test_submit_creates_experiment_run_and_schedule_and_waits(kfp_api, pipeline_file):
    host, api = kfp_api
    result = submit(
        pipeline_file,
        {"rows": 5000, "model_name": "fraud"},
        host=host,
        token=TOKEN,
        experiment="nightly",
        run_name="fraud-1",
        schedule="0 0 3 * * *",
        wait=True,
        timeout=30,
    )
    assert result.state == "SUCCEEDED" and result.run_id == "run-1"
    assert result.url == f"{host}/#/runs/details/run-1"
    assert [e["display_name"] for e in api.experiments.values()] == ["nightly"]
    run = api.runs["run-1"]
    assert run["experiment_id"] == "exp-1" and run["display_name"] == "fraud-1"
    assert run["runtime_config"]["parameters"] == {"rows": 5000, "model_name": "fraud"}
    spec, platform = spec_documents(run)
    assert set(spec["root"]["dag"]["tasks"]) == {"exit-handler-1", "summary-op"}
    guarded = spec["components"]["comp-exit-handler-1"]["dag"]["tasks"]
    assert {"train-op", "register-op"} <= set(guarded)
    assert "platforms" in platform  # the S3 Secret wiring travels with the run
    schedule = api.recurring["rec-1"]
    assert schedule["trigger"]["cron_schedule"]["cron"] == "0 0 3 * * *"
    assert result.recurring_run_id == "rec-1"
    # A second submission reuses the experiment.
    submit(pipeline_file, {}, host=host, token=TOKEN, experiment="nightly")
    assert len(api.experiments) == 1 and api.runs["run-2"]["experiment_id"] == "exp-1"


def test_a_failed_run_is_an_error_naming_it(kfp_api, pipeline_file):
    host, api = kfp_api
    api.final_state = "FAILED"
    with pytest.raises(ShipyardError, match="run run-1 ended FAILED"):
        submit(pipeline_file, {}, host=host, token=TOKEN, wait=True, timeout=30)


def test_refused_token_and_unreachable_endpoint_say_so(kfp_api, pipeline_file, capsys):
    host, _ = kfp_api
    with pytest.raises(ServiceUnavailable, match="refused the credentials"):
        submit(pipeline_file, {}, host=host, token="wrong", namespace="team-a")
    dead = f"http://127.0.0.1:{free_port()}"
    code = main(
        [
            "--project",
            str(PROJECT),
            "submit",
            "--pipeline-file",
            str(pipeline_file),
            "--host",
            dead,
            "--namespace",
            "team-a",
            "--token",
            TOKEN,
        ]
    )
    assert code == 3
    assert f"cannot submit to Kubeflow Pipelines at {dead}" in capsys.readouterr().err


def test_cli_submit_with_set_parameters(kfp_api, pipeline_file, capsys):
    host, api = kfp_api
    code = main(
        [
            "--project",
            str(PROJECT),
            "submit",
            "--pipeline-file",
            str(pipeline_file),
            "--host",
            host,
            "--token",
            TOKEN,
            "--set",
            "rows=8000",
            "--set",
            "deploy=true",
            "--wait",
        ]
    )
    assert code == 0
    assert api.runs["run-1"]["runtime_config"]["parameters"] == {"rows": 8000, "deploy": True}
    assert "run run-1 (SUCCEEDED)" in capsys.readouterr().out


def test_a_schedule_needs_an_endpoint(pipeline_file, monkeypatch):
    monkeypatch.delenv("KF_PIPELINES_ENDPOINT", raising=False)
    with pytest.raises(ConfigError, match="recurring run needs a Kubeflow Pipelines endpoint"):
        submit(pipeline_file, {}, schedule="0 0 3 * * *")
