"""MLflow wiring: an unreachable server fails fast; artifacts can live on S3 (MinIO)."""

import time

import pytest

from shipyard.errors import ServiceUnavailable
from shipyard.settings import Settings
from shipyard.tracking import check_reachable, configure
from support import free_port


def test_unreachable_server_fails_fast_naming_it():
    uri = f"http://127.0.0.1:{free_port()}"
    start = time.monotonic()
    message = f"cannot reach the MLflow tracking server at {uri}"
    with pytest.raises(ServiceUnavailable, match=message):
        check_reachable(uri)
    assert time.monotonic() - start < 10


def test_models_logged_to_an_s3_artifact_store(s3_server, small_data, tmp_path, monkeypatch):
    """SHIPYARD_MLFLOW_ARTIFACT_LOCATION=s3://… puts models on MinIO/S3 (moto here)."""
    from shipyard.registration import register
    from shipyard.registry import load_registered
    from shipyard.storage import client
    from shipyard.training import train

    s3 = Settings(s3_endpoint=s3_server, s3_access_key="testing", s3_secret_key="testing",
                  s3_region="us-east-1")
    client(s3).make_bucket("mlflow-artifacts")
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", f"http://{s3_server}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    settings = Settings(home=tmp_path, experiment="on-s3", model_name="on-s3",
                        mlflow_artifact_location="s3://mlflow-artifacts/shipyard")
    try:
        result = train(small_data["train"], small_data["test"], small_data["schema"],
                       tmp_path / "bundle", "logistic_regression", threshold=0.5,
                       settings=settings)
        objects = [o.object_name for o in client(s3).list_objects(
            "mlflow-artifacts", prefix="shipyard/", recursive=True)]
        assert any(name.endswith("shipyard_model.json") for name in objects)
        decision = register(result.model_uri, result.bundle_dir, small_data["test"],
                            settings=settings)
        model = load_registered(decision.ref, settings)
        assert model.manifest["model_type"] == "linear"
    finally:
        configure()  # back to the session's store
