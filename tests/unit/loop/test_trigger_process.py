"""``shipyard trigger serve`` as its own process on 127.0.0.1 (stopped by PID), running a tiny
compiled pipeline on kfp.local: the token is checked before any body is read, bodies are
bounded, idle connections are closed, bursts are answered without resets, 200 alerts are one
run and one message, a hung chat webhook delays nothing, and concurrent runs report their own
results."""

from __future__ import annotations

import http.client
import json
import select
import socket
import threading
import time
from pathlib import Path

import pytest

from shipyard.local.inbox import Inbox
from shipyard.processes import console_script, free_port, start_server, stop_process_group
from support import silent_endpoint
from tiny_pipeline import compile_tiny, venv_path

TOKEN = "process-t0ken"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
READ_TIMEOUT = 2.0


class TriggerProcess:
    def __init__(self, folder: Path, pipeline: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.log = folder / "trigger.log"
        command = [console_script("shipyard"), "trigger", "serve", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--pipeline-file", str(pipeline)]
        self.process = start_server(
            command,
            self.log,
            f"http://127.0.0.1:{self.port}/healthz",
            "trigger",
            60,
            {
                "SHIPYARD_HOME": str(folder / "home"),
                "SHIPYARD_TRIGGER_TOKEN": TOKEN,
                "SHIPYARD_TRIGGER_MLFLOW_SECRET": "s3cret",
                "SHIPYARD_TRIGGER_READ_TIMEOUT_SECONDS": str(READ_TIMEOUT),
                "SHIPYARD_TRIGGER_ARGUMENTS": json.dumps({"seconds": 1.0}),
                "SHIPYARD_TRIGGER_COOLDOWN_SECONDS": "600",
                "PATH": venv_path(),
                **env,
            },
        )

    def call(
        self, method: str, path: str, body: bytes | dict | None = None, headers: dict | None = None
    ) -> tuple[int, dict]:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=data, headers=headers or {})
            response = connection.getresponse()
            raw = response.read()
            return response.status, json.loads(raw) if raw.startswith(b"{") else {"raw": raw}
        finally:
            connection.close()

    def outcomes(self) -> dict:
        return self.call("GET", "/decisions", headers=BEARER)[1]["outcomes"]

    def wait_for_outcomes(self, models: set[str], timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            outcomes = self.outcomes()
            if models <= set(outcomes):
                return outcomes
            time.sleep(0.3)
        raise AssertionError(f"no outcome for {models - set(self.outcomes())}")

    def metric(self, name: str) -> float:
        text = self.call("GET", "/metrics")[1]["raw"].decode()
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(name) and not line.startswith("#")
        )

    def stop(self) -> None:
        stop_process_group(self.process)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    return compile_tiny(tmp_path_factory.mktemp("tiny"))


@pytest.fixture
def inbox():
    inbox = Inbox()
    yield inbox
    inbox.stop()


@pytest.fixture
def trigger(tmp_path, pipeline, inbox):
    process = TriggerProcess(
        tmp_path, pipeline, {"SHIPYARD_NOTIFY_WEBHOOK_URL": f"{inbox.url}/chat"}
    )
    yield process
    process.stop()
    assert "Traceback" not in process.log.read_text()


def raw_request(port: int, head: bytes, body_size: int, chunked: bool = False) -> tuple[int, int]:
    """Send ``head`` then up to ``body_size`` bytes of body in 64 KiB pieces, 5 ms apart (so
    that what loopback's socket buffers would swallow at once does not count), while watching
    for an answer; return (status, bytes of body sent when the answer came)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sent = 0
    piece = b"x" * 65536
    try:
        sock.sendall(head)
        while sent < body_size:
            readable, _, _ = select.select([sock], [], [], 0.005)
            if readable:
                break
            data = f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece
            try:
                sock.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(piece)
        sock.settimeout(10)
        answer = sock.recv(4096)
        return int(answer.split(b" ", 2)[1]), sent
    finally:
        sock.close()


def test_the_token_is_checked_before_any_body_is_read(trigger):
    size = 64 << 20
    started = time.monotonic()
    head = f"POST /alertmanager HTTP/1.1\r\nHost: t\r\nContent-Length: {size}\r\n\r\n".encode()
    status, sent = raw_request(trigger.port, head, size)
    took = time.monotonic() - started
    assert status == 401 and sent < 1 << 20, (status, sent)
    chunked = b"POST /run/fraud HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    status, sent_chunked = raw_request(trigger.port, chunked, size, chunked=True)
    assert status == 401 and sent_chunked < 1 << 20
    token = f"Authorization: Bearer {TOKEN}\r\n".encode()
    too_big = head.replace(b"Host: t\r\n", b"Host: t\r\n" + token)
    status, sent_big = raw_request(trigger.port, too_big, size)
    assert status == 413 and sent_big < 1 << 20  # the declared size, before reading it
    status, sent_stream = raw_request(
        trigger.port, chunked.replace(b"Host: t\r\n", b"Host: t\r\n" + token), size, True
    )
    assert status == 413 and sent_stream < 2 << 20  # read up to the limit, no further
    for length in (b"-1", b"abc"):  # the HTTP parser refuses the framing: 400, answered
        bad = f"POST /alertmanager HTTP/1.1\r\nHost: t\r\nContent-Length: {length.decode()}\r\n\r\n"
        assert raw_request(trigger.port, bad.encode(), size)[0] == 400
    print(f"401 for a 64 MiB body without a token after {took * 1000:.0f} ms, {sent} B sent")
    assert trigger.call("GET", "/healthz")[0] == 200


def test_200_concurrent_posts_are_all_answered(trigger):
    barrier, results = threading.Barrier(200), []

    def one() -> None:
        barrier.wait(30)
        try:
            results.append(trigger.call("POST", "/alertmanager", {"alerts": []}, BEARER)[0])
        except OSError as exc:
            results.append(type(exc).__name__)

    threads = [threading.Thread(target=one) for _ in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results.count(200) == 200, {r for r in results if r != 200}


def test_idle_connections_are_closed_after_the_read_timeout(trigger):
    before = trigger.metric("shipyard_trigger_read_timeouts_total")
    idle = [socket.create_connection(("127.0.0.1", trigger.port)) for _ in range(300)]
    slow = socket.create_connection(("127.0.0.1", trigger.port))
    slow.sendall(b"POST /run/fraud HTTP/1.1\r\nHost: t\r\n")  # and never the rest
    try:
        started = time.monotonic()
        assert trigger.call("GET", "/healthz")[0] == 200
        assert time.monotonic() - started < 1.0
        for sock in [*idle, slow]:
            sock.settimeout(READ_TIMEOUT + 5)
            assert sock.recv(1024) == b""  # closed by the server
        took = time.monotonic() - started
        assert took < READ_TIMEOUT + 5
    finally:
        for sock in [*idle, slow]:
            sock.close()
    assert trigger.metric("shipyard_trigger_read_timeouts_total") - before >= 301


def test_200_alerts_for_one_model_are_one_run_and_one_message(trigger, inbox):
    alerts = [
        {
            "status": "firing",
            "fingerprint": f"fp{i}",
            "labels": {"alertname": "ShipyardDriftDetected", "model": "churn", "feature": f"f{i}"},
        }
        for i in range(200)
    ]
    status, answer = trigger.call("POST", "/alertmanager", {"alerts": alerts}, BEARER)
    assert status == 200 and len(answer["decisions"]) == 1
    assert answer["decisions"][0]["reason"].startswith("200 alerts")
    outcome = trigger.wait_for_outcomes({"churn"})["churn"]
    assert outcome.startswith("run finished"), outcome
    deadline = time.monotonic() + 10
    while len(inbox.messages) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    texts = [Inbox.text(m["payload"]) for m in inbox.messages]
    assert texts == ["*Retrain triggered for churn*", "*Retraining churn: run finished*"]


def test_two_concurrent_triggered_runs_report_their_own_results(trigger):
    for model in ("alpha", "beta"):
        assert trigger.call("POST", f"/run/{model}", {}, BEARER)[0] == 200
    outcomes = trigger.wait_for_outcomes({"alpha", "beta"})
    folders = {}
    for model in ("alpha", "beta"):
        folder = Path(outcomes[model].rsplit("run folder ", 1)[1])
        said = json.loads((folder / "echo-op" / "executor_output.json").read_text())
        assert said["parameterValues"]["Output"] == model
        folders[model] = folder
    assert folders["alpha"] != folders["beta"]


def test_a_hung_chat_webhook_delays_no_answer(tmp_path, pipeline):
    with silent_endpoint() as hung:
        process = TriggerProcess(
            tmp_path,
            pipeline,
            {
                "SHIPYARD_NOTIFY_WEBHOOK_URL": f"http://{hung}/chat",
                "SHIPYARD_NOTIFY_TIMEOUT_SECONDS": "5",
            },
        )
        try:
            started = time.monotonic()
            for i in range(10):
                alert = {
                    "status": "firing",
                    "labels": {"alertname": "ShipyardModelDecay", "model": f"m{i}"},
                }
                status, answer = process.call("POST", "/alertmanager", {"alerts": [alert]}, BEARER)
                assert status == 200 and answer["decisions"][0]["decision"] == "triggered"
            took = time.monotonic() - started
            assert took < 2.0, took
        finally:
            process.stop()
