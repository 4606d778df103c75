"""MLflow tracking: configuration, one parent run per pipeline run, step runs, model logging.

Each kfp.local task is its own process, so every step calls :func:`configure` and finds its
pipeline run's parent MLflow run by the tag ``shipyard.pipeline_run_id``.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from shipyard.errors import ServiceUnavailable
from shipyard.settings import Settings, get_settings

PIPELINE_RUN_TAG = "shipyard.pipeline_run_id"
STEP_TAG = "shipyard.step"


def mlflow_environment(settings: Settings) -> dict[str, str]:
    """MLflow reads these only from the environment: bounded retries and timeouts (it retries
    unreachable servers with backoff for minutes), no progress bars, and no copy of the
    project's uv.lock in every model version (the model carries its own requirement)."""
    return {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(settings.mlflow_http_retries),
            "MLFLOW_HTTP_REQUEST_TIMEOUT": str(settings.mlflow_http_timeout_seconds),
            "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false", "MLFLOW_LOG_UV_FILES": "false"}


def check_reachable(uri: str, timeout: float = 5.0) -> None:
    """For an http(s) tracking URI, fail fast with a clear error if the server is down."""
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout) as response:
            if response.status != 200:
                raise ServiceUnavailable(f"MLflow at {uri} answered {response.status} on /health")
    except (urllib.error.URLError, OSError) as exc:
        raise ServiceUnavailable(f"cannot reach the MLflow tracking server at {uri}: {exc}",
                                 hint="start it, or unset SHIPYARD_MLFLOW_TRACKING_URI to use "
                                      "the local SQLite store") from exc


def configure(settings: Settings | None = None) -> str:
    """Point MLflow at the configured store and experiment; return the experiment id."""
    import mlflow

    settings = settings or get_settings()
    for key, value in mlflow_environment(settings).items():
        os.environ.setdefault(key, value)
    uri = settings.tracking_uri
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    check_reachable(uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    experiment = mlflow.get_experiment_by_name(settings.experiment)
    if experiment is not None:
        mlflow.set_experiment(settings.experiment)
        return experiment.experiment_id
    try:
        experiment_id = mlflow.create_experiment(settings.experiment,
                                                 artifact_location=settings.artifact_location)
    except mlflow.exceptions.MlflowException:  # created meanwhile by another process
        experiment_id = mlflow.get_experiment_by_name(settings.experiment).experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def pipeline_parent_run(pipeline_run_id: str, experiment_id: str) -> str:
    """The id of the parent MLflow run for this pipeline run, created on first use."""
    from mlflow import MlflowClient

    client = MlflowClient()
    found = client.search_runs([experiment_id],
                               filter_string=f"tags.`{PIPELINE_RUN_TAG}` = '{pipeline_run_id}'",
                               max_results=1)
    if found:
        return found[0].info.run_id
    run = client.create_run(experiment_id, run_name=f"pipeline-{pipeline_run_id[:40]}",
                            tags={PIPELINE_RUN_TAG: pipeline_run_id})
    return run.info.run_id


@contextmanager
def step_run(step: str, pipeline_run_id: str, settings: Settings | None = None,
             tags: dict[str, str] | None = None):
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
            name="model", python_model=str(Path(shipyard.__file__).parent / "mlflow_pyfunc.py"),
            artifacts={"bundle": str(bundle_dir)}, signature=infer_signature(example, output),
            input_example=example, pip_requirements=[f"shipyard=={shipyard.__version__}"])
    return info.model_uri
