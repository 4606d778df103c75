"""MLflow registry access: which version a :class:`ModelRef` names, and the one fetch of a
registered version's files (download once into a cache, check against the checksum recorded
at registration) that the predictor, the drift detector, the gate, the export and batch
scoring all use.

Everything goes through one :class:`Registry`: one ``MlflowClient`` on the configured
tracking and registry store, the store prepared once when it is made, MLflow's process-wide
state left alone. The register step itself is ``shipyard.steps.register``; how a detector is
stored with a version, ``shipyard.registry.detectors``.
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.data.schema import Schema
from shipyard.errors import ConfigError, IntegrityError, ModelNotFound
from shipyard.model.bundle import MANIFEST, LoadedModel, find_bundle, load_bundle, sha256_file
from shipyard.model.ref import CHALLENGER, CHAMPION, SCHEME, ModelRef
from shipyard.settings import Settings, get_settings

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "FetchedVersion",
    "ModelRef",
    "Registry",
    "fetch",
    "load_registered",
    "storage_uri",
]
MANIFEST_SHA_TAG = "shipyard.manifest_sha256"
DETECTOR_URI_TAG, DETECTOR_SHA_TAG = "shipyard.drift_detector_uri", "shipyard.drift_sha256"
MODEL, DETECTOR = "model", "drift_detector"


@dataclass
class FetchedVersion:
    """A registered version's files, downloaded and verified."""

    ref: ModelRef  # by version number
    path: Path
    tags: dict[str, Any]


