"""Local canary end to end: the fleet (conftest: v1 stable, v2 healthy canary, v3 a canary
answering 400) behind the real local router, the rollout driven by the same controller and
gates as on a cluster, health read from the predictors' own /metrics."""

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from shipyard.errors import RolloutFailed
from shipyard.local.router import LocalTraffic
from shipyard.rollout.controller import RolloutPlan, run_rollout
from shipyard.rollout.gates import Thresholds
from shipyard.rollout.health import ScrapedHealth
from support import Load, call

PLAN = RolloutPlan(
    steps=(10, 50, 100), bake_seconds=3, poll_seconds=0.5, thresholds=Thresholds(min_requests=10)
)


@pytest.fixture
def traffic(fleet):
    local = LocalTraffic(fleet["router"], "fraud", fleet["upstreams"])
    local.promote("1")  # every test starts on v1
    return local


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


def test_shipyard_serve_with_a_canary_splits_behind_the_router(trained, body, shipyard_home):
    import signal
    import subprocess
    import sys

    from shipyard.processes import free_port, stop_process_group

    port = free_port()
    command = [
        sys.executable,
        "-m",
        "shipyard.cli",
        "serve",
        "--name",
        "fraud",
        "--source",
        str(trained.bundle_dir),
        "--canary-source",
        str(trained.bundle_dir),
        "--canary-percent",
        "30",
        "--http-port",
        str(port),
    ]
    log = open(shipyard_home / "serve-canary.log", "w")
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    router = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if call(router, body)[1] == 200:
                    break
            except OSError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "serve never came up"
            time.sleep(0.5)
        answers = [call(router, body) for _ in range(100)]
        assert {status for _, status in answers} == {200}
        assert abs(Counter(role for role, _ in answers)["canary"] - 30) <= 3
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        stop_process_group(process)
        log.close()
