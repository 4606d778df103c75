"""``shipyard serve``: a model over KServe v2, with its drift sidecar or a canary if asked."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from shipyard.cli.common import champion_uri

if TYPE_CHECKING:
    from shipyard.local.supervisor import Supervisor
    from shipyard.settings import Settings


def cmd_serve(args: argparse.Namespace) -> int:
    from shipyard.processes import check_ports
    from shipyard.serving import workers
    from shipyard.settings import get_settings

    settings = get_settings()
    workers.prepare(workers.count(settings.serving_workers))  # before prometheus_client loads
    from shipyard.serving.server import serve_predictor

    source = args.source or champion_uri(settings.model_name)
    if args.canary_source:
        from shipyard.rollout.inference_service import check_percent

        check_percent(args.canary_percent)  # before any server starts
    # a busy port is one line and exit 3 before anything starts or loads
    check_ports(
        args.host,
        {
            "HTTP": args.http_port,
            "gRPC": None if args.canary_source else args.grpc_port,
            "drift": args.drift_port if args.with_drift else None,
        },
    )
    detector, logger_url = None, None
    if args.with_drift:
        from shipyard.local.supervisor import supervise_detector

        detector = supervise_detector(
            args.drift_source or source, settings.home / "drift.log", args.host, args.drift_port
        )
        base = detector.child.base_url
        logger_url = f"{base}/v1/models/drift:predict"
        print(
            f"drift detector (pid {detector.child.process.pid}) on {base} (latest: {base}"
            f"/v1/drift/drift, metrics: /metrics); the predictor forwards every request; "
            f"restarted if it exits, at most {detector.max_restarts} times in "
            f"{detector.window_seconds:g} s",
            flush=True,
        )
    if args.canary_source:
        return serve_canary(args, source, settings, logger_url, detector)
    print(
        f"serving {source} as '{args.name}' on http://{args.host}:{args.http_port} "
        f"(gRPC {args.grpc_port}); Ctrl-C stops",
        flush=True,
    )
    try:
        serve_predictor(
            source, args.name, args.host, args.http_port, args.grpc_port, logger_url=logger_url
        )
    finally:
        if detector:
            detector.stop()
    return 0


def serve_canary(
    args: argparse.Namespace,
    source: str,
    settings: Settings,
    logger_url: str | None,
    detector: Supervisor | None,
) -> int:
    """Stable and canary predictors behind the local router on --http-port, until Ctrl-C."""
    import time

    from shipyard.local.router import Upstream, start_router
    from shipyard.local.servers import start_predictor

    servers = {}
    try:
        for role, src in (("stable", source), ("canary", args.canary_source)):
            servers[role] = start_predictor(
                src,
                args.name,
                settings.home / f"{role}.log",
                args.host,
                role=role,
                logger_url=logger_url,
            )
        router = start_router(
            "stable",
            servers["stable"].base_url,
            settings.home / "router.log",
            args.host,
            args.http_port,
            canary=Upstream("canary", servers["canary"].base_url),
            canary_percent=args.canary_percent,
        )
        servers["router"] = router
        print(
            f"serving {source} (stable, {100 - args.canary_percent} %) and "
            f"{args.canary_source} (canary, {args.canary_percent} %) as '{args.name}' "
            f"behind {router.base_url}; move the split with PUT {router.base_url}"
            f"/router/traffic; Ctrl-C stops"
        )
        while all(s.process.poll() is None for s in servers.values()):
            time.sleep(1)
        return 1  # a server died
    except KeyboardInterrupt:
        return 0
    finally:
        for server in servers.values():
            server.stop()
        if detector:
            detector.stop()


def register(sub: Any) -> None:
    serve = sub.add_parser("serve", help="serve a model over KServe v2 (REST and gRPC)")
    serve.add_argument(
        "--source",
        help="models:/name@alias, models:/name/N or a bundle folder; "
        "default the champion of SHIPYARD_MODEL_NAME",
    )
    serve.add_argument("--name", default="shipyard", help="model name in the v2 paths")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--http-port", type=int, default=8080)
    serve.add_argument("--grpc-port", type=int, default=8081)
    serve.add_argument(
        "--with-drift",
        action="store_true",
        help="also run the drift detector stored with the model and forward "
        "each request to it, as KServe's logger would",
    )
    serve.add_argument("--drift-source", help="detector source; default: the model's")
    serve.add_argument("--drift-port", type=int, default=8082)
    serve.add_argument(
        "--canary-source",
        help="also serve this model as a canary; the local "
        "router on --http-port splits the traffic",
    )
    serve.add_argument("--canary-percent", type=int, default=10)
    serve.set_defaults(func=cmd_serve)
