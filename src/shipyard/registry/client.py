"""MLflow registry access: which version a :class:`ModelRef` names, and the one fetch of a
registered version's files (download once into a cache, check against the checksum recorded
at registration) that the predictor, the drift detector, the gate, the export and batch
scoring all use.

The register step itself is ``shipyard.steps.register``; how a detector is stored with a
version, ``shipyard.registry.detectors``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.data.schema import Schema
from shipyard.errors import ConfigError, IntegrityError, ModelNotFound
from shipyard.model.bundle import MANIFEST, LoadedModel, find_bundle, load_bundle, sha256_file
from shipyard.model.ref import CHALLENGER, CHAMPION, ModelRef
from shipyard.settings import Settings, get_settings

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "FetchedVersion",
    "ModelRef",
    "champion_schema",
    "champion_version",
    "client",
    "fetch",
    "load_registered",
    "move_champion",
    "storage_uri",
    "version_of",
    "version_storage_uri",
]
MANIFEST_SHA_TAG = "shipyard.manifest_sha256"
DETECTOR_URI_TAG, DETECTOR_SHA_TAG = "shipyard.drift_detector_uri", "shipyard.drift_sha256"
MODEL, DETECTOR = "model", "drift_detector"


def client(settings: Settings | None = None) -> MlflowClient:
    """An ``MlflowClient`` on the configured tracking and registry store."""
    from mlflow import MlflowClient

    from shipyard.registry.tracking import configure

    configure(settings)
    return MlflowClient()


def version_of(
    ref: ModelRef, settings: Settings | None = None, mlflow_client: MlflowClient | None = None
) -> ModelVersion:
    """The registry's ``ModelVersion`` that ``ref`` names; ModelNotFound if there is none."""
    from mlflow.exceptions import MlflowException

    mlflow_client = mlflow_client or client(settings)
    try:
        if ref.alias:
            return mlflow_client.get_model_version_by_alias(ref.name, ref.alias)
        return mlflow_client.get_model_version(ref.name, ref.number)
    except MlflowException as exc:
        raise ModelNotFound(f"{ref} is not in the registry: {exc.message}") from exc


@dataclass
class FetchedVersion:
    """A registered version's files, downloaded and verified."""

    ref: ModelRef  # by version number
    path: Path
    tags: dict[str, Any]


def fetch(ref: ModelRef, kind: str = MODEL, settings: Settings | None = None) -> FetchedVersion:
    """Download the version's ``kind`` (the model, or its drift detector) into the cache once,
    and check it against the checksum recorded at registration on every call."""
    import mlflow

    from shipyard.model.bundle import directory_sha256

    settings = settings or get_settings()
    version = version_of(ref, settings)
    pinned = ModelRef.of(ref.name, version.version)
    source: str | None
    if kind == MODEL:
        source, recorded = pinned.uri, version.tags.get(MANIFEST_SHA_TAG)
    else:
        source, recorded = version.tags.get(DETECTOR_URI_TAG), version.tags.get(DETECTOR_SHA_TAG)
        if not source:
            raise ModelNotFound(
                f"{ref} (v{version.version}) has no drift detector",
                hint="register it with the pipeline's register step",
            )
    if not recorded:
        raise IntegrityError(
            f"{ref} (v{version.version}) has no recorded {kind} checksum",
            hint="register it with Shipyard's register step",
        )
    cache = settings.home / "serving-cache" / ref.name / str(version.version) / kind
    done = cache / "done"  # holds where the download landed, relative to the cache
    if not done.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=source, dst_path=str(cache / "files")
        )
        done.write_text(str(Path(local).resolve().relative_to(cache.resolve())))
    files = cache / done.read_text()
    if kind == MODEL:
        files = find_bundle(files)
        actual = sha256_file(files / MANIFEST)
    else:
        actual = directory_sha256(files)
    if actual != recorded:
        raise IntegrityError(
            f"{ref} (v{version.version}): the {kind}'s SHA-256 {actual[:12]}… "
            f"differs from the {recorded[:12]}… recorded at registration",
            hint="the artifact changed after registration",
        )
    return FetchedVersion(pinned, files, dict(version.tags))


def load_registered(ref: ModelRef, settings: Settings | None = None) -> LoadedModel:
    """A registered model, fetched and verified (``fetch``), loaded."""
    return load_bundle(fetch(ref, MODEL, settings).path)


def version_storage_uri(ref: ModelRef, settings: Settings | None = None) -> str:
    """Where a version's files live (``s3://…`` with an S3 artifact store): the
    InferenceService's ``storageUri``; the predictor finds the bundle below it."""
    from mlflow.exceptions import MlflowException

    settings = settings or get_settings()
    version = version_of(ref, settings)
    try:
        uri = client(settings).get_model_version_download_uri(ref.name, version.version)
    except MlflowException as exc:
        raise ModelNotFound(f"{ref} is not in the registry: {exc.message}") from exc
    return storage_uri(uri, settings)


def storage_uri(artifact_uri: str, settings: Settings) -> str:
    """An MLflow artifact URI as KServe can fetch it: a server-proxied ``mlflow-artifacts:/X``
    is ``X`` under the server's artifacts destination."""
    from urllib.parse import urlparse

    parsed = urlparse(artifact_uri)
    if parsed.scheme != "mlflow-artifacts":
        return artifact_uri
    if not settings.mlflow_artifacts_destination:
        raise ConfigError(
            f"{artifact_uri} is proxied by the MLflow server; KServe cannot fetch it",
            hint="set SHIPYARD_MLFLOW_ARTIFACTS_DESTINATION to the "
            "server's --artifacts-destination",
        )
    return f"{settings.mlflow_artifacts_destination.rstrip('/')}/{parsed.path.lstrip('/')}"


def move_champion(ref: ModelRef, settings: Settings | None = None) -> None:
    """Point ``champion`` at the version ``ref`` names (a rollout reached 100 %)."""
    version = version_of(ref, settings)
    client(settings).set_registered_model_alias(ref.name, CHAMPION, version.version)


def champion_version(mlflow_client: MlflowClient, name: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(mlflow_client.get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException:
        return None


def champion_schema(settings: Settings | None = None) -> tuple[Schema, str] | None:
    """The schema stored with the current champion, and its version; None before the first."""
    settings = settings or get_settings()
    version = champion_version(client(settings), settings.model_name)
    if version is None:
        return None
    model = load_registered(ModelRef.of(settings.model_name, version), settings)
    return model.schema, version
