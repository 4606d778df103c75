"""The drift detector sidecar's process: ``shipyard-drift`` serves the detector model on the
same hardened KServe server as the predictor (``shipyard.serving.server``), with the
sidecar's routes and ``IngestGuard`` on its write paths."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipyard.processes import die_with_parent
from shipyard.serving.server import ShipyardModelServer, one_line_errors, parser_for
from shipyard.settings import get_settings

if TYPE_CHECKING:
    from shipyard.monitoring.window import MonitorSettings


def serve_detector(
    source: str,
    name: str,
    host: str,
    http_port: int,
    grpc_port: int,
    monitor_settings: MonitorSettings | None = None,
    **server_kwargs: Any,
) -> None:
    """Load the drift detector (verified) and serve it until SIGTERM/SIGINT; its write
    paths are guarded by ``sidecar.IngestGuard`` (tokens, loopback, back-pressure)."""
    from shipyard.monitoring.detector import DriftDetectorModel
    from shipyard.monitoring.sidecar import IngestGuard, sidecar_routes

    model = DriftDetectorModel(name, source, monitor_settings)
    server = ShipyardModelServer(
        host=host,
        http_port=http_port,
        grpc_port=grpc_port,
        routes=sidecar_routes(model),
        middleware=[(IngestGuard, {"model": model})],
        request_metrics=False,
        **server_kwargs,
    )
    server.check_ports()
    model.load()
    server.start([model])


def drift_main(argv: list[str] | None = None) -> None:
    """The drift detector entrypoint (``shipyard-drift``); each flag overrides its
    ``SHIPYARD_*`` setting."""
    import os

    from shipyard.monitoring.window import MonitorSettings

    defaults = get_settings()
    parser = parser_for("Shipyard drift detector (alibi-detect) for KServe's request logger")
    parser.add_argument(
        "--detector_source",
        default=defaults.detector_source,
        help="models:/name@alias, models:/name/N, or a saved detector folder",
    )
    parser.add_argument("--window_size", type=int, default=defaults.drift_window_size)
    parser.add_argument("--max_age_seconds", type=float, default=defaults.drift_max_age_seconds)
    parser.add_argument("--max_buffered_rows", type=int, default=defaults.drift_max_buffered_rows)
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="lower this process's CPU priority (local mode: the predictor on "
        "the same machine comes first; in a pod, CPU limits do this)",
    )
    args, _ = parser.parse_known_args(argv)
    die_with_parent()  # started by `shipyard serve --with-drift`: never outlive it
    if args.nice:
        os.nice(args.nice)
    with one_line_errors():
        serve_detector(
            args.detector_source,
            args.model_name,
            args.host,
            args.http_port,
            args.grpc_port,
            MonitorSettings(args.window_size, args.max_age_seconds, args.max_buffered_rows),
            enable_grpc=False,
            workers=1,
        )
