"""The live view of a local run: one line per step with its state and elapsed time.

kfp.local prints every task's executor input, output and log; a person running ``shipyard
run`` wants to see which step is running and for how long. :class:`Progress` is fed the
events :class:`shipyard.local.pipeline.StepLogs` reads from kfp.local's own lines (a task
started, a task finished) and shows them: on a terminal as a block of lines redrawn in place
(a ticker thread keeps the running step's clock moving); elsewhere (CI, notebooks, pipes) as
one plain line per start and per end, so a log file reads top to bottom.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TextIO

WAITING, RUNNING, DONE, FAILED, SKIPPED = "waiting", "running", "done", "failed", "not run"
_MARK = {WAITING: " ", RUNNING: ">", DONE: "✓", FAILED: "✗", SKIPPED: "-"}
_ASCII_MARK = {**_MARK, DONE: "+", FAILED: "x"}  # for an output that cannot encode ✓ and ✗


@dataclass
class StepState:
    name: str
    state: str = WAITING
    started: float | None = None
    ended: float | None = None
    done: int = 0  # units of work the step reported (tune: searches and finalists)
    total: int = 0

    def elapsed(self, now: float) -> float | None:
        if self.started is None:
            return None
        return (self.ended if self.ended is not None else now) - self.started


class Progress:
    """Steps and their states, drawn on ``out``; ``live`` (default: ``out`` is a terminal)
    redraws in place, otherwise every change is one appended line."""

    def __init__(
        self,
        steps: Sequence[str],
        out: TextIO,
        live: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        tick_seconds: float = 0.5,
    ) -> None:
        self.out, self.clock, self.tick_seconds = out, clock, tick_seconds
        self.live = _isatty(out) if live is None else live
        self.marks = _MARK if _encodes(out, "✓✗") else _ASCII_MARK
        self.steps: dict[str, StepState] = {name: StepState(name) for name in steps}
        self._drawn = 0  # lines of the block on screen (live mode)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def __enter__(self) -> Progress:
        if self.live:
            self.redraw()
            self._ticker = threading.Thread(target=self._tick, name="progress", daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def started(self, name: str) -> None:
        step = self.steps.setdefault(name, StepState(name))
        step.state, step.started, step.ended = RUNNING, self.clock(), None
        self._changed(step)

    def advanced(self, name: str, done: int, total: int) -> None:
        """A running step's own count of work done (drawn as a bar on a terminal; a pipe's
        plain lines stay one per start and end)."""
        step = self.steps.setdefault(name, StepState(name))
        step.done, step.total = max(0, min(done, total)), max(total, 0)
        if self.live:
            self.redraw()

    def finished(self, name: str, ok: bool) -> None:
        step = self.steps.setdefault(name, StepState(name))
        if step.started is None:
            step.started = self.clock()
        step.state, step.ended = (DONE if ok else FAILED), self.clock()
        self._changed(step)

    def close(self) -> None:
        """Stop the ticker; steps that never started are 'not run'; the last drawing stays.
        Once: what is printed after it is never drawn over."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._ticker:
            self._ticker.join(2)
            self._ticker = None
        for step in self.steps.values():
            if step.state == WAITING:
                step.state = SKIPPED
        if self.live:
            self.redraw()

    def line(self, step: StepState) -> str:
        """One step as shown: mark, name, state and seconds."""
        elapsed = step.elapsed(self.clock())
        if step.state == RUNNING and not self.live:  # a log line: the start says no time yet
            elapsed = None
        seconds = f"{elapsed:6.1f} s" if elapsed is not None else ""
        mark = self.marks.get(step.state, " ")
        bar = _bar(step.done, step.total) if step.state == RUNNING and self.live else ""
        return f"  {mark} {step.name:<10} {step.state:<8} {seconds} {bar}".rstrip()

    def lines(self) -> list[str]:
        return [self.line(step) for step in self.steps.values()]

    def redraw(self) -> None:
        """Live mode: move up over the block drawn last and draw it again."""
        with self._lock:
            lines = self.lines()
            up = f"\x1b[{self._drawn}F" if self._drawn else ""
            self.out.write(up + "".join(f"\x1b[2K{line}\n" for line in lines))
            self.out.flush()
            self._drawn = len(lines)

    def _changed(self, step: StepState) -> None:
        if self.live:
            self.redraw()
        else:
            with self._lock:
                self.out.write(self.line(step) + "\n")
                self.out.flush()

    def _tick(self) -> None:
        while not self._stop.wait(self.tick_seconds):
            if any(s.state == RUNNING for s in self.steps.values()):
                self.redraw()


def _bar(done: int, total: int, width: int = 20) -> str:
    if total <= 0:
        return ""
    filled = round(width * done / total)
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total}"


def _isatty(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False


def _encodes(out: TextIO, text: str) -> bool:
    try:
        text.encode(getattr(out, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return False
    return True
