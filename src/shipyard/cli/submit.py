"""``shipyard submit``: the pipeline to Kubeflow Pipelines (kfp.local without an endpoint)."""

from __future__ import annotations

import argparse
from typing import Any

from shipyard.cli.common import pipeline_arguments, pipeline_options


def cmd_submit(args: argparse.Namespace) -> int:
    from shipyard.kubeflow.submit import submit
    from shipyard.local.outputs import format_summary

    _, arguments = pipeline_arguments(args)
    result = submit(
        args.pipeline_file,
        arguments,
        host=args.host,
        namespace=args.namespace,
        token=args.token,
        experiment=args.experiment,
        run_name=args.run_name,
        schedule=args.schedule,
        wait=args.wait,
        timeout=args.timeout,
        service_account=args.service_account,
    )
    if result.local is not None:
        print(format_summary(result.local))
    print(result.summary())
    return 0


def register(sub: Any) -> None:
    submit = sub.add_parser(
        "submit",
        help="submit the pipeline to Kubeflow Pipelines (kfp.Client)",
        description="Starts a run on the endpoint in --host or KF_PIPELINES_ENDPOINT, with a "
        "bearer token (--token, KF_PIPELINES_TOKEN) or the pod's service-account "
        "token in a cluster. With no endpoint it runs on kfp.local and says so.",
    )
    pipeline_options(submit)
    submit.add_argument("--host", help="KFP API endpoint; default KF_PIPELINES_ENDPOINT")
    submit.add_argument("--namespace", help="profile namespace (multi-user Kubeflow)")
    submit.add_argument("--token", help="bearer token; default KF_PIPELINES_TOKEN")
    submit.add_argument("--experiment", default="shipyard")
    submit.add_argument("--run-name")
    submit.add_argument(
        "--service-account",
        help="Kubernetes SA the run's pods use (bind it to shipyard-deployer for deploy=true)",
    )
    submit.add_argument(
        "--schedule",
        metavar="CRON",
        help="also create a recurring run, e.g. '0 0 3 * * *' (6 fields)",
    )
    submit.add_argument("--wait", action="store_true", help="wait for the run to finish")
    submit.add_argument("--timeout", type=float, default=3600.0, help="seconds, with --wait")
    submit.set_defaults(func=cmd_submit)
