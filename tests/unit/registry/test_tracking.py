"""MLflow wiring: an unreachable server fails fast; artifacts can live on S3 (MinIO)."""

import time

import pytest

from shipyard.errors import ServiceUnavailable
from shipyard.registry.tracking import check_reachable, configure
from shipyard.settings import Settings
from support import free_port, silent_endpoint, web_server


def test_unreachable_server_fails_fast_naming_it():
    uri = f"http://127.0.0.1:{free_port()}"
    start = time.monotonic()
    message = f"cannot reach the MLflow tracking server at {uri}"
    with pytest.raises(ServiceUnavailable, match=message):
        check_reachable(uri)
    assert time.monotonic() - start < 10


def test_a_silent_or_wrong_server_is_named(tmp_path):
    with silent_endpoint() as endpoint:
        start = time.monotonic()
        with pytest.raises(ServiceUnavailable, match=f"http://{endpoint}: no answer within 1 s"):
            check_reachable(f"http://{endpoint}", timeout=1)
        assert time.monotonic() - start < 3
    with web_server(tmp_path) as endpoint:
        with pytest.raises(
            ServiceUnavailable,
            match="answered HTTP 404 on /health: not a healthy MLflow tracking server",
        ):
            check_reachable(f"http://{endpoint}")


def test_mlflows_boto3_clients_get_the_s3_bounds(tmp_path, monkeypatch):
    """MLflow's own S3 client (an s3:// artifact store) is built with Shipyard's timeouts and
    retries; no S3 is contacted to build it."""
    from mlflow.store.artifact.s3_artifact_repo import _get_s3_client

    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    settings = Settings(
        home=tmp_path,
        experiment="bounded",
        s3_read_timeout_seconds=7,
        s3_connect_timeout_seconds=3,
        s3_retries=2,
        mlflow_artifact_location="s3://bounded/mlflow",
    )
    try:
        configure(settings)
        config = _get_s3_client(region_name="us-east-1").meta.config
        assert (config.connect_timeout, config.read_timeout) == (3, 7)
        assert config.retries["total_max_attempts"] == 3
    finally:
        configure()


def test_models_logged_to_an_s3_artifact_store(s3_server, small_data, tmp_path, monkeypatch):
    """SHIPYARD_MLFLOW_ARTIFACT_LOCATION=s3://… puts models on MinIO/S3 (moto here)."""
    from shipyard.registry.client import load_registered
    from shipyard.steps.register import register
    from shipyard.steps.train import train
    from shipyard.storage import client

    s3 = Settings(
        s3_endpoint=s3_server,
        s3_access_key="testing",
        s3_secret_key="testing",
        s3_region="us-east-1",
    )
    client(s3).make_bucket("mlflow-artifacts")
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", f"http://{s3_server}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    settings = Settings(
        home=tmp_path,
        experiment="on-s3",
        model_name="on-s3",
        mlflow_artifact_location="s3://mlflow-artifacts/shipyard",
    )
    try:
        result = train(
            small_data["train"],
            small_data["test"],
            small_data["schema"],
            tmp_path / "bundle",
            "logistic_regression",
            threshold=0.5,
            settings=settings,
        )
        objects = [
            o.object_name
            for o in client(s3).list_objects("mlflow-artifacts", prefix="shipyard/", recursive=True)
        ]
        assert any(name.endswith("shipyard_model.json") for name in objects)
        decision = register(
            result.model_uri, result.bundle_dir, small_data["test"], settings=settings
        )
        model = load_registered(decision.ref, settings)
        assert model.manifest["model_type"] == "linear"
    finally:
        configure()  # back to the session's store
