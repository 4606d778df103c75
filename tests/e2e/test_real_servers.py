"""The pipeline against real servers on 127.0.0.1: an MLflow tracking server (PostgreSQL
backend where installed, artifacts proxied to S3) and an S3-compatible server (moto; no MinIO
server binary is in the registries) reached through the ``minio`` client. Data comes from a
bucket, models land in it, the registry lives on the server, and the champion is served from
its s3:// storage URI the way KServe's storage initializer fetches it."""

import json
import os
import subprocess
import sys

import pytest

from shipyard.data.sources import read_table, write_table
from shipyard.data.synthetic import generate_transactions
from shipyard.errors import ServiceUnavailable
from shipyard.local.pipeline import PipelineFailed, run_local
from shipyard.preflight import check_services
from shipyard.settings import Settings, get_settings
from shipyard.storage import client
from support import free_port, stop, wait_for_port

pytestmark = pytest.mark.e2e
DATA = "s3://shipyard-data/transactions.parquet"


@pytest.fixture
def on_servers(mlflow_server, monkeypatch, tmp_path):
    """Environment as `make run` sees it with the servers' variables set; every kfp.local
    task (a fresh process) inherits it."""
    env = {
        "SHIPYARD_MLFLOW_TRACKING_URI": mlflow_server["uri"],
        "SHIPYARD_MLFLOW_ARTIFACTS_DESTINATION": mlflow_server["artifacts"],
        "SHIPYARD_S3_ENDPOINT": mlflow_server["s3"],
        "SHIPYARD_S3_ACCESS_KEY": "testing",
        "SHIPYARD_S3_SECRET_KEY": "testing",
        "SHIPYARD_S3_REGION": "us-east-1",
        "SHIPYARD_HOME": str(tmp_path / "home"),
        "SHIPYARD_EXPERIMENT": "on-servers",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield get_settings()
    monkeypatch.undo()
    get_settings.cache_clear()


def test_pipeline_reads_a_bucket_and_registers_on_the_mlflow_server(
    pipeline_file, on_servers, mlflow_server, postgres_uri, tmp_path
):
    from mlflow import MlflowClient

    from shipyard.data.schema import Schema
    from shipyard.local.servers import start_predictor, v2_request
    from shipyard.model.ref import ModelRef
    from shipyard.registry.client import CHAMPION, Registry
    from shipyard.registry.tracking import configure

    s3 = client(on_servers)
    s3.make_bucket("shipyard-data")
    write_table(generate_transactions(rows=4000, seed=3), DATA, on_servers)

    # PostgreSQL is the backend wherever Debian's server is installed (SQLite otherwise).
    assert mlflow_server["backend"] == ("postgresql+psycopg2" if postgres_uri else "sqlite")
    run = run_local(
        pipeline_file,
        {
            "source": DATA,
            "model_name": "servers-fraud",
            "n_candidates": 2,
            "model_types": "logistic_regression",
        },
    )
    assert run.step("register").metrics["promoted"] is True

    configure(on_servers)
    version = MlflowClient().get_model_version_by_alias("servers-fraud", CHAMPION)
    assert MlflowClient().tracking_uri == on_servers.mlflow_tracking_uri
    ingest = json.loads((run.run_dir / "ingest-op" / "executor_output.json").read_text())
    data = ingest["artifacts"]["train_data"]["artifacts"][0]["metadata"]
    assert data["source"] == DATA  # read from the bucket, and the version says which data
    assert version.tags["shipyard.data_hash"] == data["content_hash"]

    # The model's files are in the bucket, and its storage URI names them there.
    uri = Registry(on_servers).storage_uri(ModelRef.of("servers-fraud", version.version))
    assert uri.startswith("s3://shipyard/mlflow/")
    prefix = uri.removeprefix("s3://shipyard/") + "/"
    objects = [o.object_name for o in s3.list_objects("shipyard", prefix=prefix, recursive=True)]
    assert any(name.endswith("shipyard_model.json") for name in objects), objects

    # `--model-format sklearn`: KServe's stock runtime gets an export next to the version.
    from shipyard.rollout.run import export_for_stock_runtime

    stock = export_for_stock_runtime(
        ModelRef.of("servers-fraud", version.version), uri, "fraud", Registry(on_servers)
    )
    assert stock == f"{uri}/kserve-sklearn"
    settings_key = stock.removeprefix("s3://shipyard/") + "/model-settings.json"
    stock_settings = json.loads(s3.get_object("shipyard", settings_key).read())
    assert stock_settings["parameters"]["version"] == str(version.version)
    s3.stat_object("shipyard", settings_key.replace("model-settings.json", "model.joblib"))

    # What KServe's storage initializer does with storageUri: copy the prefix to the model
    # mount; the predictor serves it from there with the version label the rollout sets.
    mount = tmp_path / "mnt-models"
    for name in objects:
        s3.fget_object("shipyard", name, str(mount / name.removeprefix(prefix)))
    predictor = start_predictor(
        str(mount), "fraud", tmp_path / "predictor.log", model_version=str(version.version)
    )
    try:
        rows = read_table(DATA, on_servers).drop(columns=["is_fraud"]).head(2)
        schema = Schema.load(run.run_dir / "validate-op" / "schema")
        answer = predictor.infer(v2_request(rows, schema))
        assert answer["model_version"] == str(version.version)
        assert {o["name"] for o in answer["outputs"]} >= {"predict", "predict_proba"}
    finally:
        predictor.stop()


def test_refused_s3_credentials_stop_the_pipeline_at_ingest_saying_so(
    pipeline_file, monkeypatch, tmp_path
):
    """moto with authentication on (INITIAL_NO_AUTH_ACTION_COUNT=0) knows no access key."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_port(port, process)
        settings = Settings(
            s3_endpoint=f"127.0.0.1:{port}",
            s3_access_key="nobody",
            s3_secret_key="wrong",
            s3_region="us-east-1",
        )
        with pytest.raises(ServiceUnavailable, match="refused the credentials"):
            read_table(DATA, settings)
        # `shipyard run` says so before any step starts
        with pytest.raises(ServiceUnavailable, match="refused the credentials"):
            check_services(settings, reads=[DATA])
        monkeypatch.setenv("SHIPYARD_S3_ENDPOINT", f"127.0.0.1:{port}")
        monkeypatch.setenv("SHIPYARD_S3_ACCESS_KEY", "nobody")
        monkeypatch.setenv("SHIPYARD_S3_SECRET_KEY", "wrong")
        monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "home"))
        get_settings.cache_clear()
        with pytest.raises(PipelineFailed) as failed:
            run_local(pipeline_file, {"source": DATA, "model_name": "refused"})
        assert failed.value.step == "ingest"
    finally:
        stop(process)
        monkeypatch.undo()
        get_settings.cache_clear()
