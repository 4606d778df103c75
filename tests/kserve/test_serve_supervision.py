"""`shipyard serve --with-drift`: the detector, killed by PID, is restarted on its port; the
predictor's /metrics counts it and the predictor answers throughout."""

import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pandas as pd

from shipyard.data.schema import Schema, infer_schema
from shipyard.data.synthetic import generate_transactions
from shipyard.local.servers import v2_request
from shipyard.monitoring.drift import DriftDetector
from support import SHIPYARD, free_port, post, stop, wait_for_http


def metric(base: str, name: str) -> float | None:
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
    return None


def fitted_detector(tmp_path: Path) -> Path:
    """A drift detector fitted on 2 000 synthetic rows, saved in ``tmp_path``."""
    reference = generate_transactions(2000, seed=1)
    return DriftDetector.fit(reference, infer_schema(reference, "is_fraud")).save(
        tmp_path / "detector"
    )


def serve_with_drift(tmp_path, trained, detector, http, grpc, drift, tag):
    """`shipyard serve --with-drift` on the session's model, its output in ``tag``.out/.err."""
    out, err = open(tmp_path / f"{tag}.out", "w"), open(tmp_path / f"{tag}.err", "w")
    process = subprocess.Popen(
        [
            SHIPYARD,
            "serve",
            "--source",
            str(trained.bundle_dir),
            "--name",
            "fraud",
            "--http-port",
            str(http),
            "--grpc-port",
            str(grpc),
            "--with-drift",
            "--drift-source",
            str(detector),
            "--drift-port",
            str(drift),
        ],
        env={**os.environ, "SHIPYARD_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1"},
        stdout=out,
        stderr=err,
        start_new_session=True,
    )
    out.close()
    err.close()
    return process


def detector_pid(out: Path) -> int:
    """The drift detector's PID as `shipyard serve` printed it."""
    return int(re.search(r"drift detector \(pid (\d+)\)", out.read_text()).group(1))


def test_a_killed_detector_is_restarted_and_counted(trained, small_data, tmp_path):
    detector = fitted_detector(tmp_path)
    http, grpc, drift = free_port(), free_port(), free_port()
    serve = serve_with_drift(tmp_path, trained, detector, http, grpc, drift, "serve")
    base, drift_base = f"http://127.0.0.1:{http}", f"http://127.0.0.1:{drift}"
    try:
        wait_for_http(f"{base}/v2/models/fraud/ready", serve, timeout=180)
        first = detector_pid(tmp_path / "serve.out")
        assert metric(base, 'shipyard_drift_detector_up{detector="drift"}') == 1
        body = v2_request(
            pd.read_parquet(small_data["test"]).head(5), Schema.load(small_data["schema"])
        )

        os.kill(first, signal.SIGKILL)  # by PID
        killed = time.monotonic()
        answers, restarted = [], None
        while time.monotonic() - killed < 120:
            answers.append(post(f"{base}/v2/models/fraud/infer", body)[0])
            if (
                metric(base, 'shipyard_drift_detector_restarts_total{detector="drift"}') == 1
                and metric(base, 'shipyard_drift_detector_up{detector="drift"}') == 1
            ):
                restarted = time.monotonic() - killed
                break
            time.sleep(0.2)
        print(
            f"detector killed; restarted and up again after {restarted:.1f} s; "
            f"{len(answers)} requests answered meanwhile"
        )
        assert restarted is not None, (tmp_path / "serve.err").read_text()
        assert set(answers) == {200}  # the predictor answered throughout
        assert metric(base, 'shipyard_drift_detector_exits_total{detector="drift"}') == 1
        with urllib.request.urlopen(f"{drift_base}/v1/drift/drift", timeout=5) as response:
            assert response.status == 200  # the same port, so forwarding resumes
        said = [
            line
            for line in (tmp_path / "serve.err").read_text().splitlines()
            if "shipyard: drift detector" in line
        ]
        assert (
            f"drift detector (pid {first}) was killed by signal 9; restarting it (1 of 3 "
            "within 60 s" in said[0]
        )
        assert "drift detector restarted (pid " in said[1] and len(said) == 2
        log = (tmp_path / "home" / "drift.log").read_text()
        assert log.count("Uvicorn running") >= 2 or log.count("Started server") >= 2, log[-2000:]
    finally:
        stop(serve)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_detector_dies_with_a_killed_serve_and_frees_its_port(trained, tmp_path):
    """`kill -9` of `shipyard serve --with-drift`: the detector follows it (parent-death
    signal, watchdog), its port is free within 5 s, and the next `serve` starts."""
    from shipyard.processes import listen_problem

    detector = fitted_detector(tmp_path)
    http, grpc, drift = free_port(), free_port(), free_port()
    serve = serve_with_drift(tmp_path, trained, detector, http, grpc, drift, "first")
    child = None
    again = None
    try:
        wait_for_http(f"http://127.0.0.1:{http}/v2/models/fraud/ready", serve, timeout=180)
        child = detector_pid(tmp_path / "first.out")
        assert alive(child) and listen_problem("127.0.0.1", drift) == "already in use"

        os.kill(serve.pid, signal.SIGKILL)  # by PID: nothing runs the parent's cleanup
        killed = time.monotonic()
        serve.wait()
        while time.monotonic() - killed < 30 and (
            listen_problem("127.0.0.1", drift) is not None or alive(child)
        ):
            time.sleep(0.05)
        freed = time.monotonic() - killed
        print(f"serve killed with -9: the detector's port was free after {freed:.2f} s")
        assert listen_problem("127.0.0.1", drift) is None
        assert freed < 5
        log = (tmp_path / "home" / "drift.log").read_text()
        assert f"shipyard: the parent process (pid {serve.pid}) is gone" in log, log[-2000:]

        again = serve_with_drift(tmp_path, trained, detector, http, grpc, drift, "second")
        wait_for_http(f"http://127.0.0.1:{http}/v2/models/fraud/ready", again, timeout=180)
        assert again.poll() is None  # not exit 3 for a busy port
    finally:
        if child is not None and alive(child):
            os.killpg(child, signal.SIGKILL)  # its own session: its group is its pid
        if again is not None:
            stop(again)
        if serve.poll() is None:
            stop(serve)
