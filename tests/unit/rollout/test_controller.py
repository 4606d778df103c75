"""Rollout decisions step by step. Traffic here is an in-memory stand-in (the real ones — the
local router and KServe — are tested against a real router and a schema-checking fake API in
their own tests); health is scripted per step, so each decision path is exercised."""

import pytest

from shipyard.errors import ConfigError, RolloutFailed
from shipyard.rollout.controller import RolloutPlan, run_rollout
from shipyard.rollout.gates import Health, Thresholds


class MemoryTraffic:
    def __init__(self, stable=None):
        self.stable, self.canary, self.percent, self.calls = stable, None, 0, []

    def stable_version(self):
        return self.stable

    def route(self, canary, percent):
        self.canary, self.percent = canary, percent
        self.calls.append(("route", percent))

    def wait_ready(self, canary, timeout):
        self.calls.append(("ready", canary))

    def promote(self, canary):
        self.stable, self.canary, self.percent = canary, None, 0
        self.calls.append(("promote", canary))

    def rollback(self, canary):
        self.canary, self.percent = None, 0
        self.calls.append(("rollback", canary))


STABLE = Health(1000, 0.0, 0.01, False)


class ScriptedHealth:
    def __init__(self, canary_by_percent, stable=STABLE):
        self.canary_by_percent, self.stable, self.traffic = canary_by_percent, stable, None

    def begin(self):
        pass

    def health(self, version):
        if version == self.traffic.canary:
            return self.canary_by_percent(self.traffic.percent)
        return self.stable


PLAN = RolloutPlan(
    steps=(10, 50, 100), bake_seconds=2, poll_seconds=1, thresholds=Thresholds(min_requests=20)
)


def rollout(traffic, health, **kwargs):
    health.traffic = traffic
    promoted = []
    report = run_rollout(
        "2",
        traffic,
        health,
        PLAN,
        on_promoted=promoted.append,
        sleep=lambda s: None,
        log=lambda m: None,
        **kwargs,
    )
    return report, promoted


def test_a_healthy_canary_is_promoted_step_by_step():
    traffic = MemoryTraffic(stable="1")
    report, promoted = rollout(traffic, ScriptedHealth(lambda p: Health(p * 10, 0, 0.01, False)))
    assert [c for c in traffic.calls if c[0] == "route"] == [
        ("route", 10),
        ("route", 50),
        ("route", 100),
    ]
    assert report.outcome == "promoted" and promoted == ["2"] and traffic.stable == "2"
    assert all(step.passed for step in report.steps)


def test_a_failing_canary_is_rolled_back_and_the_alias_stays():
    traffic = MemoryTraffic(stable="1")
    health = ScriptedHealth(lambda p: Health(100, 0.0 if p < 50 else 0.3, 0.01, False))
    with pytest.raises(RolloutFailed, match=r"failed at 50 %: error rate canary 30.00%"):
        rollout(traffic, health)
    assert traffic.calls[-1] == ("rollback", "2") and traffic.stable == "1"
    assert ("route", 100) not in traffic.calls


def test_too_little_canary_traffic_fails_after_one_extension():
    traffic = MemoryTraffic(stable="1")
    with pytest.raises(RolloutFailed, match="at least 20 to judge"):
        rollout(traffic, ScriptedHealth(lambda p: Health(3, 0.0, 0.01, False)))
    assert traffic.calls[-1] == ("rollback", "2")


def test_first_deploy_goes_to_100_percent_after_readiness():
    traffic = MemoryTraffic()
    report, promoted = rollout(traffic, ScriptedHealth(lambda p: Health(0, 0, None)))
    assert traffic.calls == [("route", 100), ("ready", "2"), ("promote", "2")]
    assert report.outcome == "first deploy" and promoted == ["2"]


def test_plans_must_step_up_to_100():
    with pytest.raises(ConfigError, match="end at 100"):
        RolloutPlan(steps=(10, 50))
    with pytest.raises(ConfigError, match="increasing"):
        RolloutPlan(steps=(50, 10, 100))
