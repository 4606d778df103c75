"""The forwarder against a real HTTP server on 127.0.0.1 standing in for the detector."""

import json
import time

import numpy as np
import pytest
from prometheus_client import REGISTRY

from shipyard.local.inbox import Inbox
from shipyard.monitoring.detector import REQUEST_EVENT, RESPONSE_EVENT, requests_in
from shipyard.serving.event_forwarder import EventForwarder


@pytest.fixture
def sink():
    """A real HTTP server standing in for the detector; ``inbox.received`` holds (headers,
    body) of each post."""
    inbox = Inbox()
    yield f"{inbox.url}/v1/models/drift:predict", inbox
    inbox.stop()


def submit(forwarder: EventForwarder, i: int) -> None:
    forwarder.submit(
        f"r{i}",
        {"amount": np.array([float(i), np.nan]), "channel": np.array(["web", "pos"], dtype=object)},
        {"amount": "FP64", "channel": "BYTES"},
        {"predict": ("INT64", np.array([0, 1]))},
    )


def test_queued_requests_travel_as_one_request_event(sink):
    url, inbox = sink
    forwarder = EventForwarder(url, "fraud", mode="request", linger_seconds=0.2)
    for i in range(5):
        submit(forwarder, i)
    forwarder.close()
    assert len(inbox.received) == 1
    headers, body = inbox.received[0]
    assert headers["ce-type"] == REQUEST_EVENT and headers["ce-inferenceservicename"] == "fraud"
    amount = next(i for i in body["inputs"] if i["name"] == "amount")
    assert amount["shape"] == [10] and amount["data"][:2] == [0.0, None]


def test_mode_all_also_sends_the_response(sink):
    url, inbox = sink
    forwarder = EventForwarder(url, "fraud", mode="all")
    submit(forwarder, 1)
    forwarder.close()
    assert [h["ce-type"] for h, _ in inbox.received] == [REQUEST_EVENT, RESPONSE_EVENT]
    assert inbox.received[1][1]["outputs"][0]["data"] == [0, 1]


def test_a_batched_event_names_each_request_and_its_rows(sink):
    """The sidecar splits it back into requests (the inference log and label joins are by
    request id); a single request carries no parameter, as KServe's agent sends it."""
    url, inbox = sink
    forwarder = EventForwarder(url, "fraud", mode="all", linger_seconds=0.3)
    for i in range(3):
        submit(forwarder, i)
    forwarder.close()
    request, response = inbox.received[0][1], inbox.received[1][1]
    parts = [["r0", 2], ["r1", 2], ["r2", 2]]
    assert json.loads(request["parameters"]["shipyard_requests"]) == parts
    assert json.loads(response["parameters"]["shipyard_requests"]) == parts
    assert requests_in(request["parameters"], 6, "r0") == [("r0", 0, 2), ("r1", 2, 4), ("r2", 4, 6)]
    inbox.messages.clear()
    single = EventForwarder(url, "fraud", mode="request")
    submit(single, 9)
    single.close()
    assert "parameters" not in inbox.received[0][1]


@pytest.mark.parametrize(
    "parameters",
    [
        None,
        {},
        {"shipyard_requests": '[["a", 5]]'},
        {"shipyard_requests": "not json"},
        {"shipyard_requests": '[["a", 0], ["b", 6]]'},
    ],
)
def test_a_batch_parameter_that_does_not_add_up_is_not_trusted(parameters):
    assert requests_in(parameters, 6, "event") == [("event", 0, 6)]


def test_a_full_queue_drops_and_counts(sink):
    url, _ = sink
    dropped = "shipyard_predictor_events_forwarded_total"
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


def test_the_ingest_token_travels_as_a_bearer_header(sink):
    from pydantic import SecretStr

    url, inbox = sink
    forwarder = EventForwarder(url, "fraud", mode="request", token=SecretStr("s3cret"))
    submit(forwarder, 1)
    forwarder.close()
    headers = {k.lower(): v for k, v in inbox.received[0][0].items()}
    assert headers["authorization"] == "Bearer s3cret"


def test_a_busy_sidecar_pauses_sending_for_its_retry_after():
    """503 + Retry-After from the sidecar (its buffer is full): nothing is posted until then."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    times: list[float] = []

    class Busy(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            self.rfile.read(int(self.headers["Content-Length"]))
            times.append(time.monotonic())
            self.send_response(503 if len(times) == 1 else 200)
            self.send_header("Retry-After", "1")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Busy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/v1/models/drift:predict"
        forwarder = EventForwarder(url, "fraud", mode="request", linger_seconds=0.05)
        submit(forwarder, 1)
        time.sleep(0.3)
        submit(forwarder, 2)
        deadline = time.monotonic() + 5
        while len(times) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        forwarder.close()
        assert len(times) == 2 and times[1] - times[0] >= 0.9
    finally:
        server.shutdown()
        server.server_close()
