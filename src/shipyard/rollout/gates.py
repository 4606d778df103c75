"""Health gates that compare a canary with the stable version over one baking period.

A :class:`Health` is what one version did in the period (requests, the share answered with an
error, p99 latency, whether its traffic drifted); :func:`judge` turns the canary's and the
stable version's into pass/fail lines with the observed values, so a rollback can say which
gate failed and by how much.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Thresholds:
    max_error_rate: float = 0.01  # canary's share of non-200 answers
    max_error_rate_over_stable: float = 0.005  # … or at most this much above the stable's
    max_p99_ratio: float = 1.5  # canary p99 at most this times the stable's …
    p99_floor_seconds: float = 0.025  # … unless both are under this (noise, not regressions)
    min_requests: int = 20  # fewer canary requests in a period: not judged, the step waits
    fail_on_drift: bool = True


@dataclass(frozen=True)
class Health:
    requests: float
    error_rate: float
    p99_seconds: float | None
    drift: bool | None = None  # None: no detector reported


@dataclass(frozen=True)
class GateResult:
    gate: str
    passed: bool
    observed: str
    limit: str

    def __str__(self) -> str:
        return f"{'pass' if self.passed else 'FAIL'} {self.gate}: {self.observed} ({self.limit})"


def judge(canary: Health, stable: Health | None, thresholds: Thresholds) -> list[GateResult]:
    """The gates for one step; ``stable`` is None on a first deploy (nothing to compare)."""
    results = []
    allowed = thresholds.max_error_rate
    if stable is not None and stable.requests:
        allowed = max(allowed, stable.error_rate + thresholds.max_error_rate_over_stable)
    results.append(
        GateResult(
            "error rate",
            canary.error_rate <= allowed,
            f"canary {canary.error_rate:.2%} of {canary.requests:.0f} "
            f"requests"
            + (f", stable {stable.error_rate:.2%}" if stable and stable.requests else ""),
            f"at most {allowed:.2%}",
        )
    )
    if canary.p99_seconds is not None and stable is not None and stable.p99_seconds:
        limit = max(stable.p99_seconds * thresholds.max_p99_ratio, thresholds.p99_floor_seconds)
        results.append(
            GateResult(
                "p99 latency",
                canary.p99_seconds <= limit,
                f"canary {1000 * canary.p99_seconds:.1f} ms, stable "
                f"{1000 * stable.p99_seconds:.1f} ms",
                f"at most {1000 * limit:.1f} ms",
            )
        )
    if thresholds.fail_on_drift and canary.drift is not None:
        results.append(
            GateResult(
                "drift",
                not canary.drift,
                "drift detected" if canary.drift else "no drift",
                "no drift in the canary's traffic",
            )
        )
    return results


def enough_traffic(canary: Health, thresholds: Thresholds) -> bool:
    return canary.requests >= thresholds.min_requests
