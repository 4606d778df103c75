"""`shipyard serve --with-drift`: the detector, killed by PID, is restarted on its port; the
predictor's /metrics counts it and the predictor answers throughout."""

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd

from shipyard.data.synthetic import generate_transactions
from shipyard.drift import DriftDetector
from shipyard.schema import Schema, infer_schema
from shipyard.serving.local import v2_request
from support import free_port, post, stop, wait_for_http

SHIPYARD = str(Path(sys.executable).parent / "shipyard")


def metric(base: str, name: str) -> float | None:
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
    return None


def test_a_killed_detector_is_restarted_and_counted(trained, small_data, tmp_path):
    reference = generate_transactions(2000, seed=1)
    detector = DriftDetector.fit(reference, infer_schema(reference, "is_fraud")).save(
        tmp_path / "detector"
    )
    http, grpc, drift = free_port(), free_port(), free_port()
    out, err = open(tmp_path / "serve.out", "w"), open(tmp_path / "serve.err", "w")
    serve = subprocess.Popen(
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
    base, drift_base = f"http://127.0.0.1:{http}", f"http://127.0.0.1:{drift}"
    try:
        wait_for_http(f"{base}/v2/models/fraud/ready", serve, timeout=180)
        first = int(
            re.search(r"drift detector \(pid (\d+)\)", (tmp_path / "serve.out").read_text()).group(
                1
            )
        )
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
        out.close()
        err.close()
