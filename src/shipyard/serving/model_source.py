"""Where a served model comes from: a registered version (a :class:`ModelRef`, fetched and
verified by ``Registry.fetch``), a local bundle folder, or KServe's model mount
(``/mnt/models``, what a ``storageUri`` on MinIO/S3 becomes). A folder is checked against
``SHIPYARD_MODEL_SHA256`` where it is set (the InferenceService passes the checksum recorded
at registration), so the pod's predictor reads the artifact as strictly as the registry path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shipyard.errors import IntegrityError, ModelNotFound
from shipyard.model.bundle import MANIFEST, LoadedModel, find_bundle, load_bundle, sha256_file
from shipyard.model.ref import ModelRef
from shipyard.settings import Settings, get_settings

KSERVE_MODEL_MOUNT = Path("/mnt/models")


@dataclass
class ServedModel:
    model: LoadedModel
    name: str
    version: str
    source: str


def resolve(source: str, settings: Settings | None = None) -> ServedModel:
    """Fetch (if needed), verify and load the model that ``source`` names."""
    from shipyard.registry.client import MODEL, fetch

    settings = settings or get_settings()
    if ModelRef.is_ref(source):
        fetched = fetch(ModelRef.parse(source), MODEL, settings)
        return ServedModel(
            load_bundle(fetched.path), fetched.ref.name, str(fetched.ref.version), source
        )
    path = Path(source.removeprefix("file://"))
    if not path.exists():
        raise ModelNotFound(
            f"no model at {source}",
            hint="give models:/name@alias, models:/name/N or a bundle folder",
        )
    bundle = find_bundle(path)  # /mnt/models holds the whole MLflow model
    if settings.model_sha256:
        actual = sha256_file(bundle / MANIFEST)
        if actual != settings.model_sha256:
            raise IntegrityError(
                f"the model at {source}: manifest SHA-256 {actual[:12]}… "
                f"differs from the {settings.model_sha256[:12]}… recorded at "
                "registration",
                hint="the artifact changed after registration",
            )
    model = load_bundle(bundle)
    version = settings.model_version or str(model.manifest.get("version", "local"))
    return ServedModel(model, settings.model_name, version, source)
