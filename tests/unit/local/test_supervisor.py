"""The --with-drift supervisor: restarts an exited child within its bound, says so in one
line each time, counts it in the process's Prometheus registry, then gives up and stays up."""

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import REGISTRY

from shipyard.errors import ServiceUnavailable
from shipyard.local.supervisor import Supervisor
from shipyard.processes import stop_process_group


@dataclass
class Child:
    process: subprocess.Popen
    log: Path = Path("child.log")

    def stop(self) -> None:
        stop_process_group(self.process, timeout=5)


def child(code: str = "import time; time.sleep(60)") -> Child:
    return Child(subprocess.Popen([sys.executable, "-c", code], start_new_session=True))


def value(name: str, label: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"detector": label})


def wait_until(check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_killed_child_is_restarted_and_counted():
    lines: list[str] = []
    first = child()
    supervisor = Supervisor(
        "drift detector", first, child, label="t-restart", poll_seconds=0.05, say=lines.append
    ).begin()
    try:
        assert value("shipyard_drift_detector_up", "t-restart") == 1
        os.kill(first.process.pid, signal.SIGKILL)
        wait_until(lambda: supervisor.child is not first)
        wait_until(lambda: value("shipyard_drift_detector_up", "t-restart") == 1)
        assert supervisor.child.process.poll() is None
        assert value("shipyard_drift_detector_restarts_total", "t-restart") == 1
        assert value("shipyard_drift_detector_exits_total", "t-restart") == 1
        assert lines[0].startswith(
            f"drift detector (pid {first.process.pid}) was killed by "
            "signal 9; restarting it (1 of 3 within 60 s; its log:"
        )
        assert lines[1].startswith(
            f"drift detector restarted (pid {supervisor.child.process.pid}) in "
        )
    finally:
        supervisor.stop()
    assert supervisor.child.process.poll() is not None  # stopped with the supervisor
    assert value("shipyard_drift_detector_up", "t-restart") == 0


def test_restarts_are_bounded_then_it_stays_down():
    lines: list[str] = []
    crashing = "import sys; sys.exit(3)"
    supervisor = Supervisor(
        "drift detector",
        child(crashing),
        lambda: child(crashing),
        label="t-bound",
        max_restarts=2,
        window_seconds=60,
        poll_seconds=0.05,
        say=lines.append,
    ).begin()
    try:
        wait_until(lambda: supervisor.gave_up)
        assert value("shipyard_drift_detector_restarts_total", "t-bound") == 2
        assert value("shipyard_drift_detector_exits_total", "t-bound") == 3
        assert value("shipyard_drift_detector_supervision_stopped", "t-bound") == 1
        assert value("shipyard_drift_detector_up", "t-bound") == 0
        said = [line for line in lines if "exited with code 3" in line]
        assert len(said) == 3 and "(2 of 2 within 60 s" in said[1]
        assert (
            "restarted 2 times within 60 s, so it stays down: the predictor keeps "
            "serving without it" in said[2]
        )
    finally:
        supervisor.stop()


def test_the_bound_is_a_sliding_window():
    """Exits further apart than the window never exhaust the restarts."""
    lines: list[str] = []
    short = "import time; time.sleep(0.3)"
    supervisor = Supervisor(
        "drift detector",
        child(short),
        lambda: child(short),
        label="t-window",
        max_restarts=1,
        window_seconds=0.2,
        poll_seconds=0.05,
        say=lines.append,
    ).begin()
    try:
        wait_until(lambda: value("shipyard_drift_detector_restarts_total", "t-window") >= 3)
        assert not supervisor.gave_up
    finally:
        supervisor.stop()


def test_a_failed_start_counts_as_a_restart():
    lines: list[str] = []

    def broken():
        raise ServiceUnavailable("the drift detector exited with 1", hint="its log: d.log")

    supervisor = Supervisor(
        "drift detector",
        child("pass"),
        broken,
        label="t-broken",
        max_restarts=2,
        poll_seconds=0.05,
        say=lines.append,
    ).begin()
    try:
        wait_until(lambda: supervisor.gave_up)
        assert value("shipyard_drift_detector_restarts_total", "t-broken") == 2
        assert (
            "drift detector did not start again: the drift detector exited with 1 (its log: d.log)"
        ) in lines
        assert "failed to start; it was restarted 2 times" in lines[-1]
    finally:
        supervisor.stop()
