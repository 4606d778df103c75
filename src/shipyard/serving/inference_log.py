"""Production data, kept: the detector sidecar writes every row it receives to Parquet files
on S3/MinIO (or a local folder), partitioned by model, version and time, so a retrain can learn
from production (``shipyard.inference_data``).

Each row carries the request id (the CloudEvent's ``ce-id``, else the v2 ``id``), the time, the
features and — with the InferenceService logger in ``all`` mode — the prediction, joined from
the response event. Writes are batched (rows and age bounds) on a background thread, memory is
bounded (the oldest rows are dropped beyond ``max_buffered_rows``), the buffer is flushed on
shutdown, and a storage outage never blocks or slows anything: the rows are dropped and
counted (``shipyard_inference_log_rows_total{outcome="dropped"}``), never silently.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
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
)  # written | dropped
ID, TIME, ROW, PREDICTION = "request_id", "logged_at", "row", "prediction"
LABELS_PREFIX = "labels/"  # labels/model=…/version=…/…, beside the rows' model=…/…


@dataclass
class LogSettings:
    uri: str  # a folder or s3://bucket/prefix
    model: str
    version: str
    max_rows: int = 1000
    max_age_seconds: float = 30.0
    max_buffered_rows: int = 50_000


@dataclass
class InferenceLog:
    """Buffer rows per request, attach predictions, write Parquet batches off the request path."""

    settings: LogSettings
    storage: Settings | None = None
    _pending: OrderedDict = field(default_factory=OrderedDict)  # request id -> frame
    _buffered: int = 0
    _oldest: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _wake: threading.Event = field(default_factory=threading.Event)
    _stopped: bool = False
    files: list[str] = field(default_factory=list)
    _labels: list = field(default_factory=list)  # frames of (request_id, row, label)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._run, name="inference-log", daemon=True)
        self._thread.start()

    def add_request(self, request_id: str, frame: pd.DataFrame) -> None:
        """The request's feature rows; never blocks on storage."""
        rows = frame.reset_index(drop=True).copy()
        rows.insert(0, ROW, np.arange(len(rows)))
        rows.insert(0, TIME, datetime.now(UTC))
        rows.insert(0, ID, request_id or f"anonymous-{uuid.uuid4()}")
        rows[PREDICTION] = None
        with self._lock:
            key = rows[ID].iloc[0] if len(rows) else str(uuid.uuid4())
            self._pending[key] = rows
            self._buffered += len(rows)
            self._oldest = self._oldest or time.monotonic()
            while self._buffered > self.settings.max_buffered_rows and self._pending:
                _, dropped = self._pending.popitem(last=False)
                self._buffered -= len(dropped)
                ROWS.labels("dropped").inc(len(dropped))
        if self._buffered >= self.settings.max_rows:
            self._wake.set()

    def add_response(self, request_id: str, predictions: list[Any]) -> bool:
        """Attach the response's ``predict`` values to the buffered request; False if the
        request is gone (already written, or never seen)."""
        with self._lock:
            rows = self._pending.get(request_id)
            if rows is None or len(rows) != len(predictions):
                return False
            rows[PREDICTION] = list(predictions)
            return True

    def add_labels(self, labels: pd.DataFrame) -> None:
        """Ground truth (request_id, row, label) to keep beside the rows: what a retrain joins."""
        with self._lock:
            self._labels.append(labels.assign(**{TIME: datetime.now(UTC)}))
            self._oldest = self._oldest or time.monotonic()

    def flush(self) -> int:
        """Write what is buffered as one Parquet file (and the labels as another); the rows
        written (0 on failure)."""
        with self._lock:
            batches, self._pending = list(self._pending.values()), OrderedDict()
            labels, self._labels = self._labels, []
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
            logger.warning(
                "inference log: %d rows dropped, cannot write to %s: %s",
                len(frame),
                self.settings.uri,
                str(exc)[:300],
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

    def _write_labels(self, labels: pd.DataFrame) -> None:
        labels["label"] = labels["label"].map(lambda v: None if v is None else str(v))
        try:
            self.files.append(self._write(labels, LABELS_PREFIX))
        except Exception as exc:
            logger.warning(
                "inference log: %d labels not kept, cannot write to %s: %s",
                len(labels),
                self.settings.uri,
                str(exc)[:300],
            )

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
