"""Where a served model comes from: ``models:/name@alias`` or ``models:/name/3`` in the MLflow
registry, a local bundle folder, or KServe's model mount (``/mnt/models``, what a
``storageUri`` on MinIO/S3 becomes). Registry models are checked against the manifest checksum
recorded at registration before anything is deserialised."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from shipyard.errors import IntegrityError, ModelNotFound
from shipyard.model_bundle import MANIFEST, LoadedModel, find_bundle, load_bundle, sha256_file
from shipyard.settings import Settings, get_settings

KSERVE_MODEL_MOUNT = Path("/mnt/models")
_REGISTRY = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[\w-]+)|/(?P<version>\d+))$")


@dataclass
class ServedModel:
    model: LoadedModel
    name: str
    version: str
    source: str


def resolve(source: str, settings: Settings | None = None) -> ServedModel:
    """Fetch (if needed), verify and load the model that ``source`` names."""
    settings = settings or get_settings()
    match = _REGISTRY.match(source)
    if match:
        return _from_registry(match, source, settings)
    path = Path(source.removeprefix("file://"))
    if not path.exists():
        raise ModelNotFound(f"no model at {source}",
                            hint="give models:/name@alias, models:/name/N or a bundle folder")
    model = load_bundle(find_bundle(path))  # /mnt/models holds the whole MLflow model
    version = settings.model_version or str(model.manifest.get("version", "local"))
    return ServedModel(model, settings.model_name, version, source)


def _from_registry(match: re.Match, source: str, settings: Settings) -> ServedModel:
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from shipyard.tracking import configure

    configure(settings)
    client = MlflowClient()
    name = match["name"]
    try:
        version = (client.get_model_version_by_alias(name, match["alias"]) if match["alias"]
                   else client.get_model_version(name, match["version"]))
    except MlflowException as exc:
        raise ModelNotFound(f"{source} is not in the registry: {exc.message}") from exc
    cache = settings.home / "serving-cache" / name / str(version.version)
    if not (cache / "done").is_file():
        cache.mkdir(parents=True, exist_ok=True)
        mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version.version}",
                                            dst_path=str(cache))
        (cache / "done").write_text("")
    bundle = find_bundle(cache)
    recorded = version.tags.get("shipyard.manifest_sha256")
    if not recorded:
        raise IntegrityError(f"{source} (v{version.version}) has no recorded manifest checksum",
                             hint="register it with Shipyard's register step")
    actual = sha256_file(bundle / MANIFEST)
    if actual != recorded:
        raise IntegrityError(f"{source} (v{version.version}): the manifest's SHA-256 "
                             f"{actual[:12]}… differs from the {recorded[:12]}… recorded at "
                             "registration", hint="the artifact changed after registration")
    return ServedModel(load_bundle(bundle), name, str(version.version), source)
