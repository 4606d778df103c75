"""Rows gathered into windows, each full window worked on off the request path, one at a time.

The sidecar's label-free estimate and its attribution drift both do this: a window's work
(10-40 ms) must never hold up the event handler, and a window that arrives while the last one
is still being worked on is skipped and counted rather than queued without bound.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class OneWindowAtATime:
    """Parts of ``size`` rows in all become one window handed to ``work`` (the parts, in
    order) on a worker thread named ``name``."""

    def __init__(self, size: int, work: Callable[[list[Any]], None], name: str) -> None:
        self.size, self.work, self.name = size, work, name
        self.skipped = 0
        self._parts: list[Any] = []
        self._rows = 0
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()

    def add(self, part: Any, rows: int) -> None:
        with self._lock:
            self._parts.append(part)
            self._rows += rows
            if self._rows < self.size:
                return
            parts, self._parts, self._rows = self._parts, [], 0
            if self._worker is not None and self._worker.is_alive():
                self.skipped += 1
                return
            self._worker = threading.Thread(
                target=self.work, args=(parts,), name=self.name, daemon=True
            )
            self._worker.start()

    def wait(self, timeout: float) -> None:
        """Until the window being worked on (if any) is done."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout)