class Registry:
    """The MLflow model registry through one ``MlflowClient(tracking_uri, registry_uri)``,
    made once: the store is prepared (bounds, health probe) here and not on every call, and
    no global MLflow state is touched, so two registries in one process do not interfere."""

    def __init__(self, settings: Settings | None = None) -> None:
        from mlflow import MlflowClient

        from shipyard.registry.tracking import prepare_store

        self.settings = settings or get_settings()
        self.uri = prepare_store(self.settings)
        self.client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)

    def version_of(self, ref: ModelRef) -> ModelVersion:
        """The registry's ``ModelVersion`` that ``ref`` names; ModelNotFound if there is none."""
        from mlflow.exceptions import MlflowException

        try:
            if ref.alias:
                return self.client.get_model_version_by_alias(ref.name, ref.alias)
            return self.client.get_model_version(ref.name, ref.number)
        except MlflowException as exc:
            raise ModelNotFound(f"{ref} is not in the registry: {exc.message}") from exc

    def pinned(self, ref: ModelRef) -> ModelRef:
        """``ref`` by version number (an alias resolved now)."""
        return ref if ref.version else ModelRef.of(ref.name, self.version_of(ref).version)

    def champion_version(self, name: str) -> str | None:
        """The version ``champion`` names; None before the first."""
        from mlflow.exceptions import MlflowException

        try:
            return str(self.client.get_model_version_by_alias(name, CHAMPION).version)
        except MlflowException:
            return None

    def fetch(self, ref: ModelRef, kind: str = MODEL) -> FetchedVersion:
        """Download the version's ``kind`` (the model, or its drift detector) into the cache
        once, and check it against the checksum recorded at registration on every call."""
        version = self.version_of(ref)
        pinned = ModelRef.of(ref.name, version.version)
        source, recorded = self._source(pinned, version, kind)
        cache = _cache(self.settings, pinned, kind)
        done = cache / "done"  # holds where the download landed, relative to the cache
        if not done.is_file():
            import mlflow

            cache.mkdir(parents=True, exist_ok=True)
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=source,
                dst_path=str(cache / "files"),
                tracking_uri=self.uri,
                registry_uri=self.uri,
            )
            done.write_text(str(Path(local).resolve().relative_to(cache.resolve())))
        files = cache / done.read_text()
        _verify(pinned, kind, files, recorded)
        return FetchedVersion(pinned, files, dict(version.tags))

    def _source(self, pinned: ModelRef, version: ModelVersion, kind: str) -> tuple[str, str]:
        """Where ``kind`` of the version lives (a URI this client can download without
        MLflow's global registry URI) and the checksum recorded for it."""
        recorded = _recorded(pinned, version.tags, kind)
        if kind == MODEL:
            return self._download_uri(pinned), recorded
        source = version.tags.get(DETECTOR_URI_TAG)
        if not source:
            raise ModelNotFound(
                f"{pinned} has no drift detector",
                hint="register it with the pipeline's register step",
            )
        return str(source), recorded

    def _download_uri(self, pinned: ModelRef) -> str:
        from mlflow.exceptions import MlflowException

        try:
            return str(self.client.get_model_version_download_uri(pinned.name, pinned.number))
        except MlflowException as exc:
            raise ModelNotFound(f"{pinned} is not in the registry: {exc.message}") from exc

    def load(self, ref: ModelRef) -> LoadedModel:
        """A registered model, fetched and verified (``fetch``), loaded."""
        return load_bundle(self.fetch(ref, MODEL).path)

    def storage_uri(self, ref: ModelRef) -> str:
        """Where a version's files live (``s3://…`` with an S3 artifact store): the
        InferenceService's ``storageUri``; the predictor finds the bundle below it."""
        return storage_uri(self._download_uri(self.pinned(ref)), self.settings)

    def move_champion(self, ref: ModelRef) -> None:
        """Point ``champion`` at the version ``ref`` names (a rollout reached 100 %)."""
        version = self.version_of(ref)
        self.client.set_registered_model_alias(ref.name, CHAMPION, version.version)

    def champion_schema(self, name: str) -> tuple[Schema, str] | None:
        """The schema stored with the current champion, and its version; None before the
        first."""
        version = self.champion_version(name)
        if version is None:
            return None
        return self.load(ModelRef.of(name, version)).schema, version

    def search_record(self, pipeline_run_id: str) -> dict[str, Any] | None:
        """What the tune step's search of ``pipeline_run_id`` logged (its ``tune-search`` run:
        budget, per-family and per-finalist cross-validated scores, seconds) and how many
        trials it ran; None where the run had no search (train only)."""
        from shipyard.registry.tracking import PIPELINE_RUN_TAG, STEP_TAG

        experiment = self.client.get_experiment_by_name(self.settings.experiment)
        if experiment is None:
            return None
        found = self.client.search_runs(
            [experiment.experiment_id],
            filter_string=f"tags.`{PIPELINE_RUN_TAG}` = '{pipeline_run_id}' "
            f"and tags.`{STEP_TAG}` = 'tune-search'",
            max_results=1,
        )
        if not found:
            return None
        run = found[0]
        trials = self.client.search_runs(
            [experiment.experiment_id],
            filter_string=f"tags.`mlflow.parentRunId` = '{run.info.run_id}'",
            max_results=5000,
        )
        return {"params": dict(run.data.params), "metrics": dict(run.data.metrics),
                "trials": len(trials)}  # fmt: skip

    def register_version(self, model_uri: str, name: str, tags: dict[str, str]) -> ModelRef:
        """A new version of ``name`` (created if absent) from the URI the train or tune step
        logged the model under (``models:/<logged model id>``), linked to that run."""
        model_id = model_uri.removeprefix(SCHEME)
        if not model_uri.startswith(SCHEME) or not model_id or {"/", "@"} & set(model_id):
            raise ConfigError(
                f"{model_uri!r} is not a logged model's URI",
                hint="register the model_uri the train or tune step returned (models:/m-…)",
            )
        if not self.client.search_registered_models(f"name = '{name}'"):
            self.client.create_registered_model(name, description="A Shipyard tabular model")
        logged = self.client.get_logged_model(model_id)
        # The logged model's location, not its models:/ URI: MLflow's SQL store resolves the
        # latter through the process-wide tracking URI, which a Registry leaves alone.
        version = self.client.create_model_version(
            name,
            logged.artifact_location,
            run_id=logged.source_run_id,
            tags=tags,
            model_id=model_id,
        )
        return ModelRef.of(name, version.version)


