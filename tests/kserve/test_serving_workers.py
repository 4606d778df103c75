"""The predictor on two cores: forked workers share the HTTP port, each connection answered
by one of them, their metrics summed on /metrics, gRPC served, and all of them stopped by the
stop signal a pod's first process gets (never left behind)."""

import os
import re
import signal
import subprocess
import time
import urllib.request

import pandas as pd
import pytest

from shipyard.data.schema import Schema
from shipyard.local.servers import start_predictor, v2_request
from support import free_port


def workers_of(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def served_total(base: str) -> float:
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
        text = response.read().decode()
    found = re.findall(r'shipyard_predictor_requests_total\{[^}]*status="200"[^}]*\} (\S+)', text)
    return sum(float(v) for v in found)


@pytest.fixture(scope="module")
def two_workers(trained, shipyard_home):
    grpc_port = free_port()
    server = start_predictor(
        str(trained.bundle_dir),
        "fraud",
        shipyard_home / "two-workers.log",
        grpc_port=grpc_port,
        env={"SHIPYARD_SERVING_WORKERS": "2"},
    )
    yield server, grpc_port
    server.stop()


def test_two_processes_answer_and_count_as_one(two_workers, small_data):
    server, _ = two_workers
    assert len(workers_of(server.process.pid)) == 1  # the first process and one fork
    body = v2_request(
        pd.read_parquet(small_data["test"]).head(3), Schema.load(small_data["schema"])
    )
    answers = [server.infer(body) for _ in range(20)]  # a new connection each: both answer
    assert all(a["outputs"] == answers[0]["outputs"] for a in answers)
    assert served_total(server.base_url) == 20  # every worker's requests, not one's


def test_grpc_is_served_beside_the_workers(two_workers):
    import grpc
    from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
    from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc as pb_grpc

    _, grpc_port = two_workers
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        ready = pb_grpc.GRPCInferenceServiceStub(channel).ServerReady(pb.ServerReadyRequest())
    assert ready.ready


def test_the_stop_signal_to_the_first_process_stops_every_worker(trained, shipyard_home):
    server = start_predictor(
        str(trained.bundle_dir),
        "fraud",
        shipyard_home / "stop-workers.log",
        env={"SHIPYARD_SERVING_WORKERS": "2"},
    )
    try:
        forked = workers_of(server.process.pid)
        assert len(forked) == 1
        os.kill(server.process.pid, signal.SIGTERM)  # as a pod's PID 1 gets it: not the group
        server.process.wait(timeout=30)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(p) for p in forked):
            time.sleep(0.1)
        assert not any(_alive(p) for p in forked)
    finally:
        server.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    out = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True)
    return bool(out.stdout.strip()) and not out.stdout.strip().startswith("Z")


def test_one_worker_when_set(trained, shipyard_home):
    server = start_predictor(
        str(trained.bundle_dir),
        "fraud",
        shipyard_home / "one-worker.log",
        env={"SHIPYARD_SERVING_WORKERS": "1"},
    )
    try:
        assert workers_of(server.process.pid) == []
        with urllib.request.urlopen(f"{server.base_url}/metrics", timeout=10) as response:
            assert b"shipyard_predictor" in response.read()
    finally:
        server.stop()
