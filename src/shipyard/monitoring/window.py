"""Windows of live traffic for the drift detector, scored off the request path.

Rows arrive from request handlers (:meth:`DriftMonitor.add` only appends to a bounded buffer
and returns); a worker thread cuts windows (by size, or by age once rows have waited
``max_age_seconds``), scores them with the :class:`~shipyard.monitoring.drift.DriftDetector`, and
publishes the result as Prometheus metrics and as :attr:`DriftMonitor.latest`. When traffic
outruns scoring, the oldest rows are dropped, counted and logged once per minute; detector
errors are logged and counted; nothing here raises into a request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import pandas as pd
from prometheus_client import Counter, Gauge

from shipyard.monitoring.drift import DriftDetector, DriftResult
from shipyard.monitoring.inference_log import DropReport

logger = logging.getLogger(__name__)

ROWS_SEEN = Counter("shipyard_drift_rows_seen", "Rows received for drift detection")
ROWS_DROPPED = Counter(
    "shipyard_drift_rows_dropped", "Rows dropped (oldest first) because scoring fell behind"
)
WINDOWS = Counter("shipyard_drift_windows_scored", "Windows scored")
ERRORS = Counter("shipyard_drift_detector_errors", "Windows the detector failed to score")
IS_DRIFT = Gauge("shipyard_drift_is_drift", "1 if the latest window drifted")
FEATURE_DRIFT = Gauge(
    "shipyard_drift_feature_drift", "1 if the feature drifted in the latest window", ("feature",)
)
P_VALUE = Gauge("shipyard_drift_p_value", "Feature p-value in the latest window", ("feature",))
STATISTIC = Gauge(
    "shipyard_drift_statistic", "Feature test statistic in the latest window", ("feature",)
)
LAST_RUN = Gauge("shipyard_drift_last_run_timestamp_seconds", "When the latest window was scored")


@dataclass
class MonitorSettings:
    window_size: int = 500
    max_age_seconds: float = 60.0
    max_buffered_rows: int = 20_000
    min_rows: int = 50  # an aged window smaller than this waits for more rows


@dataclass
class DriftMonitor:
    detector: DriftDetector
    settings: MonitorSettings = field(default_factory=MonitorSettings)
    latest: DriftResult | None = None

    def __post_init__(self) -> None:
        self.scored = self.drift_windows = self.errors = self.dropped = 0
        self._chunks: deque[pd.DataFrame] = deque()  # as they arrived; columnar, no per-row work
        self._size = 0
        self._oldest: float | None = None
        self._lock = threading.Condition()
        self._stopped = False
        self.drops = DropReport("drift window")
        self._worker = threading.Thread(target=self._run, name="drift-scoring", daemon=True)
        self._worker.start()

    def add(self, frame: pd.DataFrame) -> None:
        """Queue rows for scoring; never blocks on the detector."""
        if frame.empty:
            return
        with self._lock:
            if not self._size:
                self._oldest = time.monotonic()
            self._chunks.append(frame)
            self._size += len(frame)
            overflow = max(self._size - self.settings.max_buffered_rows, 0)
            self._take(overflow)
            self.dropped += overflow
            self._lock.notify()
        ROWS_SEEN.inc(len(frame))
        if overflow:
            ROWS_DROPPED.inc(overflow)
            self.drops.add("rows (scoring fell behind; oldest first)", overflow)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._lock.notify()
        self._worker.join(timeout=10)
        self.drops.tick(force=True)

    def _take(self, rows: int) -> list[pd.DataFrame]:
        """Remove the oldest ``rows`` rows (caller holds the lock)."""
        taken: list[pd.DataFrame] = []
        while rows > 0 and self._chunks:
            chunk = self._chunks.popleft()
            if len(chunk) > rows:
                self._chunks.appendleft(chunk.iloc[rows:])
                chunk = chunk.iloc[:rows]
            taken.append(chunk)
            rows -= len(chunk)
            self._size -= len(chunk)
        return taken

    def _next_window(self) -> pd.DataFrame | None:
        with self._lock:
            while not self._stopped:
                aged = (
                    self._oldest is not None
                    and time.monotonic() - self._oldest >= self.settings.max_age_seconds
                )
                if self._size >= self.settings.window_size or (
                    aged and self._size >= self.settings.min_rows
                ):
                    window = self._take(min(self._size, self.settings.window_size))
                    self._oldest = time.monotonic() if self._size else None
                    return pd.concat(window, ignore_index=True)
                self._lock.wait(timeout=min(1.0, self.settings.max_age_seconds))
                self.drops.tick()
        return None

    def _run(self) -> None:
        while (window := self._next_window()) is not None:
            try:
                result = self.detector.score(window)
            except Exception:  # the detector must never take the server down
                logger.exception("drift detector failed on a window of %d rows", len(window))
                self.errors += 1
                ERRORS.inc()
                continue
            self._publish(result)

    def _publish(self, result: DriftResult) -> None:
        self.latest = result
        self.scored += 1
        self.drift_windows += int(result.is_drift)
        WINDOWS.inc()
        IS_DRIFT.set(int(result.is_drift))
        for name in result.p_values:
            P_VALUE.labels(feature=name).set(result.p_values[name])
            STATISTIC.labels(feature=name).set(result.statistics[name])
            FEATURE_DRIFT.labels(feature=name).set(int(result.feature_drift[name]))
        LAST_RUN.set(time.time())

    @property
    def buffered(self) -> int:
        with self._lock:
            return self._size
