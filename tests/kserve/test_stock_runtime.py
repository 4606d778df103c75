"""KServe's stock runtime where the user asks for it: MLServer's sklearn runtime (what KServe
runs for ``modelFormat: sklearn`` + v2), from its own virtualenv, serving Shipyard's export.
The same v2 requests get the same answers, and the rollout gates read MLServer's metrics
from a real Prometheus: an erroring canary is rolled back, a healthy one promoted."""

import json
import subprocess
import urllib.request

import numpy as np
import pandas as pd
import pytest

from shipyard.data.schema import Schema
from shipyard.errors import RolloutFailed
from shipyard.local.router import LocalTraffic, start_router
from shipyard.local.servers import v2_request
from shipyard.model.bundle import load_bundle
from shipyard.model.export import mlserver_python, write_mlserver_sklearn
from shipyard.processes import free_port, wait_for_http
from shipyard.rollout.controller import RolloutPlan, run_rollout
from shipyard.rollout.gates import Thresholds
from shipyard.rollout.health import MLSERVER_METRICS, PrometheusHealth
from support import PROJECT, Load, run_prometheus, stop

# MLServer's latency histogram has coarse buckets (25, 50, 75 ms ...): with the few canary
# requests of a 10 % step on 2 shared cores, one slow answer moves p99 a whole bucket. The
# ratio allowed here is wider than the default 1.5 for that reason; the gate's wiring is the
# point, and the erroring canary still fails on its error rate.
PLAN = RolloutPlan(
    steps=(10, 100),
    bake_seconds=6,
    poll_seconds=2,
    thresholds=Thresholds(min_requests=5, max_p99_ratio=3.0),
)


@pytest.fixture(scope="module")
def mlservers(trained, broken_bundle, tmp_path_factory):
    """v1 and v2: the session's model; v3: a model needing a feature clients do not send."""
    python = mlserver_python(PROJECT / ".bench" / "mlserver-venv")
    root = tmp_path_factory.mktemp("mlserver")
    servers, processes = {}, []
    try:
        for version, bundle in {
            "1": trained.bundle_dir,
            "2": trained.bundle_dir,
            "3": broken_bundle,
        }.items():
            folder = root / f"v{version}"
            write_mlserver_sklearn(load_bundle(bundle), folder / "fraud", "fraud", version)
            http, metrics = free_port(), free_port()
            (folder / "settings.json").write_text(
                json.dumps(
                    {
                        "host": "127.0.0.1",
                        "http_port": http,
                        "grpc_port": free_port(),
                        "metrics_port": metrics,
                        "parallel_workers": 0,
                    }
                )
            )
            log = open(root / f"v{version}.log", "w")
            processes.append(
                subprocess.Popen(
                    [str(python.parent / "mlserver"), "start", str(folder)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    cwd=folder,
                )
            )
            servers[version] = {
                "url": f"http://127.0.0.1:{http}",
                "metrics": f"http://127.0.0.1:{metrics}",
            }
        for process, server in zip(processes, servers.values(), strict=True):
            assert wait_for_http(f"{server['url']}/v2/models/fraud/ready", 180, process)
        yield servers
    finally:
        for process in processes:
            stop(process)


def infer(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{url}/v2/models/fraud/infer",
        json.dumps(body).encode(),
        {"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, {}


def test_the_export_answers_shipyards_v2_requests_the_same(mlservers, trained, small_data):
    model = load_bundle(trained.bundle_dir)
    rows = pd.read_parquet(small_data["test"]).head(200)
    body = v2_request(rows, Schema.load(small_data["schema"]))  # as Shipyard's clients send
    status, answer = infer(mlservers["1"]["url"], body)
    assert status == 200 and answer["model_version"] == "1"
    assert answer["outputs"][0]["data"] == model.predict(rows).tolist()  # tuned threshold
    status, answer = infer(mlservers["1"]["url"], {**body, "outputs": [{"name": "predict_proba"}]})
    proba = np.array(answer["outputs"][0]["data"]).reshape(-1, 2)
    assert np.allclose(proba, model.predict_proba(rows), atol=1e-6)


@pytest.fixture(scope="module")
def stock_fleet(mlservers, shipyard_home, tmp_path_factory):
    router = start_router("1", mlservers["1"]["url"], shipyard_home / "stock-router.log")
    targets = {f"mlserver-v{v}": (s["metrics"], v) for v, s in mlservers.items()}
    try:
        for prometheus in run_prometheus(targets, tmp_path_factory.mktemp("prom-stock")):
            yield {
                "router": router.base_url,
                "prometheus": prometheus,
                "upstreams": {v: s["url"] for v, s in mlservers.items()},
            }
    finally:
        router.stop()


@pytest.fixture
def stock_traffic(stock_fleet):
    traffic = LocalTraffic(stock_fleet["router"], "fraud", stock_fleet["upstreams"])
    traffic.promote("1")
    return traffic


def test_gates_on_mlserver_metrics_roll_back_an_erroring_canary(stock_fleet, stock_traffic, body):
    health = PrometheusHealth(stock_fleet["prometheus"], "fraud", metrics=MLSERVER_METRICS)
    with (
        Load(stock_fleet["router"], body) as load,
        pytest.raises(RolloutFailed, match="error rate"),
    ):
        run_rollout("3", stock_traffic, health, PLAN, log=lambda m: None)
    assert stock_traffic.stable_version() == "1"
    assert {status for role, status in load.answers if role == "stable"} == {200}


def test_gates_on_mlserver_metrics_promote_a_healthy_canary(stock_fleet, stock_traffic, body):
    # MLServer's first answers after start take ~10x longer; the stable version has served
    # the whole module by now, so warm the canary first, or the p99 gate compares a cold
    # canary with a warm stable (as it should: a cold canary is slower).
    for _ in range(20):
        assert infer(stock_fleet["upstreams"]["2"], json.loads(body))[0] == 200
    health = PrometheusHealth(stock_fleet["prometheus"], "fraud", metrics=MLSERVER_METRICS)
    with Load(stock_fleet["router"], body):
        report = run_rollout("2", stock_traffic, health, PLAN, log=lambda m: None)
    assert report.outcome == "promoted" and stock_traffic.stable_version() == "2"
    first = report.steps[0]
    assert first.requests >= 5  # counted from MLServer's series for version 2
    assert {g.gate for g in first.gates} == {"error rate", "p99 latency"}  # p99 was measured
