"""One real predictor and one real drift detector server per session, on free 127.0.0.1
ports, stopped by PID; the model they serve, loaded once."""

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from shipyard.data.schema import Schema, infer_schema
from shipyard.data.synthetic import generate_transactions
from shipyard.local.router import start_router
from shipyard.local.servers import start_detector, start_predictor, v2_request
from shipyard.monitoring.drift import DriftDetector
from support import free_port, run_prometheus


@pytest.fixture(scope="session")
def model(trained):
    """The session's trained bundle, loaded once: what the servers' answers are checked
    against (read, never changed)."""
    from shipyard.model.bundle import load_bundle

    return load_bundle(trained.bundle_dir)


@pytest.fixture(scope="session")
def predictor_server(trained, shipyard_home):
    """`shipyard-predictor` (the image's entrypoint), as a canary, on free 127.0.0.1 ports."""
    grpc_port = free_port()
    server = start_predictor(
        str(trained.bundle_dir),
        "fraud",
        shipyard_home / "predictor.log",
        grpc_port=grpc_port,
        role="canary",
    )
    yield {"base": server.base_url, "grpc": f"127.0.0.1:{grpc_port}", "process": server.process}
    server.stop()


@pytest.fixture(scope="session")
def drift_server(tmp_path_factory, shipyard_home):
    reference = generate_transactions(5000, seed=1)
    schema = infer_schema(reference, "is_fraud")
    folder = DriftDetector.fit(reference, schema).save(tmp_path_factory.mktemp("det") / "d")
    label_token = "fixture-label-t0ken"  # labels are on, behind their own token
    server = start_detector(
        str(folder),
        "drift",
        shipyard_home / "drift.log",
        window_size=400,
        env={"SHIPYARD_LABEL_TOKEN": label_token},
    )
    yield {"base": server.base_url, "schema": schema, "label_token": label_token}
    server.stop()


@pytest.fixture(scope="session")
def broken_bundle(small_data, tmp_path_factory):
    """A model that needs 'device_score', which the clients' requests lack."""
    from shipyard.steps.train import train

    folder = tmp_path_factory.mktemp("broken")
    rng = np.random.default_rng(3)
    for part in ("train", "test"):
        frame = pd.read_parquet(small_data[part])
        frame["device_score"] = rng.normal(size=len(frame))
        frame.to_parquet(folder / f"{part}.parquet")
    infer_schema(pd.read_parquet(folder / "train.parquet"), "is_fraud").save(folder / "schema.json")
    return train(
        folder / "train.parquet",
        folder / "test.parquet",
        folder / "schema.json",
        folder / "bundle",
        "xgboost",
        {"n_estimators": 10},
        threshold=0.5,
        pipeline_run_id="broken",
    ).bundle_dir


@pytest.fixture(scope="session")
def fleet(trained, broken_bundle, shipyard_home):
    servers = {}
    try:
        bundles = {"1": trained.bundle_dir, "2": trained.bundle_dir, "3": broken_bundle}
        with ThreadPoolExecutor(3) as pool:  # start the three together
            started = {
                v: pool.submit(
                    start_predictor,
                    str(b),
                    "fraud",
                    shipyard_home / f"canary-v{v}.log",
                    model_version=v,
                )
                for v, b in bundles.items()
            }
            servers.update({v: future.result() for v, future in started.items()})
        router = start_router("1", servers["1"].base_url, shipyard_home / "router.log")
        servers["router"] = router
        yield {
            "router": router.base_url,
            "upstreams": {v: s.base_url for v, s in servers.items() if v != "router"},
        }
    finally:
        for server in servers.values():
            server.stop()


@pytest.fixture(scope="session")
def body(small_data):
    """One client row as a v2 request body."""
    rows = pd.read_parquet(small_data["test"]).head(1)
    return json.dumps(v2_request(rows, Schema.load(small_data["schema"]))).encode()


@pytest.fixture(scope="session")
def prometheus(fleet, drift_server, tmp_path_factory):
    """Prometheus scraping the fleet's predictors and the drift detector every second; the
    detector's series carry model_version="2", as the PodMonitor relabeling gives them on a
    cluster."""
    targets = {f"predictor-v{v}": (url, v) for v, url in fleet["upstreams"].items()}
    targets["drift"] = (drift_server["base"], "2")
    yield from run_prometheus(targets, tmp_path_factory.mktemp("prometheus"))
