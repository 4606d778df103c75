"""Fire-and-forget forwarding of inference events, the way KServe's logger agent does it.

In local mode the predictor hands each answered request to :class:`EventForwarder`, which
posts it to the drift detector as binary-mode CloudEvents (``ce-type`` ``…inference.request``
with the v2 request, ``…inference.response`` with the outputs) from a background thread. The
request path only appends to a bounded queue: when the detector is slow or down, events are
dropped and counted, and predictions never wait.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import uuid

import numpy as np
from prometheus_client import Counter

from shipyard.serving.detector import REQUEST_EVENT, RESPONSE_EVENT

logger = logging.getLogger(__name__)
FORWARDED = Counter("shipyard_predictor_events_forwarded", "Inference events posted to the "
                    "logger URL", ("outcome",))


def _json_ready(values: np.ndarray) -> list:
    return [None if isinstance(v, float) and v != v else v for v in values.tolist()]


class EventForwarder:
    def __init__(self, url: str, model_name: str, source: str = "shipyard-predictor",
                 max_queue: int = 1000, timeout: float = 2.0) -> None:
        import httpx

        self.url, self.model_name, self.source = url, model_name, source
        self._queue: queue.Queue = queue.Queue(maxsize=max_queue)
        self._client = httpx.Client(timeout=timeout)
        self._thread = threading.Thread(target=self._run, name="event-forwarder", daemon=True)
        self._thread.start()

    def submit(self, request_id: str, columns: dict[str, np.ndarray], datatypes: dict[str, str],
               outputs: dict[str, tuple[str, np.ndarray]]) -> None:
        """Queue one request/response pair; drops (and counts) when the queue is full."""
        try:
            self._queue.put_nowait((request_id, columns, datatypes, outputs))
        except queue.Full:
            FORWARDED.labels(outcome="dropped").inc()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)
        self._client.close()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            request_id, columns, datatypes, outputs = item
            rows = len(next(iter(columns.values())))
            request = {"id": request_id, "inputs": [
                {"name": n, "shape": [rows], "datatype": datatypes[n],
                 "data": _json_ready(v)} for n, v in columns.items()]}
            response = {"id": request_id, "model_name": self.model_name, "outputs": [
                {"name": n, "shape": list(v.shape), "datatype": t,
                 "data": v.ravel().tolist()} for n, (t, v) in outputs.items()]}
            for kind, body in ((REQUEST_EVENT, request), (RESPONSE_EVENT, response)):
                self._post(kind, request_id, body)

    def _post(self, kind: str, request_id: str, body: dict) -> None:
        headers = {"Content-Type": "application/json", "ce-specversion": "1.0",
                   "ce-id": request_id or str(uuid.uuid4()), "ce-source": self.source,
                   "ce-type": kind, "ce-inferenceservicename": self.model_name,
                   "ce-component": "predictor", "ce-endpoint": "local"}
        try:
            answer = self._client.post(self.url, content=json.dumps(body), headers=headers)
            FORWARDED.labels(outcome="sent" if answer.status_code < 400 else "refused").inc()
        except Exception as exc:  # the detector being down must not matter to predictions
            logger.debug("could not forward %s: %s", kind, exc)
            FORWARDED.labels(outcome="failed").inc()
