"""The forwarder against a real HTTP server on 127.0.0.1 standing in for the detector."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from prometheus_client import REGISTRY

from shipyard.serving.detector import REQUEST_EVENT, RESPONSE_EVENT
from shipyard.serving.event_forwarder import EventForwarder


@pytest.fixture
def sink():
    received: list[tuple[dict, dict]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append((dict(self.headers), body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/v1/models/drift:predict", received
    server.shutdown()


def submit(forwarder: EventForwarder, i: int) -> None:
    forwarder.submit(f"r{i}", {"amount": np.array([float(i), np.nan]),
                               "channel": np.array(["web", "pos"], dtype=object)},
                     {"amount": "FP64", "channel": "BYTES"},
                     {"predict": ("INT64", np.array([0, 1]))})


def test_queued_requests_travel_as_one_request_event(sink):
    url, received = sink
    forwarder = EventForwarder(url, "fraud", mode="request", linger_seconds=0.2)
    for i in range(5):
        submit(forwarder, i)
    forwarder.close()
    assert len(received) == 1
    headers, body = received[0]
    assert headers["ce-type"] == REQUEST_EVENT and headers["ce-inferenceservicename"] == "fraud"
    amount = next(i for i in body["inputs"] if i["name"] == "amount")
    assert amount["shape"] == [10] and amount["data"][:2] == [0.0, None]


def test_mode_all_also_sends_the_response(sink):
    url, received = sink
    forwarder = EventForwarder(url, "fraud", mode="all")
    submit(forwarder, 1)
    forwarder.close()
    assert [h["ce-type"] for h, _ in received] == [REQUEST_EVENT, RESPONSE_EVENT]
    assert received[1][1]["outputs"][0]["data"] == [0, 1]


def test_a_full_queue_drops_and_counts(sink):
    url, _ = sink
    dropped = 'shipyard_predictor_events_forwarded_total'
    before = REGISTRY.get_sample_value(dropped, {"outcome": "dropped"}) or 0.0
    forwarder = EventForwarder(url, "fraud", max_queue=3, linger_seconds=5)
    for i in range(5):
        submit(forwarder, i)
    assert REGISTRY.get_sample_value(dropped, {"outcome": "dropped"}) - before == 2
    start = time.monotonic()
    forwarder.close()
    assert time.monotonic() - start < 5  # close sends what waits without the linger


@pytest.mark.parametrize("url", ["https://detector:8443/x", "detector:8080"])
def test_only_plain_http_urls(url):
    with pytest.raises(ValueError, match="not an http:// URL"):
        EventForwarder(url, "fraud")
