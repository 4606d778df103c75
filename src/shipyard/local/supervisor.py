"""Keeping a local sidecar alive: ``shipyard serve --with-drift`` supervises its detector.

On a cluster Kubernetes restarts a sidecar that dies. Locally the detector is a child process
of ``shipyard serve``, so :class:`Supervisor` watches it from a thread of the predictor's
process: when it exits, one log line says how; it is started again on the same port (the
predictor keeps forwarding to the same URL) at most ``max_restarts`` times in any
``window_seconds`` (3 in 60 s by default); one more exit inside the window and it stops
trying, says so in one line, and leaves the predictor serving without drift detection. The
predictor answers throughout: forwarding is fire-and-forget and counts failed posts.

Metrics, in the predictor's own registry (its ``/metrics``):
``shipyard_drift_detector_up`` (1 while the detector runs), ``…_exits_total`` and
``…_restarts_total``, and ``…_supervision_stopped`` (1 once restarts gave up).
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from prometheus_client import Counter, Gauge

from shipyard.errors import ShipyardError, one_line

if TYPE_CHECKING:
    from shipyard.local.servers import LocalPredictor


def _say(line: str) -> None:
    """One line on stderr, stamped, beside the predictor's own log lines."""
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} shipyard: {line}", file=sys.stderr, flush=True)


# set by the supervising process only; with several serving workers (their metrics shared,
# shipyard.serving.workers) its latest value is the one, without a pid label
UP = Gauge(
    "shipyard_drift_detector_up",
    "1 while the supervised drift detector process runs",
    ("detector",),
    multiprocess_mode="mostrecent",
)
EXITS = Counter(
    "shipyard_drift_detector_exits", "Times the supervised drift detector exited", ("detector",)
)
RESTARTS = Counter(
    "shipyard_drift_detector_restarts",
    "Times the supervisor started the drift detector again",
    ("detector",),
)
STOPPED = Gauge(
    "shipyard_drift_detector_supervision_stopped",
    "1 once the detector exited too often and is no longer restarted",
    ("detector",),
    multiprocess_mode="mostrecent",
)


class Process(Protocol):
    """A child's process: ``subprocess.Popen``."""

    @property
    def pid(self) -> int: ...

    def poll(self) -> int | None: ...


class Child(Protocol):
    """A started server: ``LocalPredictor`` (its ``process`` and ``stop``)."""

    @property
    def process(self) -> Process: ...

    @property
    def log(self) -> object: ...

    def stop(self) -> None: ...


ChildT = TypeVar("ChildT", bound=Child)


class Supervisor(Generic[ChildT]):
    """Watch ``child``; on exit start it again with ``start`` within the bound."""

    def __init__(
        self,
        what: str,
        child: ChildT,
        start: Callable[[], ChildT],
        *,
        label: str = "drift",
        max_restarts: int = 3,
        window_seconds: float = 60.0,
        poll_seconds: float = 0.5,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.what, self.name, self.child, self.start = what, label, child, start
        self.max_restarts, self.window_seconds = max_restarts, window_seconds
        self.poll_seconds = poll_seconds
        self.say = say or _say
        self.restarts: deque[float] = deque()  # monotonic times of restarts in the window
        self.gave_up = False
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._watch, name=f"supervise-{label}", daemon=True)
        UP.labels(label).set(1)
        STOPPED.labels(label).set(0)
        EXITS.labels(label)
        RESTARTS.labels(label)

    def begin(self) -> Supervisor[ChildT]:
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop watching, then stop the child (also one being started right now)."""
        self._stopping.set()
        self._thread.join(timeout)
        with self._lock:
            self.child.stop()
        UP.labels(self.name).set(0)

    def _watch(self) -> None:
        while not self._stopping.wait(self.poll_seconds):
            code = self.child.process.poll()
            if code is None:
                continue
            UP.labels(self.name).set(0)
            EXITS.labels(self.name).inc()
            if not self._restart(code):
                return

    def _restart(self, code: int) -> bool:
        """Start the child again, within the bound; False once given up or stopping."""
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        pid = getattr(self.child.process, "pid", "?")
        while not self._stopping.is_set():
            now = time.monotonic()
            while self.restarts and now - self.restarts[0] > self.window_seconds:
                self.restarts.popleft()
            if len(self.restarts) >= self.max_restarts:
                self.gave_up = True
                STOPPED.labels(self.name).set(1)
                self.say(
                    f"{self.what} (pid {pid}) {how}; it was restarted "
                    f"{self.max_restarts} times within {self.window_seconds:g} s, so it "
                    f"stays down: the predictor keeps serving without it (its log: "
                    f"{self.child.log})"
                )
                return False
            self.restarts.append(now)
            RESTARTS.labels(self.name).inc()
            self.say(
                f"{self.what} (pid {pid}) {how}; restarting it ({len(self.restarts)} of "
                f"{self.max_restarts} within {self.window_seconds:g} s; its log: "
                f"{self.child.log})"
            )
            began = time.monotonic()
            try:
                child = self.start()
            except ShipyardError as exc:
                self.say(f"{self.what} did not start again: {one_line(exc)}")
                how, pid = "failed to start", "-"
                continue
            with self._lock:
                if self._stopping.is_set():  # stop() came while it started
                    child.stop()
                    return False
                self.child = child
            UP.labels(self.name).set(1)
            self.say(
                f"{self.what} restarted (pid {child.process.pid}) in "
                f"{time.monotonic() - began:.1f} s"
            )
            return True
        return False


def supervise_detector(
    source: str, log: Path, host: str, port: int, name: str = "drift", **limits: Any
) -> Supervisor[LocalPredictor]:
    """Start the drift detector on ``host:port`` and supervise it (restarts on the same port,
    where the predictor forwards; its log appended to). The detector ends when this process
    does, ``kill -9`` included (``processes.die_with_parent``), so it never keeps the port."""
    import os

    from shipyard.local.servers import start_detector
    from shipyard.processes import PARENT_PID_ENV, free_port

    port = port or free_port(host)
    env = {PARENT_PID_ENV: str(os.getpid())}
    first = start_detector(source, name, log, host, port, env=env)
    return Supervisor(
        "drift detector",
        first,
        lambda: start_detector(source, name, log, host, port, append_log=True, env=env),
        label=name,
        **limits,
    ).begin()
