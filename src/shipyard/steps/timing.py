"""Step timing: how long a step's own work took, and how old its process is.

kfp.local starts every task as a fresh process; the difference between the two numbers is
what the process spent before the step's code ran (interpreter start, the KFP executor).
"""

from __future__ import annotations

import atexit
import os
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class StepTimer:
    """Filled by :func:`timed`: seconds inside the block, the process age at its end and the
    process's peak resident memory so far (a task is one process: its step's peak)."""

    work_seconds: float = 0.0
    process_seconds: float | None = None
    peak_rss_mb: float | None = None

    def as_metadata(self) -> dict[str, float]:
        data = {"work_seconds": round(self.work_seconds, 3)}
        if self.process_seconds is not None:
            data["process_seconds"] = round(self.process_seconds, 3)
        if self.peak_rss_mb is not None:
            data["peak_rss_mb"] = round(self.peak_rss_mb, 1)
        return data


@contextmanager
def timed() -> Iterator[StepTimer]:
    """Measure the block's wall time and the process age at its end.

    In a KFP task process it also arranges :func:`skip_teardown_after_success`, and has the
    error that may end the step recorded for the caller (``shipyard.steps.failure``).
    """
    if in_kfp_task():
        from shipyard.steps.failure import record_failures

        atexit.register(skip_teardown_after_success)  # before the step's imports: runs last
        record_failures()
    timer = StepTimer()
    start = time.perf_counter()
    try:
        yield timer
    finally:
        timer.work_seconds = time.perf_counter() - start
        timer.process_seconds = process_age()
        timer.peak_rss_mb = peak_rss_mb()


def process_age() -> float | None:
    """Seconds since this process started (Linux /proc; None elsewhere)."""
    try:
        with open("/proc/self/stat") as stat:
            start_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as uptime:
            up = float(uptime.read().split()[0])
        return up - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB (``ru_maxrss`` is KB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def in_kfp_task() -> bool:
    """True in a process started by KFP's executor (``python -m kfp.dsl.executor_main``)."""
    return os.path.basename(sys.argv[0] or "").startswith("executor_main")


def skip_teardown_after_success() -> None:
    """Leave a finished KFP task process without the interpreter's module teardown.

    Tearing down pandas, scikit-learn, XGBoost and MLflow takes about 1.1 s per process here,
    and every kfp.local task is a process. By the time atexit handlers run, the executor has
    written its outputs and the other handlers (registered later) have run. A process that is
    exiting on an unhandled exception (``sys.last_value``) keeps the normal path and its
    non-zero exit code.
    """
    if getattr(sys, "last_value", None) is not None:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


PROGRESS_MARKER = "::shipyard-progress::"


def report_progress(step: str, done: int, total: int) -> None:
    """How far a step is, as one line its task prints: kfp.local streams it to ``shipyard
    run``, whose progress view moves the step's bar; on a cluster it stays in the step's log."""
    print(f"{PROGRESS_MARKER}{step} {done} {total}", flush=True)
