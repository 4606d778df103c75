"""One real predictor and one real drift detector server per session, on free 127.0.0.1
ports, stopped by PID."""

import json
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from shipyard.data.synthetic import generate_transactions
from shipyard.drift import DriftDetector
from shipyard.rollout.local_router import start_router
from shipyard.schema import Schema, infer_schema
from shipyard.serving.local import start_detector, start_predictor, v2_request
from support import PROJECT, free_port, stop


@pytest.fixture(scope="session")
def predictor_server(trained, shipyard_home):
    """The image's entrypoint script, as a canary, on free 127.0.0.1 ports."""
    grpc_port = free_port()
    server = start_predictor(str(trained.bundle_dir), "fraud", shipyard_home / "predictor.log",
                             grpc_port=grpc_port, role="canary",
                             entrypoint=PROJECT / "kserve" / "predictor_server.py")
    yield {"base": server.base_url, "grpc": f"127.0.0.1:{grpc_port}", "process": server.process}
    server.stop()


def post(url: str, body: bytes | dict, content_type: str = "application/json"):
    """POST and return (status, parsed JSON body) without raising on 4xx/5xx."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@pytest.fixture(scope="session")
def drift_server(tmp_path_factory, shipyard_home):
    reference = generate_transactions(5000, seed=1)
    schema = infer_schema(reference, "is_fraud")
    folder = DriftDetector.fit(reference, schema).save(tmp_path_factory.mktemp("det") / "d")
    server = start_detector(str(folder), "drift", shipyard_home / "drift.log", window_size=400,
                            entrypoint=PROJECT / "kserve" / "drift_server.py")
    yield {"base": server.base_url, "schema": schema}
    server.stop()


@pytest.fixture(scope="session")
def broken_bundle(small_data, tmp_path_factory):
    """A model that needs 'device_score', which the clients' requests lack."""
    from shipyard.training import train

    folder = tmp_path_factory.mktemp("broken")
    rng = np.random.default_rng(3)
    for part in ("train", "test"):
        frame = pd.read_parquet(small_data[part])
        frame["device_score"] = rng.normal(size=len(frame))
        frame.to_parquet(folder / f"{part}.parquet")
    infer_schema(pd.read_parquet(folder / "train.parquet"), "is_fraud").save(
        folder / "schema.json")
    return train(folder / "train.parquet", folder / "test.parquet", folder / "schema.json",
                 folder / "bundle", "xgboost", {"n_estimators": 10}, threshold=0.5,
                 pipeline_run_id="broken").bundle_dir


@pytest.fixture(scope="session")
def fleet(trained, broken_bundle, shipyard_home):
    servers = {}
    try:
        bundles = {"1": trained.bundle_dir, "2": trained.bundle_dir, "3": broken_bundle}
        with ThreadPoolExecutor(3) as pool:  # start the three together
            started = {v: pool.submit(start_predictor, str(b), "fraud",
                                      shipyard_home / f"canary-v{v}.log", model_version=v)
                       for v, b in bundles.items()}
            servers.update({v: future.result() for v, future in started.items()})
        router = start_router("1", servers["1"].base_url, shipyard_home / "router.log")
        servers["router"] = router
        yield {"router": router.base_url,
               "upstreams": {v: s.base_url for v, s in servers.items() if v != "router"}}
    finally:
        for server in servers.values():
            server.stop()


@pytest.fixture(scope="session")
def body(small_data):
    """One client row as a v2 request body."""
    rows = pd.read_parquet(small_data["test"]).head(1)
    return json.dumps(v2_request(rows, Schema.load(small_data["schema"]))).encode()


def call(router: str, body: bytes) -> tuple[str, int]:
    """One request through the router: (where it was routed, HTTP status)."""
    request = urllib.request.Request(f"{router}/v2/models/fraud/infer", data=body,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.headers["x-shipyard-routed-to"], response.status
    except urllib.error.HTTPError as error:
        return error.headers.get("x-shipyard-routed-to", "?"), error.code


class Load:
    """Clients calling the router until stopped; every answer recorded."""

    def __init__(self, router: str, body: bytes, clients: int = 3):
        self.answers: list[tuple[str, int]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(router, body))
                         for _ in range(clients)]

    def _run(self, router, body):
        while not self._stop.is_set():
            self.answers.append(call(router, body))
            time.sleep(0.01)

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join()


@pytest.fixture(scope="session")
def prometheus(fleet, drift_server, tmp_path_factory):
    """Prometheus scraping the fleet's predictors and the drift detector every second; the
    detector's series carry model_version="2", as the PodMonitor relabeling gives them on a
    cluster."""
    targets = {f"predictor-v{v}": (url, v) for v, url in fleet["upstreams"].items()}
    targets["drift"] = (drift_server["base"], "2")
    yield from run_prometheus(targets, tmp_path_factory.mktemp("prometheus"))


def run_prometheus(targets: dict[str, tuple[str, str]], folder):
    """Prometheus (Debian's) on 127.0.0.1 scraping each job's base URL every second with
    the ``model_version`` label given (what the PodMonitor's relabeling attaches on a
    cluster); yields its URL once every target has been scraped, and stops it by PID."""
    import shutil

    import yaml

    if not shutil.which("prometheus"):
        pytest.skip("prometheus is not installed (apt-get install prometheus)")
    jobs = [{"job_name": job, "scrape_interval": "1s",
             "static_configs": [{"targets": [url.removeprefix("http://")],
                                 "labels": {"model_version": version}}]}
            for job, (url, version) in targets.items()]
    (folder / "prometheus.yml").write_text(yaml.safe_dump({"scrape_configs": jobs}))
    port = free_port()
    with open(folder / "prometheus.log", "w") as log:
        process = subprocess.Popen(
            ["prometheus", f"--config.file={folder / 'prometheus.yml'}",
             f"--web.listen-address=127.0.0.1:{port}", f"--storage.tsdb.path={folder / 'data'}"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # ready once every target was scraped
            try:
                with urllib.request.urlopen(f"{url}/api/v1/targets", timeout=2) as response:
                    active = json.loads(response.read())["data"]["activeTargets"]
                if active and all(t["health"] == "up" for t in active):
                    break
            except OSError:
                pass
            time.sleep(0.5)
        else:
            raise TimeoutError(f"Prometheus did not scrape every target; log: {folder}")
        yield url
    finally:
        stop(process)


REQUEST = "org.kubeflow.serving.inference.request"


def cloudevent(base: str, body: dict, kind: str = REQUEST):
    """POST as KServe's agent does: binary-mode CloudEvent headers, JSON data."""
    request = urllib.request.Request(
        f"{base}/v1/models/drift:predict", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "ce-specversion": "1.0",
                 "ce-id": str(uuid.uuid4()), "ce-source": "http://localhost:9081/",
                 "ce-type": kind, "ce-inferenceservicename": "fraud",
                 "ce-namespace": "default", "ce-component": "predictor",
                 "ce-endpoint": "default"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def latest(base: str, windows: int, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{base}/v1/drift/drift", timeout=5) as response:
            state = json.loads(response.read())
        if state["windows_scored"] >= windows:
            return state
        time.sleep(0.2)
    raise TimeoutError(state)
