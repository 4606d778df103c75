"""MLflow tracking: configuration, one parent run per pipeline run, step runs, model logging.

Each kfp.local task is its own process, so every step calls :func:`configure` and finds its
pipeline run's parent MLflow run by the tag ``shipyard.pipeline_run_id``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import ServiceUnavailable
from shipyard.settings import Settings, get_settings

if TYPE_CHECKING:
    from mlflow import ActiveRun

PIPELINE_RUN_TAG = "shipyard.pipeline_run_id"
STEP_TAG = "shipyard.step"


def mlflow_environment(settings: Settings) -> dict[str, str]:
    """MLflow reads these only from the environment: bounded retries and timeouts (it retries
    unreachable servers with backoff for minutes), no progress bars, and no copy of the
    project's uv.lock in every model version (the model carries its own requirement)."""
    return {
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(settings.mlflow_http_retries),
        "MLFLOW_HTTP_REQUEST_TIMEOUT": str(settings.mlflow_http_timeout_seconds),
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "MLFLOW_LOG_UV_FILES": "false",
    }


def check_reachable(uri: str, timeout: float = 5.0) -> None:
    """For an http(s) tracking URI, fail fast with a clear error if the server is down,
    silent for ``timeout`` seconds, or not an MLflow server (no ``/health``)."""
    if not uri.startswith(("http://", "https://")):
        return
    what = "start it, or unset SHIPYARD_MLFLOW_TRACKING_URI to use the local SQLite store"
    from shipyard import http

    try:
        http.request(uri.rstrip("/") + "/health", timeout=timeout)
        status = 200
    except http.ErrorAnswer as exc:
        status = exc.status
    except ServiceUnavailable as exc:
        raise ServiceUnavailable(
            f"cannot reach the MLflow tracking server at {uri}: {exc.message.rsplit(': ', 1)[-1]}",
            hint=what,
        ) from exc
    if status != 200:
        raise ServiceUnavailable(
            f"{uri} answered HTTP {status} on /health: not a healthy MLflow tracking server",
            hint="check SHIPYARD_MLFLOW_TRACKING_URI (scheme, host, port)",
        )


def s3_artifacts(settings: Settings) -> bool:
    """True when this process's MLflow client talks to S3 itself (boto3): an s3:// artifact
    location, or ``MLFLOW_S3_ENDPOINT_URL`` set. Through a tracking server's proxied
    ``mlflow-artifacts:/`` store, the server does."""
    return (settings.artifact_location or "").startswith("s3://") or bool(
        os.environ.get("MLFLOW_S3_ENDPOINT_URL")
    )


def bound_boto3(settings: Settings) -> None:
    """MLflow builds its S3 clients from boto3's default session (``S3ArtifactRepository``):
    give every client of that session Shipyard's S3 bounds — connect and read timeouts and
    ``s3_retries`` retries (boto3's own: 60 s timeouts, 4 retries with backoff)."""
    import boto3
    from botocore.config import Config

    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    boto3.DEFAULT_SESSION._session.set_default_client_config(
        Config(
            connect_timeout=settings.s3_connect_timeout_seconds,
            read_timeout=settings.s3_read_timeout_seconds,
            retries={"total_max_attempts": settings.s3_retries + 1, "mode": "standard"},
        )
    )


def prepare_store(settings: Settings) -> str:
    """Get the configured store ready to be used: MLflow's environment bounds, the SQLite
    file's folder, a health probe of a tracking server, S3 bounds; return its URI. A
    ``Registry`` does this once; a tracking step once per step process."""
    for key, value in mlflow_environment(settings).items():
        os.environ.setdefault(key, value)
    uri = settings.tracking_uri
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    check_reachable(uri)
    if s3_artifacts(settings):
        bound_boto3(settings)
    return uri


def configure(settings: Settings | None = None) -> str:
    """Point MLflow's process-wide tracking at the configured store and experiment (what the
    fluent ``mlflow.start_run``/``log_model`` of a training step need); return the
    experiment id. Registry work goes through ``Registry`` and needs none of this."""
    import mlflow

    settings = settings or get_settings()
    uri = prepare_store(settings)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    experiment = mlflow.get_experiment_by_name(settings.experiment)
    if experiment is not None:
        mlflow.set_experiment(settings.experiment)
        return experiment.experiment_id
    try:
        experiment_id = mlflow.create_experiment(
            settings.experiment, artifact_location=settings.artifact_location
        )
    except mlflow.exceptions.MlflowException:  # created meanwhile by another process
        created = mlflow.get_experiment_by_name(settings.experiment)
        if created is None:  # it was not: MLflow's own error says why
            raise
        experiment_id = created.experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def pipeline_parent_run(pipeline_run_id: str, experiment_id: str) -> str:
    """The id of the parent MLflow run for this pipeline run, created on first use."""
    from mlflow import MlflowClient

    client = MlflowClient()
    found = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{PIPELINE_RUN_TAG}` = '{pipeline_run_id}'",
        max_results=1,
    )
    if found:
        return found[0].info.run_id
    run = client.create_run(
        experiment_id,
        run_name=f"pipeline-{pipeline_run_id[:40]}",
        tags={PIPELINE_RUN_TAG: pipeline_run_id},
    )
    return run.info.run_id


@contextmanager
def step_run(
    step: str,
    pipeline_run_id: str,
    settings: Settings | None = None,
    tags: dict[str, str] | None = None,
) -> Iterator[ActiveRun]:
    """An MLflow run for one step, nested under the pipeline run's parent run."""
    import mlflow

    experiment_id = configure(settings)
    parent = pipeline_parent_run(pipeline_run_id, experiment_id)
    all_tags = {PIPELINE_RUN_TAG: pipeline_run_id, STEP_TAG: step, **(tags or {})}
    with mlflow.start_run(run_id=parent):
        with mlflow.start_run(run_name=step, nested=True, tags=all_tags) as run:
            yield run


def log_bundle(bundle_dir: Path, example: Any, output: Any) -> str:
    """Log the bundle as an MLflow pyfunc model (from code) with signature; return its URI."""
    import mlflow
    from mlflow.models import infer_signature

    import shipyard

    with warnings.catch_warnings():
        # MLflow's hints about integer columns and pyfunc type hints say nothing about this
        # model: the bundle, not MLflow, validates inputs at serving time.
        warnings.simplefilter("ignore", UserWarning)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(Path(shipyard.__file__).parent / "model" / "pyfunc.py"),
            artifacts={"bundle": str(bundle_dir)},
            signature=infer_signature(example, output),
            input_example=example,
            pip_requirements=[f"shipyard=={shipyard.__version__}"],
        )
    return info.model_uri
