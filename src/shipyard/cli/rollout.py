"""``shipyard rollout``: a registered version canaried on a cluster or on this machine."""

from __future__ import annotations

import argparse
from typing import Any

from shipyard.errors import ConfigError
from shipyard.rollout.inference_service import DEFAULT_SERVICE


def cmd_rollout(args: argparse.Namespace) -> int:
    from shipyard.rollout.controller import RolloutPlan
    from shipyard.rollout.gates import Thresholds
    from shipyard.rollout.inference_service import ModelVersion, ServiceOptions

    try:
        steps = tuple(int(s) for s in args.steps.split(","))
    except ValueError:
        raise ConfigError(
            f"--steps '{args.steps}' is not a comma-separated list of percents"
        ) from None
    plan = RolloutPlan(
        steps,
        args.bake_seconds,
        args.ready_timeout,
        args.poll_seconds,
        Thresholds(
            max_error_rate=args.max_error_rate,
            max_p99_ratio=args.max_p99_ratio,
            min_requests=args.min_requests,
            fail_on_drift=not args.no_drift_gate,
        ),
    )
    options = ServiceOptions(
        name=args.name, namespace=args.namespace, mode=args.mode, model_format=args.model_format
    )
    if args.render:
        import yaml

        from shipyard.rollout.inference_service import inference_service

        print(
            yaml.safe_dump(
                inference_service(
                    ModelVersion(args.model or "shipyard-fraud", args.version, args.render), options
                ),
                sort_keys=False,
            ),
            end="",
        )
        return 0
    from shipyard.model.ref import ModelRef
    from shipyard.settings import get_settings

    ref = ModelRef.of(args.model or get_settings().model_name, args.version)
    if args.local:
        from shipyard.local.rollout import local_rollout

        report = local_rollout(ref, plan, router_port=args.router_port)
    else:
        from shipyard.rollout.run import cluster_rollout

        if not args.prometheus_url:
            raise ConfigError("--prometheus-url is needed on a cluster (the gates read it)")
        report = cluster_rollout(ref, plan, options, args.prometheus_url, dry_run=args.dry_run)
    print(report.summary())
    return 0


def register(sub: Any) -> None:
    rollout = sub.add_parser(
        "rollout",
        help="canary a registered version: step traffic, gate on health, promote "
        "(moves 'champion') or roll back",
        description="On a cluster: the InferenceService through the Kubernetes API, gates on "
        "Prometheus. With --local: the champion and the version as local "
        "predictors behind a local router, gates on their /metrics. Exit 1 when "
        "the canary was rolled back.",
    )
    rollout.add_argument("version", help="registered version number to roll out")
    rollout.add_argument("--local", action="store_true", help="no cluster: local processes")
    rollout.add_argument("--steps", default="10,50,100", help="canary percents, ending at 100")
    rollout.add_argument("--bake-seconds", type=float, default=300.0)
    rollout.add_argument("--poll-seconds", type=float, default=5.0)
    rollout.add_argument("--ready-timeout", type=float, default=600.0)
    rollout.add_argument("--max-error-rate", type=float, default=0.01)
    rollout.add_argument("--max-p99-ratio", type=float, default=1.5)
    rollout.add_argument("--min-requests", type=int, default=20)
    rollout.add_argument("--no-drift-gate", action="store_true")
    rollout.add_argument("--name", default=DEFAULT_SERVICE, help="InferenceService name")
    rollout.add_argument("--namespace", default="shipyard")
    rollout.add_argument(
        "--mode",
        choices=("Serverless", "RawDeployment"),
        default="Serverless",
        help="KServe deployment mode",
    )
    rollout.add_argument(
        "--model-format",
        choices=("shipyard", "sklearn"),
        default="shipyard",
        help="sklearn: KServe's stock runtime (MLServer) serves an export of "
        "the version (joblib, a pickle: trust the bucket); default "
        "Shipyard's predictor (cluster)",
    )
    rollout.add_argument("--prometheus-url", help="Prometheus the gates query (cluster)")
    rollout.add_argument(
        "--dry-run",
        action="store_true",
        help="server-side dry run: the API server checks, nothing changes",
    )
    rollout.add_argument(
        "--render",
        metavar="STORAGE_URI",
        help="print the InferenceService for the version at STORAGE_URI and exit",
    )
    rollout.add_argument("--model", help="registered model name (default SHIPYARD_MODEL_NAME)")
    rollout.add_argument("--router-port", type=int, help="local router port (--local)")
    rollout.set_defaults(func=cmd_rollout)
