"""Where a rollout reads each version's health from: Prometheus (on a cluster, and locally
when one runs), or the predictors' own ``/metrics`` pages (local mode without Prometheus).

Both read the predictor's ``shipyard_predictor_requests_total`` (by ``status``) and
``shipyard_predictor_request_seconds`` histogram, selected by the ``version`` label, and the
drift sidecar's ``shipyard_drift_is_drift``; both compute the p99 the way PromQL's
``histogram_quantile`` does, from bucket increases over the baking period.
"""

from __future__ import annotations

import math
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from shipyard.errors import ServiceUnavailable
from shipyard.http import get_json, get_text
from shipyard.rollout.gates import Health

REQUESTS = "shipyard_predictor_requests_total"
LATENCY = "shipyard_predictor_request_seconds_bucket"
DRIFT = "shipyard_drift_is_drift"


@dataclass(frozen=True)
class ServingMetrics:
    """Where a serving runtime's request count and latency histogram live, and how one
    version's series are selected."""

    requests: str
    latency: str
    status: str  # the label holding the HTTP status
    selector: str  # a format string with {model} and {version}


SHIPYARD_METRICS = ServingMetrics(
    REQUESTS, LATENCY, "status", 'model="{model}",version="{version}"'
)
# MLServer (KServe's stock runtime for sklearn + v2): its own model counters label every
# version "None", so the REST middleware's series are used, selected by the pod's
# model-version label that the PodMonitor turns into `model_version`.
MLSERVER_METRICS = ServingMetrics(
    "rest_server_requests_total",
    "rest_server_request_duration_seconds_bucket",
    "status_code",
    'path="/v2/models/{{model_name}}/infer",model_version="{version}"',
)


class HealthSource(Protocol):
    def begin(self) -> None:
        """Start a baking period."""

    def health(self, version: str) -> Health:
        """What ``version`` did since :meth:`begin`."""


def histogram_quantile(q: float, buckets: dict[float, float]) -> float | None:
    """PromQL's estimate from cumulative bucket counts (upper bound -> count)."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * (rank - below) / max(count - below, 1e-12)
        lower, below = bound, count
    return bounds[-1]


class ScrapedHealth:
    """Reads predictors' (and detectors') ``/metrics`` directly; deltas since :meth:`begin`.

    ``targets`` maps a version to its predictor's base URL and, optionally, its drift
    detector's."""

    def __init__(self, model: str, targets: dict[str, tuple[str, str | None]]) -> None:
        self.model, self.targets = model, targets
        self._start: dict[str, dict] = {}

    def begin(self) -> None:
        self._start = {version: self._read(version) for version in self.targets}

    def health(self, version: str) -> Health:
        now, then = self._read(version), self._start.get(version) or {"requests": {}, "buckets": {}}
        by_status = {s: n - then["requests"].get(s, 0.0) for s, n in now["requests"].items()}
        total = sum(by_status.values())
        errors = sum(n for s, n in by_status.items() if s != "200")
        buckets = {b: n - then["buckets"].get(b, 0.0) for b, n in now["buckets"].items()}
        return Health(
            total, errors / total if total else 0.0, histogram_quantile(0.99, buckets), now["drift"]
        )

    def _read(self, version: str) -> dict:
        predictor, detector = self.targets[version]
        requests: dict[str, float] = {}
        buckets: dict[float, float] = {}
        for sample in _samples(predictor):
            labels = sample.labels
            if labels.get("model") != self.model or labels.get("version") != version:
                continue
            if sample.name == REQUESTS:
                requests[labels["status"]] = requests.get(labels["status"], 0) + sample.value
            elif sample.name == LATENCY:
                bound = float(labels["le"])
                buckets[bound] = buckets.get(bound, 0) + sample.value
        drift = None
        if detector:
            values = [s.value for s in _samples(detector) if s.name == DRIFT]
            drift = bool(max(values)) if values else None
        return {"requests": requests, "buckets": buckets, "drift": drift}


def _samples(base_url: str) -> Iterator[Sample]:
    text = get_text(f"{base_url}/metrics", what="the metrics endpoint")
    for family in text_string_to_metric_families(text):
        yield from family.samples


class PrometheusHealth:
    """PromQL over the baking period. Selects series by ``model``/``version`` labels; the
    detector's ``shipyard_drift_is_drift`` by the ``model_version`` label its scrape config
    (or PodMonitor relabeling) attaches."""

    def __init__(
        self,
        url: str,
        model: str,
        window: str = "5m",
        clock: Callable[[], float] | None = None,
        metrics: ServingMetrics = SHIPYARD_METRICS,
    ) -> None:
        import time

        self.url, self.model, self.window = url.rstrip("/"), model, window
        self.metrics = metrics
        self._clock = clock or time.time
        self._begun: float | None = None

    def begin(self) -> None:
        self._begun = self._clock()

    def _range(self) -> str:
        if self._begun is None:
            return self.window
        return f"{max(int(self._clock() - self._begun), 1)}s"

    def health(self, version: str) -> Health:
        m = self.metrics
        selector = m.selector.format(model=self.model, version=version)
        window = self._range()
        total = self.scalar(f"sum(increase({m.requests}{{{selector}}}[{window}]))") or 0.0
        errors = (
            self.scalar(f'sum(increase({m.requests}{{{selector},{m.status}!="200"}}[{window}]))')
            or 0.0
        )
        p99 = self.scalar(
            f"histogram_quantile(0.99, sum by (le) (increase({m.latency}{{{selector}}}[{window}])))"
        )
        drift = self.scalar(f'max({DRIFT}{{model_version="{version}"}})')
        return Health(
            total, errors / total if total else 0.0, p99, None if drift is None else bool(drift)
        )

    def scalar(self, query: str) -> float | None:
        """The single value of an instant query; None when it returns no series (or NaN)."""
        url = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
        answer = get_json(url, what="Prometheus")
        if answer.get("status") != "success":
            raise ServiceUnavailable(f"Prometheus refused '{query}': {answer.get('error')}")
        result = answer["data"]["result"]
        if not result:
            return None
        value = float(result[0]["value"][1])
        return None if math.isnan(value) else value
