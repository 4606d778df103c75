"""Local canary end to end: real predictors (v1 stable, v2 healthy canary, v3 a canary that
needs a feature clients do not send, so it answers 400) behind the real local router, the
rollout driven by the same controller and gates as on a cluster, health read from the
predictors' own /metrics."""

import json
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from shipyard.errors import RolloutFailed
from shipyard.rollout.controller import RolloutPlan, run_rollout
from shipyard.rollout.gates import Thresholds
from shipyard.rollout.health import ScrapedHealth
from shipyard.rollout.local_router import LocalTraffic, Split, Upstream, start_router
from shipyard.schema import Schema, infer_schema
from shipyard.serving.local import start_predictor, v2_request

PLAN = RolloutPlan(steps=(10, 50, 100), bake_seconds=3, poll_seconds=0.5,
                   thresholds=Thresholds(min_requests=10))


@pytest.fixture(scope="module")
def broken_bundle(small_data, tmp_path_factory):
    """A model that needs 'device_score', which the clients' requests lack."""
    from shipyard.training import train

    folder = tmp_path_factory.mktemp("broken")
    rng = np.random.default_rng(3)
    for part in ("train", "test"):
        frame = pd.read_parquet(small_data[part])
        frame["device_score"] = rng.normal(size=len(frame))
        frame.to_parquet(folder / f"{part}.parquet")
    infer_schema(pd.read_parquet(folder / "train.parquet"), "is_fraud").save(
        folder / "schema.json")
    return train(folder / "train.parquet", folder / "test.parquet", folder / "schema.json",
                 folder / "bundle", "xgboost", {"n_estimators": 10}, threshold=0.5,
                 pipeline_run_id="broken").bundle_dir


@pytest.fixture(scope="module")
def fleet(trained, broken_bundle, shipyard_home):
    servers = {}
    try:
        bundles = {"1": trained.bundle_dir, "2": trained.bundle_dir, "3": broken_bundle}
        with ThreadPoolExecutor(3) as pool:  # start the three together
            started = {v: pool.submit(start_predictor, str(b), "fraud",
                                      shipyard_home / f"canary-v{v}.log", model_version=v)
                       for v, b in bundles.items()}
            servers.update({v: future.result() for v, future in started.items()})
        router = start_router("1", servers["1"].base_url, shipyard_home / "router.log")
        servers["router"] = router
        yield {"router": router.base_url,
               "upstreams": {v: s.base_url for v, s in servers.items() if v != "router"}}
    finally:
        for server in servers.values():
            server.stop()


@pytest.fixture
def traffic(fleet):
    local = LocalTraffic(fleet["router"], "fraud", fleet["upstreams"])
    local._put(Split(Upstream("1", fleet["upstreams"]["1"])))  # every test starts on v1
    return local


@pytest.fixture(scope="module")
def body(small_data):
    rows = pd.read_parquet(small_data["test"]).head(1)
    return json.dumps(v2_request(rows, Schema.load(small_data["schema"]))).encode()


def call(router: str, body: bytes) -> tuple[str, int]:
    request = urllib.request.Request(f"{router}/v2/models/fraud/infer", data=body,
                                     headers={"Content-Type": "application/json"})
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
        self._threads = [threading.Thread(target=self._run, args=(router, body))
                         for _ in range(clients)]

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


@pytest.mark.parametrize("percent", [10, 50])
def test_1000_requests_split_within_3_percent(fleet, traffic, body, percent):
    traffic.route("2", percent)
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: call(fleet["router"], body), range(1000)))
    counts = Counter(role for role, _ in answers)
    assert all(status == 200 for _, status in answers)
    assert abs(counts["canary"] / 1000 - percent / 100) <= 0.03


def test_a_healthy_canary_is_promoted_step_by_step(fleet, traffic, body):
    health = ScrapedHealth("fraud", {v: (url, None) for v, url in fleet["upstreams"].items()})
    with Load(fleet["router"], body) as load:
        report = run_rollout("2", traffic, health, PLAN, log=lambda m: None)
    assert report.outcome == "promoted" and [s.percent for s in report.steps] == [10, 50, 100]
    assert all(s.passed and s.requests >= 10 for s in report.steps)
    assert traffic.stable_version() == "2" and traffic.split().canary is None
    assert {status for _, status in load.answers} == {200}


def test_a_failing_canary_is_rolled_back_and_stable_never_fails(fleet, traffic, body):
    health = ScrapedHealth("fraud", {v: (url, None) for v, url in fleet["upstreams"].items()})
    with Load(fleet["router"], body) as load:
        start = time.monotonic()
        with pytest.raises(RolloutFailed, match="error rate canary 100.00%") as failure:
            run_rollout("3", traffic, health, PLAN, log=lambda m: None)
        took = time.monotonic() - start
        time.sleep(0.5)  # traffic after the rollback, too
    assert took < PLAN.bake_seconds  # failed fast, within one baking period
    assert "rolled back" in str(failure.value)
    assert traffic.stable_version() == "1" and traffic.split().canary is None
    stable = [status for role, status in load.answers if role == "stable"]
    canary = [status for role, status in load.answers if role == "canary"]
    assert stable and set(stable) == {200}
    assert canary and set(canary) == {400}
    assert call(fleet["router"], body) == ("stable", 200)
