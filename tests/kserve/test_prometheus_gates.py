"""Rollout gates on a real Prometheus (127.0.0.1) scraping the real predictors and the real
drift detector; and every Grafana dashboard query runs there without error."""

import json
import time
import urllib.parse
import urllib.request

import pytest

from shipyard.data.synthetic import generate_transactions
from shipyard.errors import RolloutFailed
from shipyard.local.router import LocalTraffic
from shipyard.local.servers import v2_request
from shipyard.rollout.controller import RolloutPlan, run_rollout
from shipyard.rollout.gates import Thresholds
from shipyard.rollout.health import PrometheusHealth
from support import PROJECT, Load, cloudevent, latest

PLAN = RolloutPlan(
    steps=(10, 100), bake_seconds=6, poll_seconds=2, thresholds=Thresholds(min_requests=5)
)


@pytest.fixture
def traffic(fleet):
    local = LocalTraffic(fleet["router"], "fraud", fleet["upstreams"])
    local.promote("1")
    return local


def query(prometheus: str, expr: str) -> dict:
    url = f"{prometheus}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def test_an_erroring_canary_is_rolled_back_on_prometheus_numbers(fleet, traffic, body, prometheus):
    health = PrometheusHealth(prometheus, "fraud")
    with Load(fleet["router"], body), pytest.raises(RolloutFailed, match="error rate"):
        run_rollout("3", traffic, health, PLAN, log=lambda m: None)
    assert traffic.stable_version() == "1"


def test_a_canary_whose_traffic_drifts_is_rolled_back(
    fleet, traffic, body, prometheus, drift_server
):
    shifted = generate_transactions(400, seed=77, shift=1.0)
    before = latest(drift_server["base"], 0)["windows_scored"]
    cloudevent(drift_server["base"], v2_request(shifted, drift_server["schema"]))
    latest(drift_server["base"], before + 1)
    deadline = time.monotonic() + 15  # until Prometheus has scraped the drifted window
    while PrometheusHealth(prometheus, "fraud").health("2").drift is not True:
        assert time.monotonic() < deadline, "Prometheus never saw the drift flag"
        time.sleep(0.5)
    with Load(fleet["router"], body), pytest.raises(RolloutFailed, match="drift detected"):
        run_rollout("2", traffic, PrometheusHealth(prometheus, "fraud"), PLAN, log=lambda m: None)
    assert traffic.stable_version() == "1"


def test_every_dashboard_query_runs(prometheus, fleet, body):
    from support import call

    for _ in range(5):
        call(fleet["router"], body)
    time.sleep(2)
    dashboard = json.loads((PROJECT / "manifests" / "base" / "grafana-dashboard.json").read_text())
    answered = 0
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            result = query(prometheus, target["expr"].replace("$model", "fraud"))
            assert result["status"] == "success", (panel["title"], result)
            answered += bool(result["data"]["result"])
    assert answered >= 5  # most panels have data from the live predictors and detector