def fetch(ref: ModelRef, kind: str = MODEL, settings: Settings | None = None) -> FetchedVersion:
    """``Registry.fetch``, without importing MLflow (about 2 s) when the version is already in
    the local cache and the store is the local SQLite file (``cached``)."""
    settings = settings or get_settings()
    return cached(ref, kind, settings) or Registry(settings).fetch(ref, kind)


def cached(ref: ModelRef, kind: str, settings: Settings) -> FetchedVersion | None:
    """A version already downloaded into the cache, its alias resolved and its recorded
    checksum read from the SQLite registry store read-only, verified as ``fetch`` verifies it;
    None (so MLflow answers) for any other store, a version not yet cached, or a store this
    query does not understand. Nothing is cached but the files: an alias is resolved now."""
    import sqlite3

    if not settings.tracking_uri.startswith("sqlite:///"):
        return None
    database = Path(settings.tracking_uri.removeprefix("sqlite:///"))
    if not database.is_file():
        return None
    try:
        with closing(sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True)) as db:
            version = _version_number(db, ref)
            if version is None:
                return None
            tags = dict(
                db.execute(
                    "SELECT key, value FROM model_version_tags "
                    "WHERE workspace = 'default' AND name = ? AND version = ?",
                    (ref.name, version),
                ).fetchall()
            )
    except (sqlite3.Error, ValueError):
        return None
    pinned = ModelRef.of(ref.name, version)
    done = _cache(settings, pinned, kind) / "done"
    if not done.is_file():
        return None
    files = done.parent / done.read_text()
    _verify(pinned, kind, files, _recorded(pinned, tags, kind))
    return FetchedVersion(pinned, files, tags)


def _version_number(db: Any, ref: ModelRef) -> int | None:
    """The live version ``ref`` names in MLflow's registry tables, or None."""
    if ref.alias:
        row = db.execute(
            "SELECT version FROM registered_model_aliases "
            "WHERE workspace = 'default' AND name = ? AND alias = ?",
            (ref.name, ref.alias),
        ).fetchone()
        if row is None:
            return None
        number = int(row[0])
    else:
        number = int(ref.number)
    live = db.execute(
        "SELECT 1 FROM model_versions WHERE workspace = 'default' AND name = ? AND version = ? "
        "AND current_stage != 'Deleted_Internal'",
        (ref.name, number),
    ).fetchone()
    return number if live else None


def _cache(settings: Settings, pinned: ModelRef, kind: str) -> Path:
    return settings.home / "serving-cache" / pinned.name / str(pinned.version) / kind


def _recorded(pinned: ModelRef, tags: dict[str, Any], kind: str) -> str:
    """The checksum recorded at registration for ``kind`` of the version."""
    recorded = tags.get(MANIFEST_SHA_TAG if kind == MODEL else DETECTOR_SHA_TAG)
    if not recorded:
        raise IntegrityError(
            f"{pinned} has no recorded {kind} checksum",
            hint="register it with Shipyard's register step",
        )
    return str(recorded)


def _verify(pinned: ModelRef, kind: str, files: Path, recorded: str) -> None:
    """The downloaded ``kind`` must hash to the checksum recorded at registration."""
    from shipyard.model.bundle import directory_sha256

    if kind == MODEL:
        actual = sha256_file(find_bundle(files) / MANIFEST)
    else:
        actual = directory_sha256(files)
    if actual != recorded:
        raise IntegrityError(
            f"{pinned}: the {kind}'s SHA-256 {actual[:12]}… "
            f"differs from the {recorded[:12]}… recorded at registration",
            hint="the artifact changed after registration",
        )


def load_registered(ref: ModelRef, settings: Settings | None = None) -> LoadedModel:
    """One registered model, loaded (a one-off ``Registry``: callers that do more registry
    work make one and keep it)."""
    return Registry(settings).load(ref)


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
