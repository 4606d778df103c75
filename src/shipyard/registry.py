"""The register step: MLflow model registry with aliases, and the champion/challenger gate.

Everything that can fail (loading and scoring both models, the gate) runs before anything is
written, so a failed run registers nothing half-way. The new version gets the alias
``challenger``; ``champion`` moves to it only if it clears the floors and beats the current
champion on the same holdout by the configured margin on the task's primary metric (MLflow's
``MetricThreshold`` with the metric's direction: lower is better for RMSE). Before anything
is registered, the holdout and the edge rows are scored through the serving path and
compared with the model (``serving.parity_check``): a version whose served answers differ is
refused.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from shipyard.errors import ConfigError, ModelNotFound, ShipyardError
from shipyard.model_bundle import (
    MANIFEST,
    LoadedModel,
    directory_sha256,
    load_bundle,
    sha256_file,
)
from shipyard.schema import Schema
from shipyard.settings import Settings, get_settings

CHAMPION, CHALLENGER = "champion", "challenger"
DETECTOR_URI_TAG, DETECTOR_SHA_TAG = "shipyard.drift_detector_uri", "shipyard.drift_sha256"


@dataclass
class Decision:
    model_name: str
    version: str
    model_uri: str
    promoted: bool
    reason: str
    champion_version: str | None
    previous_champion: str | None
    challenger_metrics: dict[str, float]
    champion_metrics: dict[str, float] | None = None
    lineage: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)

    def markdown(self) -> str:
        verdict = ("PROMOTED to champion" if self.promoted and self.champion_version ==
                   self.version else "passed the gate, to be rolled out" if self.promoted
                   else "kept as challenger")
        lines = [f"# Registration: {self.model_name} v{self.version} {verdict}", "",
                 f"**Reason:** {self.reason}", "",
                 f"`champion` → v{self.champion_version}" if self.champion_version
                 else "`champion` → (none)", "", "| metric | challenger | champion |",
                 "|---|---|---|"]
        champion = self.champion_metrics or {}
        for name, value in self.challenger_metrics.items():
            other = champion.get(name)
            lines.append(f"| {name} | {value:.4f} | {'' if other is None else f'{other:.4f}'} |")
        return "\n".join(lines) + "\n"


def _score(model: LoadedModel, test: pd.DataFrame) -> dict[str, float]:
    from shipyard.evaluation import evaluate

    missing = [c for c in model.features + [model.schema.target] if c not in test.columns]
    if missing:
        raise ModelNotFound(f"the holdout lacks columns the model needs: {', '.join(missing)}")
    result = evaluate(test[model.schema.target].to_numpy(), model.scores(test),
                      model.threshold, model.classes, model.task)
    return {k: v for k, v in result.metrics.items() if k != "threshold"}


def parse_floors(text: str, task: str) -> dict[str, float]:
    """``"roc_auc>=0.75,pr_auc>=0.05"`` (empty: the task's defaults) → {metric: floor}; the
    comparison must match the metric's direction (``rmse<=10``)."""
    import re

    from shipyard.evaluation import DEFAULT_FLOORS, metric_for

    floors = {}
    for part in filter(None, (p.strip() for p in (text or DEFAULT_FLOORS[task]).split(","))):
        match = re.fullmatch(r"(\w+)\s*(>=|<=)\s*(-?[\d.]+(?:e-?\d+)?)", part)
        if not match:
            raise ConfigError(f"floor {part!r} is not metric>=value or metric<=value")
        name, op, value = match.groups()
        if metric_for(name, task).greater_is_better != (op == ">="):
            raise ConfigError(f"floor {part!r} points the wrong way",
                              hint=f"use {name}{'>=' if op == '<=' else '<='}{value}")
        floors[name] = float(value)
    return floors


def load_registered(uri: str, settings: Settings | None = None) -> LoadedModel:
    """A registered model (``models:/name@alias`` or ``models:/name/3``), fetched once into
    the serving cache and checked against its registration checksum — the predictor's loader."""
    from shipyard.serving.model_source import resolve

    return resolve(uri, settings or get_settings()).model


def version_storage_uri(name: str, version: str, settings: Settings | None = None) -> str:
    """Where a version's files live (``s3://…`` with an S3 artifact store): the
    InferenceService's ``storageUri``; the predictor finds the bundle below it."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from shipyard.tracking import configure

    configure(settings)
    try:
        uri = MlflowClient().get_model_version_download_uri(name, version)
    except MlflowException as exc:
        raise ModelNotFound(f"models:/{name}/{version} is not in the registry: "
                            f"{exc.message}") from exc
    return storage_uri(uri, settings or get_settings())


def storage_uri(artifact_uri: str, settings: Settings) -> str:
    """An MLflow artifact URI as KServe can fetch it: a server-proxied ``mlflow-artifacts:/X``
    is ``X`` under the server's artifacts destination."""
    from urllib.parse import urlparse

    parsed = urlparse(artifact_uri)
    if parsed.scheme != "mlflow-artifacts":
        return artifact_uri
    if not settings.mlflow_artifacts_destination:
        raise ConfigError(f"{artifact_uri} is proxied by the MLflow server; KServe cannot "
                          "fetch it", hint="set SHIPYARD_MLFLOW_ARTIFACTS_DESTINATION to the "
                                           "server's --artifacts-destination")
    return f"{settings.mlflow_artifacts_destination.rstrip('/')}/{parsed.path.lstrip('/')}"


def move_champion(name: str, version: str, settings: Settings | None = None) -> None:
    """Point ``champion`` at ``version`` (a rollout reached 100 %)."""
    from mlflow import MlflowClient

    from shipyard.tracking import configure

    configure(settings)
    MlflowClient().set_registered_model_alias(name, CHAMPION, version)


def champion_version(client, name: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException:
        return None


def gate(challenger: dict[str, float], champion: dict[str, float] | None,
         floors: dict[str, float], margin: float, primary: str = "roc_auc"
         ) -> tuple[bool, str]:
    """MLflow's own threshold check: the floors, and beat the champion on ``primary`` by
    ``margin`` (absolute for scores in [0, 1], relative for errors such as RMSE)."""
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.models import MetricThreshold
    from mlflow.models.evaluation import EvaluationResult

    from shipyard.evaluation import METRICS

    compare = champion is not None and margin > 0
    main = METRICS[primary]
    change = {"min_absolute_change" if main.bounded else "min_relative_change": margin} \
        if compare else {}
    thresholds = {name: MetricThreshold(threshold=floor,
                                        greater_is_better=METRICS[name].greater_is_better)
                  for name, floor in floors.items()}
    if change:
        thresholds[primary] = MetricThreshold(threshold=floors.get(primary),
                                              greater_is_better=main.greater_is_better, **change)
    missing = [name for name in thresholds if name not in challenger]
    if missing:
        return False, f"the holdout gives no {', '.join(missing)} (a class is missing from it?)"
    try:
        mlflow.validate_evaluation_results(
            thresholds, EvaluationResult(challenger, {}),
            EvaluationResult(champion, {}) if compare else None)
    except MlflowException as exc:
        return False, " ".join(str(exc.message).split())
    shown = ", ".join(f"{n} {'>=' if METRICS[n].greater_is_better else '<='} {v}"
                      for n, v in floors.items())
    if champion:
        ours, theirs = challenger[primary], champion[primary]
        if (ours < theirs) if main.greater_is_better else (ours > theirs):  # margin 0
            return False, f"{primary} {ours:.4f} is worse than the champion's {theirs:.4f}"
        return True, (f"{primary} {ours:.4f} beats the champion's {theirs:.4f} by at least "
                      f"{margin}{'' if main.bounded else ' (relative)'} and clears the floors "
                      f"({shown})")
    return True, f"first model: clears the floors {shown}"


def register(model_uri: str, model_dir: str | Path, test_path: str | Path,
             pipeline_run_id: str = "local", data_hash: str = "",
             params: dict[str, Any] | None = None, floors: str = "", margin: float = 0.002,
             settings: Settings | None = None,
             reference_path: str | Path | None = None, move_champion: bool = True
             ) -> Decision:
    """Register ``model_uri``; alias it ``challenger``; promote it if it passes the gate.

    ``move_champion=False`` (the pipeline deploys with a canary rollout): a winner stays
    ``challenger`` and the rollout moves ``champion`` once it reaches 100 %.

    With ``reference_path`` (the training data), a drift detector is fitted on it and stored
    with the version, so a deployed detector always matches its model.
    """
    import mlflow
    from mlflow import MlflowClient

    from shipyard.tracking import configure

    settings = settings or get_settings()
    configure(settings)
    client = MlflowClient()
    name = settings.model_name
    test = pd.read_parquet(test_path)
    from shipyard.evaluation import primary_metric
    from shipyard.parity import probe_rows
    from shipyard.serving.parity_check import check_served_parity

    challenger = load_bundle(model_dir)
    challenger_metrics = _score(challenger, test)
    parity = check_served_parity(challenger, probe_rows(challenger.schema, test,
                                                        max_sample=len(test)))
    previous = champion_version(client, name)
    champion_metrics = None
    if previous is not None:
        try:
            champion = load_registered(f"models:/{name}@{CHAMPION}", settings)
            if champion.task != challenger.task:
                raise ShipyardError(f"it is a {champion.task} model, the challenger a "
                                    f"{challenger.task} one")
            champion_metrics = _score(champion, test)
        except ShipyardError as exc:
            raise ShipyardError(f"cannot score the current champion v{previous} on this holdout: "
                                f"{exc}", hint="fix or re-alias the champion first, or register "
                                               "under another model_name") from exc
    promoted, reason = gate(challenger_metrics, champion_metrics,
                            parse_floors(floors, challenger.task), margin,
                            primary_metric(challenger.task))
    workspace = tempfile.TemporaryDirectory()
    detector_dir = None
    if reference_path is not None:
        from shipyard.drift import DriftDetector

        detector_dir = DriftDetector.fit(pd.read_parquet(reference_path), challenger.schema
                                         ).save(Path(workspace.name) / "drift_detector")

    lineage = {"shipyard.pipeline_run_id": pipeline_run_id, "shipyard.data_hash": data_hash,
               "shipyard.git_commit": settings.git_commit or "unknown",
               "shipyard.model_type": challenger.manifest["model_type"],
               "shipyard.params": json.dumps(params or challenger.manifest.get("params", {}),
                                             default=str),
               "shipyard.manifest_sha256": sha256_file(challenger.directory / MANIFEST),
               "shipyard.decision": "promoted" if promoted else "rejected",
               "shipyard.reason": reason[:4000], "shipyard.task": challenger.task,
               **parity.tags()}
    if not any(m.name == name for m in client.search_registered_models(f"name = '{name}'")):
        client.create_registered_model(name, description="A Shipyard tabular model")
    version = mlflow.register_model(model_uri, name, tags=lineage).version
    try:
        if detector_dir is not None:
            _store_detector(client, name, str(version), detector_dir, lineage)
        client.set_registered_model_alias(name, CHALLENGER, version)
        if promoted and move_champion:
            client.set_registered_model_alias(name, CHAMPION, version)
    except Exception:
        client.delete_model_version(name, version)  # nothing half-way
        raise
    finally:
        workspace.cleanup()
    if promoted and not move_champion:
        reason += "; champion moves when the canary rollout reaches 100 %"
    return Decision(name, str(version), f"models:/{name}/{version}", promoted, reason,
                    str(version) if promoted and move_champion else previous, previous,
                    challenger_metrics,
                    champion_metrics, lineage)


def _store_detector(client, name: str, version: str, directory: Path, lineage: dict) -> None:
    """Log the detector beside the version's model and tag the version with where it is."""
    run_id = client.get_model_version(name, version).run_id
    path = f"drift_detector/v{version}"
    client.log_artifacts(run_id, str(directory), path)
    tags = {DETECTOR_URI_TAG: f"runs:/{run_id}/{path}",
            DETECTOR_SHA_TAG: directory_sha256(directory)}
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    lineage.update(tags)


def load_drift_detector(uri: str, settings: Settings | None = None):
    """The drift detector stored with a registered version (``models:/name@alias`` or
    ``models:/name/N``), checked against the checksum recorded at registration."""
    import mlflow
    from mlflow import MlflowClient

    from shipyard.drift import DriftDetector
    from shipyard.errors import IntegrityError
    from shipyard.tracking import configure

    configure(settings)
    client = MlflowClient()
    name, _, ref = uri.removeprefix("models:/").partition("@")
    version = (client.get_model_version_by_alias(name, ref) if ref else
               client.get_model_version(*uri.removeprefix("models:/").split("/", 1)))
    location = version.tags.get(DETECTOR_URI_TAG)
    if not location:
        raise ModelNotFound(f"{uri} (v{version.version}) has no drift detector",
                            hint="register it with the pipeline's register step")
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=tmp))
        if directory_sha256(local) != version.tags.get(DETECTOR_SHA_TAG):
            raise IntegrityError(f"the drift detector of {uri} (v{version.version}) differs "
                                 "from the one recorded at registration")
        return DriftDetector.load(local)


def champion_schema(settings: Settings | None = None) -> tuple[Schema, str] | None:
    """The schema stored with the current champion, and its version; None before the first."""
    from mlflow import MlflowClient

    from shipyard.tracking import configure

    settings = settings or get_settings()
    configure(settings)
    version = champion_version(MlflowClient(), settings.model_name)
    if version is None:
        return None
    model = load_registered(f"models:/{settings.model_name}@{CHAMPION}", settings)
    return model.schema, version
