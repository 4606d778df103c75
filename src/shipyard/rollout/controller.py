"""Step a canary through its traffic shares, gate each step on measured health, and promote
or roll back. The traffic itself is moved by a :class:`Traffic` — KServe's InferenceService on
a cluster, the local router without one — so one piece of code decides in both places.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from shipyard.errors import ConfigError, RolloutFailed, ShipyardError
from shipyard.rollout.gates import GateResult, Thresholds, enough_traffic, judge
from shipyard.rollout.health import HealthSource


class Traffic(Protocol):
    def stable_version(self) -> str | None:
        """The version serving now (None before the first deploy)."""

    def route(self, canary: str, percent: int) -> None:
        """Send ``percent`` of the traffic to ``canary`` (100 on a first deploy)."""

    def wait_ready(self, canary: str, timeout: float) -> None:
        """Return once ``canary`` is ready for traffic; raise RolloutFailed otherwise."""

    def promote(self, canary: str) -> None:
        """Make ``canary`` the stable version, all traffic on it."""

    def rollback(self, canary: str) -> None:
        """All traffic back to the stable version."""


@dataclass(frozen=True)
class RolloutPlan:
    steps: tuple[int, ...] = (10, 50, 100)
    bake_seconds: float = 300.0
    ready_timeout: float = 600.0
    poll_seconds: float = 5.0
    thresholds: Thresholds = field(default_factory=Thresholds)

    def __post_init__(self) -> None:
        if not self.steps or list(self.steps) != sorted(set(self.steps)):
            raise ConfigError(f"canary steps {list(self.steps)} must be increasing")
        if not all(0 < s <= 100 for s in self.steps) or self.steps[-1] != 100:
            raise ConfigError(f"canary steps {list(self.steps)} must be in 1-100 and end at 100")
        if self.bake_seconds <= 0:
            raise ConfigError("the baking period must be positive")


@dataclass
class StepReport:
    percent: int
    gates: list[GateResult]
    requests: float

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)


@dataclass
class RolloutReport:
    version: str
    previous: str | None
    outcome: str = "pending"  # promoted | rolled back | first deploy
    steps: list[StepReport] = field(default_factory=list)
    reason: str = ""

    def summary(self) -> str:
        lines = [
            f"rollout of version {self.version} (stable: {self.previous or 'none'}): "
            f"{self.outcome}" + (f" — {self.reason}" if self.reason else "")
        ]
        for step in self.steps:
            lines.append(
                f"  {step.percent:>3} % ({step.requests:.0f} canary requests): "
                + "; ".join(str(g) for g in step.gates)
            )
        return "\n".join(lines)


def run_rollout(
    version: str,
    traffic: Traffic,
    health: HealthSource,
    plan: RolloutPlan,
    on_promoted: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    log: Callable[[str], None] = print,
) -> RolloutReport:
    """Roll ``version`` out step by step. Raises RolloutFailed (after rolling back) when a
    gate fails; ``on_promoted`` runs only after full promotion (moves the MLflow alias)."""
    previous = traffic.stable_version()
    report = RolloutReport(version, previous)
    if previous == version:
        raise ConfigError(f"version {version} is already the stable version")
    if previous is None:  # nothing to compare with: readiness is the gate
        traffic.route(version, 100)
        traffic.wait_ready(version, plan.ready_timeout)
        traffic.promote(version)
        report.outcome = "first deploy"
        if on_promoted:
            on_promoted(version)
        return report
    try:
        for percent in plan.steps:
            log(f"canary {version}: {percent} % of the traffic")
            traffic.route(version, percent)
            traffic.wait_ready(version, plan.ready_timeout)
            report.steps.append(_bake(version, previous, health, plan, percent, sleep))
            if not report.steps[-1].passed:
                failed = [g for g in report.steps[-1].gates if not g.passed]
                raise RolloutFailed(
                    f"canary {version} failed at {percent} %: "
                    + "; ".join(f"{g.gate} {g.observed} ({g.limit})" for g in failed)
                )
            log("  " + "; ".join(str(g) for g in report.steps[-1].gates))
    except ShipyardError as exc:
        traffic.rollback(version)
        report.outcome, report.reason = "rolled back", exc.message
        log(report.summary())
        raise RolloutFailed(report.summary()) from exc
    traffic.promote(version)
    report.outcome = "promoted"
    if on_promoted:
        on_promoted(version)
    return report


def _bake(
    version: str,
    previous: str,
    health: HealthSource,
    plan: RolloutPlan,
    percent: int,
    sleep: Callable[[float], None],
) -> StepReport:
    """Wait one baking period (checking every poll, failing fast), then judge it. A period
    with too little canary traffic is extended once; still too little is a failure."""
    health.begin()
    waited, extended = 0.0, False
    while True:
        sleep(plan.poll_seconds)
        waited += plan.poll_seconds
        canary = health.health(version)
        gates = judge(canary, health.health(previous), plan.thresholds)
        judged = enough_traffic(canary, plan.thresholds)
        if judged and not all(g.passed for g in gates):
            return StepReport(percent, gates, canary.requests)  # fail fast
        if waited >= plan.bake_seconds:
            if judged:
                return StepReport(percent, gates, canary.requests)
            if extended:
                return StepReport(
                    percent,
                    [
                        GateResult(
                            "traffic",
                            False,
                            f"{canary.requests:.0f} canary requests",
                            f"at least {plan.thresholds.min_requests} to judge",
                        )
                    ],
                    canary.requests,
                )
            waited, extended = 0.0, True
