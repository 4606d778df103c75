"""``shipyard ui``: MLflow's own server and UI on the local store, so runs, registered models
and aliases can be browsed — the part of the KFP UI's role one machine can have.

The real ``mlflow server`` (one worker, the job runner off: otherwise it starts seven worker
processes and leaves orphans on SIGTERM) on the project's tracking store and artifact root,
bound to 127.0.0.1 by default. It runs in a session of its own and is stopped by its process
group on Ctrl-C or SIGTERM. A tracking URI that is already a server needs no second one: its
address is the UI.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shipyard.processes import check_ports, start_server, stop_process_group
from shipyard.settings import Settings, get_settings

READY_SECONDS = 180.0  # MLflow's server takes ~25 s to be ready on a busy 2-core machine


def ui_command(settings: Settings, host: str, port: int) -> list[str]:
    """``mlflow server`` on the project's store, in this environment."""
    command = [sys.executable, "-m", "mlflow", "server", "--host", host, "--port", str(port)]
    command += ["--workers", "1", "--backend-store-uri", settings.tracking_uri]
    if settings.artifact_location:  # new experiments' artifacts where the pipeline puts them
        command += ["--default-artifact-root", settings.artifact_location]
    return command


def ui_environment() -> dict[str, str]:
    return {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


@contextmanager
def mlflow_ui(
    host: str = "127.0.0.1", port: int = 5000, settings: Settings | None = None
) -> Iterator[str]:
    """The UI's address while the server runs; stopped (its whole process group) on exit."""
    settings = settings or get_settings()
    uri = settings.tracking_uri
    if uri.startswith(("http://", "https://")):
        yield uri.rstrip("/")
        return
    check_ports(host, {"MLflow UI": port})
    settings.home.mkdir(parents=True, exist_ok=True)
    address = f"http://{host}:{port}"
    process = start_server(
        ui_command(settings, host, port),
        log_path(settings),
        f"{address}/health",
        "MLflow UI server",
        READY_SECONDS,
        env=ui_environment(),
    )
    try:
        yield address
    finally:
        stop_process_group(process)


def log_path(settings: Settings) -> Path:
    return settings.home / "mlflow-ui.log"


def serve_until_stopped(host: str, port: int, settings: Settings | None = None) -> int:
    """Start the UI, print its address, wait for Ctrl-C (or SIGTERM), stop it."""
    settings = settings or get_settings()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # SIGTERM as Ctrl-C: cleanup runs
    if settings.tracking_uri.startswith(("http://", "https://")):
        print(f"MLflow UI: {settings.tracking_uri} (the tracking server itself)", flush=True)
        return 0
    print(f"starting the MLflow UI on {settings.tracking_uri} …", flush=True)
    with mlflow_ui(host, port, settings) as address:
        print(f"MLflow UI: {address} (its log: {log_path(settings)}); Ctrl-C stops", flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
    print("MLflow UI stopped", flush=True)
    return 0
