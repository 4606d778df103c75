"""A drift detector stored with the model version it was fitted for: logged beside the
version's model, its location and checksum tagged on the version, fetched back through
``Registry.fetch`` (so the detector sidecar reads it the way the predictor reads the model)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.errors import ConfigError
from shipyard.model.bundle import directory_sha256
from shipyard.model.ref import ModelRef
from shipyard.registry.client import DETECTOR, DETECTOR_SHA_TAG, DETECTOR_URI_TAG, Registry
from shipyard.settings import Settings

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from shipyard.monitoring.drift import DriftDetector


def store_detector(mlflow_client: MlflowClient, ref: ModelRef, directory: Path) -> dict[str, str]:
    """Log the detector beside the version's model; tag the version; return the tags."""
    run_id = mlflow_client.get_model_version(ref.name, ref.number).run_id
    if run_id is None:
        raise ConfigError(
            f"{ref} was not logged by a run: its drift detector has no run to go to",
            hint="register models logged by Shipyard's train or tune step",
        )
    path = f"drift_detector/v{ref.version}"
    mlflow_client.log_artifacts(run_id, str(directory), path)
    tags = {
        DETECTOR_URI_TAG: f"runs:/{run_id}/{path}",
        DETECTOR_SHA_TAG: directory_sha256(directory),
    }
    for key, value in tags.items():
        mlflow_client.set_model_version_tag(ref.name, ref.number, key, value)
    return tags


def load_drift_detector(
    ref: ModelRef, settings: Settings | None = None, registry: Registry | None = None
) -> DriftDetector:
    """The drift detector stored with the version ``ref`` names, checked against the checksum
    recorded at registration."""
    from shipyard.monitoring.drift import DriftDetector

    registry = registry or Registry(settings)
    return DriftDetector.load(registry.fetch(ref, DETECTOR).path)
