"""The InferenceService for a model version: Shipyard's predictor runtime on the version's
storage URI (v2 protocol), the drift detector as a sidecar fed by KServe's request logger.
Where the user asks (``model_format="sklearn"``), KServe's stock runtime for the format
(MLServer's sklearn runtime) serves an export of the version instead (``shipyard.model.export``).

Serverless mode splits traffic with ``canaryTrafficPercent`` (Knative keeps the previous
revision); RawDeployment mode needs KServe 0.20's ``spec.canary`` list, and ignores
``canaryTrafficPercent`` silently — so :func:`check_mode_fields` refuses the wrong one.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Literal

from shipyard.errors import ConfigError
from shipyard.model.ref import ModelRef

GROUP, VERSION, PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"
MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
VERSION_LABEL = "shipyard.io/model-version"
MODEL_LABEL = "shipyard.io/model"
DNS_1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
Mode = Literal["Serverless", "RawDeployment"]
ModelFormat = Literal["shipyard", "sklearn"]
MLSERVER_METRICS_PORT = 8082

RESTRICTED = {
    "runAsNonRoot": True,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


@dataclass(frozen=True)
class ModelVersion:
    """A registered version and where its bundle lives (s3://…, what KServe downloads)."""

    model: str
    version: str
    storage_uri: str
    manifest_sha256: str = ""  # recorded at registration; the predictor checks the mount

    @property
    def ref(self) -> ModelRef:
        return ModelRef.of(self.model, self.version)


DEFAULT_SERVICE = "fraud"  # the InferenceService (and local v2 path) name unless told otherwise


@dataclass
class ServiceOptions:
    name: str = DEFAULT_SERVICE
    namespace: str = "shipyard"
    mode: Mode = "Serverless"
    runtime: str = "shipyard-predictor"  # the ServingRuntime in manifests/base
    # "sklearn": KServe picks its stock runtime (MLServer) for the format instead
    model_format: ModelFormat = "shipyard"
    service_account: str = "shipyard-models"  # carries the S3 credentials for storageUri
    detector_image: str = "shipyard:0.1.0"
    detector_port: int | None = None  # 8082; 8083 beside MLServer, whose metrics use 8082
    config_map: str = "shipyard-config"  # MLflow tracking URI, S3 endpoint (no secrets)
    secrets: tuple[str, ...] = ("shipyard-s3", "shipyard-mlflow")
    # the drift sidecar's label token (key label-token), created outside git
    sidecar_secret: str = "shipyard-sidecar"
    min_replicas: int = 1
    max_replicas: int = 3
    # two cores: one predictor worker process on each (SHIPYARD_SERVING_WORKERS, set from
    # limits.cpu); the workers share the loaded model copy-on-write
    resources: dict = field(
        default_factory=lambda: {
            "requests": {"cpu": "1", "memory": "768Mi"},
            "limits": {"cpu": "2", "memory": "1536Mi"},
        }
    )
    # the sidecar holds the registered model too (attribution drift): the predictor's memory
    detector_resources: dict = field(
        default_factory=lambda: {
            "requests": {"cpu": "100m", "memory": "512Mi"},
            "limits": {"cpu": "500m", "memory": "1Gi"},
        }
    )

    def __post_init__(self) -> None:
        for what, value in (
            ("name", self.name),
            ("namespace", self.namespace),
            ("runtime", self.runtime),
            ("service account", self.service_account),
        ):
            check_dns_name(value, what)
        if self.mode not in ("Serverless", "RawDeployment"):
            raise ConfigError(f"deployment mode '{self.mode}' is not Serverless or RawDeployment")
        if self.model_format not in ("shipyard", "sklearn"):
            raise ConfigError(
                f"model format '{self.model_format}' is not shipyard (Shipyard's "
                "predictor) or sklearn (KServe's stock runtime)"
            )
        if self.detector_port is None:
            self.detector_port = 8083 if self.model_format == "sklearn" else 8082
        if self.model_format == "sklearn" and self.detector_port == MLSERVER_METRICS_PORT:
            raise ConfigError(
                f"detector port {MLSERVER_METRICS_PORT} is MLServer's metrics "
                "port: pick another for the drift sidecar"
            )


def check_dns_name(value: str, what: str = "name") -> str:
    if len(value) > 63 or not DNS_1123.match(value):
        raise ConfigError(
            f"{what} '{value}' is not a DNS-1123 label",
            hint="lower-case letters, digits and '-', at most 63, starting and ending alphanumeric",
        )
    return value


def check_percent(percent: int) -> int:
    if not isinstance(percent, int) or not 0 <= percent <= 100:
        raise ConfigError(f"canary traffic {percent!r} is not an integer percent in 0-100")
    return percent


def predictor_spec(version: ModelVersion, options: ServiceOptions) -> dict:
    """One version's predictor: the runtime on its storage URI, plus the detector sidecar."""
    detector_url = (
        f"http://localhost:{options.detector_port}/v1/models/{options.name}-drift:predict"
    )
    return {
        "serviceAccountName": options.service_account,
        "minReplicas": options.min_replicas,
        "maxReplicas": options.max_replicas,
        "labels": {MODEL_LABEL: version.model, VERSION_LABEL: version.version},
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        # requests for drift, responses for the inference log, live and estimated metrics
        "logger": {"mode": "all", "url": detector_url},
        "model": _model_spec(version, options),
        "containers": [_detector_container(version, options)],
        "volumes": [
            {"name": "drift-tmp", "emptyDir": {"sizeLimit": "512Mi"}},
            {"name": "predictor-tmp", "emptyDir": {"sizeLimit": "64Mi"}},
        ],
    }


def _detector_container(version: ModelVersion, options: ServiceOptions) -> dict:
    """The drift sidecar beside the runtime: this version's detector, its probes, the label
    token from a Secret, and the loopback trust KServe's logger agent needs."""
    env_from = [
        {"configMapRef": {"name": options.config_map}},
        *({"secretRef": {"name": s}} for s in options.secrets),
    ]
    probe = {
        "httpGet": {
            "path": f"/v2/models/{options.name}-drift/ready",
            "port": options.detector_port,
        },
        "periodSeconds": 10,
        "failureThreshold": 3,
    }
    return {
        "name": "drift-detector",
        "image": options.detector_image,
        "command": ["shipyard-drift"],
        "args": [
            f"--model_name={options.name}-drift",
            "--host=0.0.0.0",
            f"--http_port={options.detector_port}",
            f"--detector_source={version.ref.uri}",
        ],
        "ports": [
            {"name": "drift-http", "containerPort": options.detector_port, "protocol": "TCP"}
        ],
        "envFrom": env_from,
        "env": [
            # KServe's logger agent posts from inside the pod and cannot send a
            # token: loopback is its owner check (the NetworkPolicy keeps others out)
            {"name": "SHIPYARD_INGEST_TRUST_LOOPBACK", "value": "true"},
            {
                "name": "SHIPYARD_LABEL_TOKEN",
                "valueFrom": {
                    "secretKeyRef": {"name": options.sidecar_secret, "key": "label-token"}
                },
            },
        ],
        "readinessProbe": probe,
        "livenessProbe": {**probe, "failureThreshold": 6},
        "resources": copy.deepcopy(options.detector_resources),
        "securityContext": copy.deepcopy(RESTRICTED),
        "volumeMounts": [{"name": "drift-tmp", "mountPath": "/tmp"}],
    }


def _model_spec(version: ModelVersion, options: ServiceOptions) -> dict:
    model = {
        "name": "kserve-container",
        "protocolVersion": "v2",
        "storageUri": version.storage_uri,
        "resources": copy.deepcopy(options.resources),
        "securityContext": copy.deepcopy(RESTRICTED),
    }
    if options.model_format == "sklearn":  # no runtime: KServe picks kserve-mlserver
        return {**model, "modelFormat": {"name": "sklearn"}}
    return {
        **model,
        "modelFormat": {"name": "shipyard"},
        "runtime": options.runtime,
        "args": [f"--model_name={options.name}"],
        "env": [
            {"name": "SHIPYARD_MODEL_VERSION", "value": version.version},  # its label
            {"name": "SHIPYARD_SERVING_WORKERS", "value": str(cores(options.resources))},
            *(
                [{"name": "SHIPYARD_MODEL_SHA256", "value": version.manifest_sha256}]
                if version.manifest_sha256
                else []
            ),
        ],
        # the workers' shared metrics folder (the root filesystem is read-only)
        "volumeMounts": [{"name": "predictor-tmp", "mountPath": "/tmp"}],
    }


def cores(resources: dict) -> int:
    """Whole CPUs the predictor may use: its ``limits.cpu`` (``"2"``, ``"1500m"``) rounded
    up, else its request, at least 1: one serving worker per core."""
    import math

    cpu = str(resources.get("limits", {}).get("cpu") or resources.get("requests", {}).get("cpu", 1))
    value = float(cpu[:-1]) / 1000 if cpu.endswith("m") else float(cpu)
    return max(1, math.ceil(value))


def inference_service(
    stable: ModelVersion,
    options: ServiceOptions,
    canary: ModelVersion | None = None,
    percent: int = 100,
) -> dict:
    """The whole object: ``stable`` alone, or ``canary`` taking ``percent`` of the traffic.

    Serverless: the predictor *is* the canary's spec with ``canaryTrafficPercent`` (Knative
    routes the rest to the last rolled-out revision, ``stable``). RawDeployment: the predictor
    stays ``stable`` and ``spec.canary`` carries the new version and its share."""
    meta = {
        "name": options.name,
        "namespace": options.namespace,
        "labels": {MODEL_LABEL: stable.model, "app.kubernetes.io/part-of": "shipyard"},
        "annotations": {
            MODE_ANNOTATION: options.mode,
            "serving.kserve.io/enable-prometheus-scraping": "true",
        },
    }
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "InferenceService", "metadata": meta}
    if canary is None:
        body["spec"] = {"predictor": predictor_spec(stable, options)}
    elif options.mode == "Serverless":
        spec = predictor_spec(canary, options)
        spec["canaryTrafficPercent"] = check_percent(percent)
        body["spec"] = {"predictor": spec}
    else:
        body["spec"] = {
            "predictor": predictor_spec(stable, options),
            "canary": [
                {
                    "predictor": predictor_spec(canary, options),
                    "trafficPercent": check_percent(percent),
                }
            ],
        }
    check_mode_fields(body)
    return body


def check_mode_fields(body: dict) -> None:
    """Refuse the canary field the object's deployment mode would silently ignore."""
    mode = body.get("metadata", {}).get("annotations", {}).get(MODE_ANNOTATION, "Serverless")
    spec = body.get("spec", {})
    if mode == "RawDeployment" and "canaryTrafficPercent" in spec.get("predictor", {}):
        raise ConfigError(
            "canaryTrafficPercent is ignored in RawDeployment mode; KServe would "
            "send every request to the new version",
            hint="use spec.canary (KServe 0.20) or Serverless mode",
        )
    if mode == "Serverless" and spec.get("canary"):
        raise ConfigError(
            "spec.canary applies to RawDeployment mode only",
            hint="use predictor.canaryTrafficPercent in Serverless mode",
        )
    for entry in spec.get("canary") or []:
        check_percent(entry.get("trafficPercent"))
    if "canaryTrafficPercent" in spec.get("predictor", {}):
        check_percent(spec["predictor"]["canaryTrafficPercent"])


def served_version(predictor: dict) -> str | None:
    return predictor.get("labels", {}).get(VERSION_LABEL)
