"""Production data, kept: the detector sidecar writes every row it accepts to Parquet files
on S3/MinIO (or a local folder), partitioned by model, version number and time, so a retrain
can learn from production (``shipyard.loop.training_data``).

Each row has its own key whatever the client sent: ``uid`` (a server-side id per request)
and ``row``; the id labels name (``request_id``: the CloudEvent's ``ce-id``, else the v2
``id``) and the client's v2 ``id`` (``client_id``) are kept as columns, and — with the
InferenceService logger in ``all`` mode — the prediction, joined from the response event.
Labels are written beside the rows only once checked (``live_performance``), with the uid of
the row they name. Writes are batched (rows and age bounds) on a background thread; memory is
bounded (``max_buffered_rows`` rows and ``max_buffered_labels`` labels: beyond them the
sidecar answers 503 with Retry-After instead of growing); the buffer is flushed on shutdown;
a storage outage never blocks anything: the rows are dropped, counted
(``shipyard_inference_log_rows_total{outcome="dropped"}``) and logged once per minute.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from prometheus_client import Counter

from shipyard.settings import Settings

logger = logging.getLogger(__name__)
ROWS = Counter(
    "shipyard_inference_log_rows", "Inference-log rows by outcome", ("outcome",)
)  # written | dropped (storage failed); a full buffer refuses events (503) before they come in
LABELS_KEPT = Counter(
    "shipyard_inference_log_labels", "Checked labels by outcome", ("outcome",)
)  # written | dropped (storage failed)
ID, TIME, ROW, PREDICTION = "request_id", "logged_at", "row", "prediction"
UID, CLIENT_ID, CORRECTION = "uid", "client_id", "correction"
LABELS_PREFIX = "labels/"  # labels/model=…/version=…/…, beside the rows' model=…/…


class DropReport:
    """Drops counted by reason and logged at most once per ``window`` seconds (a storm of
    refusals is one line a minute, never silent, never a flood)."""

    def __init__(self, what: str, window: float = 60.0) -> None:
        self.what, self.window = what, window
        self._counts: dict[str, int] = {}
        self._since = time.monotonic()
        self._lock = threading.Lock()

    def add(self, reason: str, n: int) -> None:
        if n <= 0:
            return
        with self._lock:
            self._counts[reason] = self._counts.get(reason, 0) + n
        self.tick()

    def tick(self, force: bool = False) -> None:
        """Log what was dropped if the window has passed (or ``force``)."""
        with self._lock:
            if not self._counts or (not force and time.monotonic() - self._since < self.window):
                return
            counts, self._counts = self._counts, {}
            seconds, self._since = time.monotonic() - self._since, time.monotonic()
        parts = ", ".join(f"{n} {reason}" for reason, n in sorted(counts.items()))
        logger.warning("%s dropped in the last %.0f s: %s", self.what, seconds, parts)


@dataclass
class LogSettings:
    uri: str  # a folder or s3://bucket/prefix
    model: str
    version: str  # a registry version number, never an alias
    max_rows: int = 1000
    max_age_seconds: float = 30.0
    max_buffered_rows: int = 50_000
    max_buffered_labels: int = 50_000


@dataclass
class InferenceLog:
    """Buffer rows per request, attach predictions, write Parquet batches off the request path."""

    settings: LogSettings
    storage: Settings | None = None
    _pending: OrderedDict = field(default_factory=OrderedDict)  # uid -> frame
    _awaiting: dict = field(default_factory=dict)  # request id -> uids without predictions
    _buffered: int = 0
    _oldest: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _wake: threading.Event = field(default_factory=threading.Event)
    _stopped: bool = False
    files: list[str] = field(default_factory=list)
    _labels: list = field(default_factory=list)  # frames of checked labels
    _label_count: int = 0
    drops: DropReport = field(default_factory=lambda: DropReport("inference log"))

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._run, name="inference-log", daemon=True)
        self._thread.start()

    def room_for_rows(self) -> bool:
        """Whether rows may come in (else the sender is told to retry later)."""
        return self._buffered < self.settings.max_buffered_rows

    def room_for_labels(self, n: int) -> bool:
        return self._label_count + n <= self.settings.max_buffered_labels

    def add_request(self, uid: str, request_id: str, client_id: str, frame: pd.DataFrame) -> None:
        """One request's feature rows under its server-side ``uid``; never blocks on storage.
        The caller checked :meth:`room_for_rows` (one request may go past the bound)."""
        rows = frame.reset_index(drop=True).copy()
        rows.insert(0, ROW, np.arange(len(rows)))
        rows.insert(0, TIME, datetime.now(UTC))
        rows.insert(0, CLIENT_ID, client_id)
        rows.insert(0, ID, request_id)
        rows.insert(0, UID, uid)
        rows[PREDICTION] = None
        with self._lock:
            self._pending[uid] = rows
            self._awaiting.setdefault(request_id, deque()).append(uid)
            self._buffered += len(rows)
            self._oldest = self._oldest or time.monotonic()
        if self._buffered >= self.settings.max_rows:
            self._wake.set()

    def add_response(self, request_id: str, predictions: list[Any]) -> bool:
        """Attach the response's ``predict`` values to the oldest buffered request of that id
        still without them; False if there is none (already written, or never seen)."""
        with self._lock:
            waiting = self._awaiting.get(request_id)
            while waiting:
                uid = waiting.popleft()
                rows = self._pending.get(uid)
                if rows is not None and len(rows) == len(predictions):
                    rows[PREDICTION] = list(predictions)
                    return True
            self._awaiting.pop(request_id, None)
            return False

    def add_labels(self, labels: pd.DataFrame) -> None:
        """Checked ground truth (request_id, row, uid, label, correction) to keep beside the
        rows: what a retrain joins. The caller checked :meth:`room_for_labels`."""
        with self._lock:
            self._labels.append(labels.assign(**{TIME: datetime.now(UTC)}))
            self._label_count += len(labels)
            self._oldest = self._oldest or time.monotonic()

    def flush(self) -> int:
        """Write what is buffered as one Parquet file (and the labels as another); the rows
        written (0 on failure)."""
        with self._lock:
            batches, self._pending, self._awaiting = list(self._pending.values()), OrderedDict(), {}
            labels, self._labels, self._label_count = self._labels, [], 0
            self._buffered, self._oldest = 0, None
        if labels:
            self._write_labels(pd.concat(labels, ignore_index=True))
        if not batches:
            return 0
        frame = pd.concat(batches, ignore_index=True)
        frame[PREDICTION] = (
            frame[PREDICTION].astype(object).map(lambda v: None if v is None else str(v))
        )  # one column type whatever the task
        try:
            self.files.append(self._write(frame))
        except Exception as exc:  # storage down: never the requests' problem
            ROWS.labels("dropped").inc(len(frame))
            self.drops.add(
                f"rows (cannot write to {self.settings.uri}: {str(exc)[:200]})", len(frame)
            )
            return 0
        ROWS.labels("written").inc(len(frame))
        return len(frame)

    def close(self) -> None:
        """Flush and stop (SIGTERM: the server's shutdown calls this)."""
        self._stopped = True
        self._wake.set()
        self._thread.join(timeout=10)
        self.flush()
        self.drops.tick(force=True)

    def _run(self) -> None:
        while not self._stopped:
            self._wake.wait(timeout=min(1.0, self.settings.max_age_seconds))
            self._wake.clear()
            aged = (
                self._oldest is not None
                and time.monotonic() - self._oldest >= self.settings.max_age_seconds
            )
            if self._buffered >= self.settings.max_rows or aged:
                self.flush()
            self.drops.tick()

    def _write_labels(self, labels: pd.DataFrame) -> None:
        labels["label"] = labels["label"].map(lambda v: None if v is None else str(v))
        try:
            self.files.append(self._write(labels, LABELS_PREFIX))
        except Exception as exc:
            LABELS_KEPT.labels("dropped").inc(len(labels))
            self.drops.add(
                f"labels (cannot write to {self.settings.uri}: {str(exc)[:200]})", len(labels)
            )
            return
        LABELS_KEPT.labels("written").inc(len(labels))

    def _write(self, frame: pd.DataFrame, prefix: str = "") -> str:
        now = datetime.now(UTC)
        key = (
            f"{prefix}model={self.settings.model}/version={self.settings.version}/"
            f"date={now:%Y-%m-%d}/hour={now:%H}/{now:%H%M%S}-{uuid.uuid4().hex[:8]}.parquet"
        )
        if self.settings.uri.startswith("s3://"):
            from shipyard import storage

            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "part.parquet"
                frame.to_parquet(path, index=False)
                return storage.upload(path, f"{self.settings.uri.rstrip('/')}/{key}", self.storage)
        target = Path(self.settings.uri.removeprefix("file://")) / key
        target.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(target, index=False)
        return str(target)
