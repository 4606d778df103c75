"""Fire-and-forget forwarding of inference events, the way KServe's logger agent does it.

In local mode the predictor hands each answered request to :class:`EventForwarder`, which
posts it to the drift detector as binary-mode CloudEvents (``ce-type`` ``…inference.request``
with the v2 request, ``…inference.response`` with the outputs). ``mode`` has the meaning of
the InferenceService ``logger.mode`` (``all``, ``request``, ``response``); Shipyard's detector
only reads requests, so ``request`` is what ``shipyard serve`` uses.

The request path only appends to a bounded deque — no lock, no wake-up of another thread —
and returns; a background thread wakes every ``linger`` seconds, takes everything waiting, and
posts it as one event per kind, naming each request's id and row count in the
``shipyard_requests`` parameter. When the detector is slow or down, events are dropped and
counted, and predictions never wait. Each post carries the ``SHIPYARD_INGEST_TOKEN`` bearer
token (the sidecar takes rows from the predictor only); a 503/429 from the sidecar (its
buffer is full) pauses sending for its Retry-After (at most 30 s) while the queue bounds what
waits. Waking the sender per request, and two posts per
prediction, cost the predictor most of its tail latency on 2 cores (GIL hand-offs).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import deque
from http.client import HTTPConnection
from typing import Literal
from urllib.parse import urlsplit

import numpy as np
from prometheus_client import Counter
from pydantic import SecretStr

from shipyard.monitoring.detector import BATCH_PARAMETER, REQUEST_EVENT, RESPONSE_EVENT

logger = logging.getLogger(__name__)
FORWARDED = Counter(
    "shipyard_predictor_events_forwarded",
    "Inference events posted to the logger URL, or dropped before",
    ("outcome",),
)
LoggerMode = Literal["all", "request", "response"]


def _json_ready(values: np.ndarray) -> list:
    return [None if isinstance(v, float) and v != v else v for v in values.tolist()]


class EventForwarder:
    def __init__(
        self,
        url: str,
        model_name: str,
        source: str = "shipyard-predictor",
        mode: LoggerMode = "all",
        max_queue: int = 1000,
        timeout: float = 2.0,
        max_batch_rows: int = 1000,
        linger_seconds: float = 0.1,
        token: SecretStr | None = None,
    ) -> None:
        """``token``: the sidecar's ingest token (default: ``SHIPYARD_INGEST_TOKEN``)."""
        if mode not in ("all", "request", "response"):
            raise ValueError(f"logger mode '{mode}' is not one of all, request, response")
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"logger URL '{url}' is not an http:// URL")
        self.url, self.model_name, self.source, self.mode = url, model_name, source, mode
        self._address = (parts.hostname, parts.port or 80, parts.path or "/")
        self.max_queue, self.timeout = max_queue, timeout
        self.max_batch_rows, self.linger = max_batch_rows, linger_seconds
        if token is None:
            from shipyard.settings import get_settings

            token = get_settings().ingest_token
        self._authorization = f"Bearer {token.get_secret_value()}" if token else None
        self._paused_until, self._warned = 0.0, False
        self.start()

    def start(self) -> None:
        """An empty queue, no connection, and the thread that posts: at construction, and in
        each forked serving worker (``shipyard.serving.workers``), which has no thread."""
        self._pending: deque = deque()
        self._connection: HTTPConnection | None = None
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="event-forwarder", daemon=True)
        self._thread.start()

    def submit(
        self,
        request_id: str,
        columns: dict[str, np.ndarray],
        datatypes: dict[str, str],
        outputs: dict[str, tuple[str, np.ndarray]],
    ) -> None:
        """Queue one request/response pair; drops (and counts) when the queue is full."""
        if len(self._pending) >= self.max_queue:
            FORWARDED.labels(outcome="dropped").inc()
            return
        self._pending.append((request_id, columns, datatypes, outputs))

    def close(self) -> None:
        """Send what is waiting, then stop the sender."""
        self._closed.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._closed.wait(self.linger):
            self._drain()
        self._drain()
        if self._connection is not None:
            self._connection.close()

    def _drain(self) -> None:
        while time.monotonic() >= self._paused_until and (batch := self._take()):
            self._send(batch)

    def _take(self) -> list:
        batch, rows = [], 0
        while self._pending and rows < self.max_batch_rows:
            item = self._pending.popleft()
            batch.append(item)
            rows += len(next(iter(item[1].values())))
        return batch

    def _send(self, batch: list) -> None:
        request_id, datatypes = batch[0][0], batch[0][2]
        # Which rows belong to which request, so the sidecar logs (and later joins labels
        # with) each request under its own id; absent for a single request, as from KServe.
        parameters = (
            {}
            if len(batch) == 1
            else {
                BATCH_PARAMETER: json.dumps(
                    [[item[0], len(next(iter(item[1].values())))] for item in batch]
                )
            }
        )
        if self.mode in ("all", "request"):
            columns = {n: np.concatenate([item[1][n] for item in batch]) for n in batch[0][1]}
            rows = len(next(iter(columns.values())))
            self._post(
                REQUEST_EVENT,
                request_id,
                {
                    "id": request_id,
                    "inputs": [
                        {
                            "name": n,
                            "shape": [rows],
                            "datatype": datatypes[n],
                            "data": _json_ready(v),
                        }
                        for n, v in columns.items()
                    ],
                    **({"parameters": parameters} if parameters else {}),
                },
            )
        if self.mode in ("all", "response"):
            outputs = {
                n: (t, np.concatenate([item[3][n][1] for item in batch]))
                for n, (t, _) in batch[0][3].items()
            }
            self._post(
                RESPONSE_EVENT,
                request_id,
                {
                    "id": request_id,
                    "model_name": self.model_name,
                    "outputs": [
                        {
                            "name": n,
                            "shape": list(v.shape),
                            "datatype": t,
                            "data": v.ravel().tolist(),
                        }
                        for n, (t, v) in outputs.items()
                    ],
                    **({"parameters": parameters} if parameters else {}),
                },
            )

    def _post(self, kind: str, request_id: str, body: dict) -> None:
        host, port, path = self._address
        headers = {
            "Content-Type": "application/json",
            "ce-specversion": "1.0",
            "ce-id": request_id or str(uuid.uuid4()),
            "ce-source": self.source,
            "ce-type": kind,
            "ce-inferenceservicename": self.model_name,
            "ce-component": "predictor",
            "ce-endpoint": "local",
        }
        if self._authorization:
            headers["Authorization"] = self._authorization
        try:
            if self._connection is None:
                self._connection = HTTPConnection(host, port, timeout=self.timeout)
            self._connection.request("POST", path, body=json.dumps(body).encode(), headers=headers)
            answer = self._connection.getresponse()
            answer.read()
            FORWARDED.labels(outcome="sent" if answer.status < 400 else "refused").inc()
            if answer.status in (429, 503):  # back-pressure: wait as told, the queue bounds
                retry = answer.getheader("Retry-After") or "1"
                pause = min(float(retry), 30.0) if retry.strip().isdigit() else 1.0
                self._paused_until = time.monotonic() + pause
            elif answer.status == 401 and not self._warned:
                self._warned = True
                logger.warning(
                    "the drift sidecar refuses our events (401): give the predictor and the "
                    "sidecar the same SHIPYARD_INGEST_TOKEN"
                )
        except Exception as exc:  # the detector being down must not matter to predictions
            logger.debug("could not forward %s: %s", kind, exc)
            FORWARDED.labels(outcome="failed").inc()
            if self._connection is not None:
                self._connection.close()
                self._connection = None
