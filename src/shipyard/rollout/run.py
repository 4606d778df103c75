"""``shipyard rollout``: a registered version out to KServe (cluster) or to a local stable +
canary pair behind the local router, through the same controller and gates. At 100 % the
MLflow alias ``champion`` moves to the version; on a failed gate it stays where it was."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from shipyard.errors import ConfigError, RolloutFailed
from shipyard.model.ref import ModelRef
from shipyard.rollout.controller import RolloutPlan, RolloutReport, Traffic, run_rollout
from shipyard.rollout.health import HealthSource
from shipyard.rollout.inference_service import Mode, ModelFormat, ModelVersion, ServiceOptions
from shipyard.settings import Settings

if TYPE_CHECKING:
    from shipyard.registry.client import Registry


def cluster_rollout(
    ref: ModelRef,
    plan: RolloutPlan,
    options: ServiceOptions,
    prometheus_url: str,
    settings: Settings | None = None,
    dry_run: bool = False,
    api: Any = None,
) -> RolloutReport:
    """Roll the version ``ref`` names out on the cluster (in-cluster credentials, else the
    kubeconfig); gates read Prometheus at ``prometheus_url``."""
    from shipyard.registry.client import MANIFEST_SHA_TAG, Registry
    from shipyard.rollout.health import MLSERVER_METRICS, SHIPYARD_METRICS, PrometheusHealth
    from shipyard.rollout.kserve_traffic import KServeTraffic

    registry = Registry(settings)
    name, version = ref.name, ref.number
    api = api or _custom_objects_api()
    traffic = KServeTraffic(api, options, {}, dry_run=dry_run)
    stable = traffic.stable_version()
    for v in {x for x in (version, stable) if x is not None}:
        each = ModelRef.of(name, v)
        uri = registry.storage_uri(each)
        if options.model_format == "sklearn":
            uri = export_for_stock_runtime(each, uri, options.name, registry)
        recorded = registry.version_of(each).tags.get(MANIFEST_SHA_TAG, "")
        traffic.versions[v] = ModelVersion(
            name, v, uri, recorded if options.model_format != "sklearn" else ""
        )
    if dry_run:  # the API server checks the first step's object; nothing moves
        traffic.route(version, 100 if stable is None else plan.steps[0])
        return RolloutReport(
            version, stable, "dry run", reason="the API server accepted the first step's object"
        )
    metrics = MLSERVER_METRICS if options.model_format == "sklearn" else SHIPYARD_METRICS
    health = PrometheusHealth(prometheus_url, options.name, metrics=metrics)
    return promoting_rollout(ref, traffic, health, plan, registry)


def promoting_rollout(
    ref: ModelRef,
    traffic: Traffic,
    health: HealthSource,
    plan: RolloutPlan,
    registry: Registry,
) -> RolloutReport:
    """Roll the version ``ref`` names out (cluster or local: the same controller);
    ``champion`` moves to it at 100 %, and people are told the outcome either way."""

    def promote(v: str) -> None:
        registry.move_champion(ModelRef.of(ref.name, v))

    return announced(
        lambda: run_rollout(ref.number, traffic, health, plan, on_promoted=promote),
        ref.name,
        ref.number,
        registry.settings,
    )


def announced(
    rollout: Callable[[], RolloutReport], name: str, version: str, settings: Settings
) -> RolloutReport:
    """Run ``rollout`` and tell people the outcome (promoted, first deploy, rolled back)
    with the gates' report; a rollback still fails the caller after it is told."""
    from shipyard.loop.notify import notify

    try:
        report = rollout()
    except RolloutFailed as exc:
        notify("rollout", f"Rollout: {name} v{version} rolled back", exc.message, settings)
        raise
    notify(
        "rollout", f"Rollout: {name} v{report.version} {report.outcome}", report.summary(), settings
    )
    return report


def version_ref(model_uri: str) -> ModelRef:
    """The register step's ``model_uri`` output: a reference by version number."""
    ref = ModelRef.parse(model_uri)
    if ref.version is None:
        raise ConfigError(
            f"{model_uri} names no version", hint="deploy takes register's model_uri output"
        )
    return ref


def rollout_step(
    model_uri: str,
    plan: RolloutPlan,
    deployment_mode: str,
    service_name: str,
    namespace: str,
    model_format: str,
    prometheus_url: str,
    settings: Settings | None = None,
) -> RolloutReport:
    """The deploy step on a cluster: roll the register step's ``model_uri`` out with KServe
    (``Serverless`` or ``RawDeployment``). ``Local`` (kfp.local, the closed-loop demo) is
    ``local_deploy`` of the one-machine stand-ins: the same controller and gates."""
    ref = version_ref(model_uri)
    # ServiceOptions refuses any other mode or format (ConfigError)
    options = ServiceOptions(
        service_name,
        namespace,
        cast(Mode, deployment_mode),
        model_format=cast(ModelFormat, model_format),
    )
    return cluster_rollout(ref, plan, options, prometheus_url, settings)


def export_for_stock_runtime(
    ref: ModelRef, storage_uri: str, served_name: str, registry: Registry
) -> str:
    """Write the version's MLServer layout under ``<storage_uri>/kserve-sklearn/``
    and return that prefix: the storageUri KServe's stock sklearn runtime loads."""
    import tempfile
    from pathlib import Path

    from shipyard import storage
    from shipyard.model.export import write_mlserver_sklearn

    if not storage_uri.startswith("s3://"):
        raise ConfigError(
            f"the stock runtime's export goes next to the version in S3, but "
            f"{ref} lives at {storage_uri}",
            hint="use an S3 artifact store (SHIPYARD_MLFLOW_ARTIFACTS_DESTINATION)",
        )
    target = f"{storage_uri.rstrip('/')}/kserve-sklearn"
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_mlserver_sklearn(
            registry.load(ref), Path(tmp), served_name, str(ref.version)
        )
        for path in sorted(folder.iterdir()):
            storage.upload(path, f"{target}/{path.name}", registry.settings)
    return target


def _custom_objects_api() -> Any:
    from kubernetes import client, config

    try:
        config.load_incluster_config()
    except config.ConfigException:
        try:
            config.load_kube_config()
        except (config.ConfigException, OSError) as exc:
            raise ConfigError(
                f"no Kubernetes credentials: {exc}",
                hint="run in a pod with a service account, or set KUBECONFIG; "
                "use --local without a cluster",
            ) from exc
    return client.CustomObjectsApi()
