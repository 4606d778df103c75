"""Step timing: how long a step's own work took, and how old its process is.

kfp.local starts every task as a fresh process; the difference between the two numbers is
what the process spent before the step's code ran (interpreter start, the KFP executor).
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class StepTimer:
    """Filled by :func:`timed`: seconds inside the block, and the process age at its end."""

    work_seconds: float = 0.0
    process_seconds: float | None = None

    def as_metadata(self) -> dict[str, float]:
        data = {"work_seconds": round(self.work_seconds, 3)}
        if self.process_seconds is not None:
            data["process_seconds"] = round(self.process_seconds, 3)
        return data


@contextmanager
def timed():
    """Measure the block's wall time and the process age at its end."""
    timer = StepTimer()
    start = time.perf_counter()
    try:
        yield timer
    finally:
        timer.work_seconds = time.perf_counter() - start
        timer.process_seconds = process_age()


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
