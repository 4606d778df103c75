"""Shared fixtures: one isolated Shipyard home (SQLite MLflow store) per session, one small
dataset, one trained model and its one registered version, one S3-compatible server (moto)
started and stopped by PID."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, NamedTuple

import pytest

from shipyard.settings import Settings, get_settings
from support import REGISTERED_NAME, free_port, listening

if TYPE_CHECKING:
    from shipyard.steps.register import Decision


@pytest.fixture(scope="session", autouse=True)
def shipyard_home(tmp_path_factory):
    """Every test runs against a fresh home: its own SQLite MLflow store and artifacts."""
    home = tmp_path_factory.mktemp("shipyard-home")
    saved = {k: os.environ.get(k) for k in ("SHIPYARD_HOME", "SHIPYARD_MLFLOW_TRACKING_URI")}
    os.environ["SHIPYARD_HOME"] = str(home)
    os.environ.pop("SHIPYARD_MLFLOW_TRACKING_URI", None)
    get_settings.cache_clear()
    yield home
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def small_data(tmp_path_factory):
    """A 3 000-row synthetic split, validated, with its inferred schema."""
    import pandas as pd

    from shipyard.data.schema import infer_schema
    from shipyard.steps.ingest import ingest

    folder = tmp_path_factory.mktemp("data")
    result = ingest(folder / "train.parquet", folder / "test.parquet", rows=3000, seed=7)
    schema = infer_schema(pd.read_parquet(folder / "train.parquet"), "is_fraud")
    schema.save(folder / "schema.json")
    return {
        "train": folder / "train.parquet",
        "test": folder / "test.parquet",
        "schema": folder / "schema.json",
        "ingest": result,
        "folder": folder,
    }


@pytest.fixture(scope="session")
def trained(small_data, tmp_path_factory):
    """One XGBoost model trained and logged to MLflow, shared by every test that needs one."""
    from shipyard.steps.train import train

    model_dir = tmp_path_factory.mktemp("model") / "bundle"
    return train(
        small_data["train"],
        small_data["test"],
        small_data["schema"],
        model_dir,
        "xgboost",
        {"n_estimators": 60},
        threshold=None,
        pipeline_run_id="test-session",
    )


class Registered(NamedTuple):
    """The session's registered version: the settings naming it and register's decision."""

    settings: Settings
    decision: Decision


@pytest.fixture(scope="session")
def registered(trained, small_data):
    """``trained`` registered once, as version 1 and champion of ``REGISTERED_NAME``, with
    everything register stores beside it (drift detector, estimate calibration, attribution).
    Tests only read it: one that moves aliases or registers again makes its own."""
    from shipyard.settings import settings_for
    from shipyard.steps.register import register

    settings = settings_for(REGISTERED_NAME)
    decision = register(
        trained.model_uri,
        trained.bundle_dir,
        small_data["test"],
        settings=settings,
        reference_path=small_data["train"],
    )
    assert decision.promoted and decision.version == "1"
    return Registered(settings, decision)


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3-compatible server on 127.0.0.1 (no MinIO server binary is installable here)."""
    port = free_port()
    with listening([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], port):
        yield f"127.0.0.1:{port}"


@pytest.fixture
def s3_settings(s3_server):
    from shipyard.settings import Settings

    return Settings(
        s3_endpoint=s3_server,
        s3_access_key="testing",
        s3_secret_key="testing",
        s3_region="us-east-1",
    )
