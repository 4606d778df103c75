"""Submit the compiled pipeline to Kubeflow Pipelines with ``kfp.Client``, or, with no
endpoint configured, run it on kfp.local and say so: the same call works from a laptop, a
notebook and a CI job.

The endpoint comes from ``--host`` or ``KF_PIPELINES_ENDPOINT``; credentials from a bearer
token (``--token`` / ``KF_PIPELINES_TOKEN``), or, inside a cluster, the pod's projected
service-account token (``ServiceAccountTokenVolumeCredentials``); ``namespace`` is the
profile namespace of a multi-user install.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.errors import ConfigError, ServiceUnavailable, ShipyardError

ENDPOINT_ENV = "KF_PIPELINES_ENDPOINT"
TOKEN_ENV = "KF_PIPELINES_TOKEN"
# The projected token KFP multi-user mode accepts (audience pipelines.kubeflow.org).
SA_TOKEN_PATH = Path("/var/run/secrets/kubeflow/pipelines/token")


@dataclass
class Submission:
    """What was started where; ``local`` holds the kfp.local run when there was no endpoint."""

    where: str
    run_id: str | None = None
    url: str | None = None
    state: str | None = None
    experiment_id: str | None = None
    recurring_run_id: str | None = None
    local: Any = None
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"submitted to {self.where}"]
        if self.run_id:
            lines.append(f"run {self.run_id}" + (f" ({self.state})" if self.state else ""))
        if self.url:
            lines.append(f"details: {self.url}")
        if self.recurring_run_id:
            lines.append(f"recurring run {self.recurring_run_id}")
        return "; ".join(lines + self.notes)


def kfp_client(host: str, namespace: str | None = None, token: str | None = None) -> Any:
    """A ``kfp.Client`` for ``host``; passing ``namespace`` skips the constructor's health
    probe, so the first real call reports an unreachable endpoint with our error."""
    import kfp

    token = token or os.environ.get(TOKEN_ENV)
    credentials = None
    if not token and SA_TOKEN_PATH.is_file():
        from kfp.client import ServiceAccountTokenVolumeCredentials

        credentials = ServiceAccountTokenVolumeCredentials(path=str(SA_TOKEN_PATH))
    with warnings.catch_warnings():  # "only works with KFP v2.0.0-beta.2 and later": so do we
        warnings.simplefilter("ignore", FutureWarning)
        return kfp.Client(
            host=host,
            namespace=namespace or "kubeflow",
            existing_token=token,
            credentials=credentials,
        )


def pipeline_reads(arguments: dict[str, Any]) -> list[str]:
    """What a training run reads that may live elsewhere: its source and declared schema."""
    return [str(arguments.get(name) or "") for name in ("source", "schema_uri")]


def submit(
    pipeline_file: str | Path,
    arguments: dict[str, Any] | None = None,
    *,
    host: str | None = None,
    namespace: str | None = None,
    token: str | None = None,
    experiment: str = "shipyard",
    run_name: str | None = None,
    schedule: str | None = None,
    wait: bool = False,
    timeout: float = 3600.0,
    service_account: str | None = None,
) -> Submission:
    """Start one run (and a recurring run on the cron ``schedule``) on Kubeflow Pipelines; wait
    for it when asked. With no endpoint, run on kfp.local instead and say so."""
    pipeline_file = Path(pipeline_file)
    if not pipeline_file.is_file():
        raise ConfigError(f"no compiled pipeline at {pipeline_file}", hint="run `make compile`")
    host = host or os.environ.get(ENDPOINT_ENV)
    if not host:
        return _run_locally(pipeline_file, arguments, schedule)
    try:
        return _submit_remote(
            pipeline_file,
            arguments or {},
            host,
            namespace,
            token,
            experiment,
            run_name,
            schedule,
            wait,
            timeout,
            service_account,
        )
    except ShipyardError:
        raise
    except Exception as exc:  # kfp_server_api.ApiException, urllib3 errors
        raise _unavailable(exc, host) from exc


def _run_locally(
    pipeline_file: Path, arguments: dict[str, Any] | None, schedule: str | None
) -> Submission:
    """No endpoint: the run on kfp.local, saying so (a schedule needs a real endpoint)."""
    from shipyard.local.pipeline import run_local
    from shipyard.preflight import check_services

    if schedule:
        raise ConfigError(
            "a recurring run needs a Kubeflow Pipelines endpoint",
            hint=f"set {ENDPOINT_ENV} or pass --host",
        )
    check_services(reads=pipeline_reads(arguments or {}))
    summary = run_local(pipeline_file, arguments)
    return Submission(
        "kfp.local",
        state="SUCCEEDED",
        local=summary,
        notes=[f"no {ENDPOINT_ENV} set: ran on the local runner instead"],
    )


def _unavailable(exc: Exception, host: str) -> ServiceUnavailable:
    """The KFP client's failure as one line: refused credentials, or what the server said."""
    status = getattr(exc, "status", None)
    if status in (401, 403):
        return ServiceUnavailable(
            f"Kubeflow Pipelines at {host} refused the credentials ({status})",
            hint=f"set {TOKEN_ENV} or run in-cluster with a projected token",
        )
    detail = getattr(exc, "body", None) or str(exc) or type(exc).__name__
    if isinstance(detail, bytes):
        detail = detail.decode(errors="replace")
    return ServiceUnavailable(
        f"cannot submit to Kubeflow Pipelines at {host}: {' '.join(str(detail).split())[:500]}",
        hint=f"check {ENDPOINT_ENV}",
    )


def _submit_remote(
    pipeline_file: Path,
    arguments: dict[str, Any],
    host: str,
    namespace: str | None,
    token: str | None,
    experiment: str,
    run_name: str | None,
    schedule: str | None,
    wait: bool,
    timeout: float,
    service_account: str | None,
) -> Submission:
    client = kfp_client(host, namespace, token)
    found = client.create_experiment(experiment, namespace=namespace)
    run = client.create_run_from_pipeline_package(
        str(pipeline_file),
        arguments,
        run_name=run_name,
        experiment_id=found.experiment_id,
        namespace=namespace,
        service_account=service_account,
    )
    result = Submission(
        host,
        run.run_id,
        f"{host.rstrip('/')}/#/runs/details/{run.run_id}",
        experiment_id=found.experiment_id,
    )
    if schedule:
        recurring = client.create_recurring_run(
            found.experiment_id,
            f"{run_name or pipeline_file.stem}-schedule",
            cron_expression=schedule,
            params=arguments,
            pipeline_package_path=str(pipeline_file),
            service_account=service_account,
        )
        result.recurring_run_id = recurring.recurring_run_id
    if wait:
        finished = client.wait_for_run_completion(run.run_id, timeout=timeout, sleep_duration=2)
        result.state = str(finished.state)
        if result.state.upper() != "SUCCEEDED":
            raise ShipyardError(
                f"run {run.run_id} ended {result.state}", hint=f"its details: {result.url}"
            )
    return result
