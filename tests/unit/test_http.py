"""The one HTTP client helper, against a real server on 127.0.0.1: JSON both ways, a refusal
kept apart from an outage, and every failure naming what and where."""

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shipyard import http
from shipyard.errors import ServiceUnavailable


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (the stdlib's name)
        if self.path == "/refuse":
            self._send(401, b'{"error": "no token"}')
        else:
            self._send(200, json.dumps({"auth": self.headers.get("Authorization")}).encode())

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self._send(200, json.dumps({"got": json.loads(body), "method": self.command}).encode())

    do_PUT = do_POST  # noqa: N815

    def _send(self, status, body):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_json_both_ways_with_a_bearer_token(server):
    assert http.get_json(f"{server}/x", token="t0k") == {"auth": "Bearer t0k"}
    assert http.post_json(f"{server}/x", {"a": [1]}) == {"got": {"a": [1]}, "method": "POST"}
    assert http.post_json(f"{server}/x", {}, method="PUT")["method"] == "PUT"
    assert http.status(f"{server}/x") == 200 and http.status(f"{server}/refuse") == 401


def test_a_refusal_is_an_error_answer_with_its_status_and_body(server):
    with pytest.raises(http.ErrorAnswer) as refused:
        http.get_json(f"{server}/refuse", what="the trigger server")
    assert refused.value.status == 401 and "no token" in refused.value.body
    assert refused.value.message.startswith(
        f"the trigger server at {server}/refuse answered HTTP 401"
    )


def test_nothing_listening_and_a_silent_server_name_the_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(
        ServiceUnavailable,
        match=rf"cannot reach Prometheus at http://127.0.0.1:{port}/q: connection refused",
    ):
        http.get_json(f"http://127.0.0.1:{port}/q", what="Prometheus")
    assert http.status(f"http://127.0.0.1:{port}/") is None
    with socket.socket() as silent:  # accepts, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        with pytest.raises(ServiceUnavailable, match="no answer within 0.5 s"):
            http.get_text(url, timeout=0.5)
