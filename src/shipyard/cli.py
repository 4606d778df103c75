"""The ``shipyard`` command line.

Exit codes scripts can rely on: 0 success, 1 a step or check failed (e.g. validation),
2 bad usage or configuration, 3 a service (MLflow, S3) is unreachable; each error class
carries its code (``shipyard.errors``, the one mapping), and every fault ends in one line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import (
    ConfigError,
    ServiceUnavailable,
    ShipyardError,
    exit_code,
    one_line,
)
from shipyard.kubeflow.pipeline_files import compile_pipeline

if TYPE_CHECKING:
    from shipyard.local.supervisor import Supervisor
    from shipyard.settings import Settings

DEFAULT_PIPELINE_FILE = Path("build/training_pipeline.yaml")
PIPELINES = {
    "training": ("training_pipeline", DEFAULT_PIPELINE_FILE),
    "batch": ("batch_scoring_pipeline", Path("build/batch_scoring_pipeline.yaml")),
}


def cmd_compile(args: argparse.Namespace) -> int:
    module, default = PIPELINES[args.pipeline]
    print(compile_pipeline(args.project, module, args.output or default))
    return 0


def _pipeline_arguments(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """Compile if asked (or missing), then the pipeline and its typed --set arguments."""
    from kfp import components

    from shipyard.local.pipeline import coerce_arguments

    if args.compile or not args.pipeline_file.is_file():
        compile_pipeline(args.project, PIPELINES["training"][0], args.pipeline_file)
    raw = {}
    for item in args.set or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set takes key=value, got {item!r}")
        raw[key.strip()] = value
    pipeline = components.load_component_from_file(str(args.pipeline_file))
    return pipeline, coerce_arguments(pipeline, raw)


def cmd_run(args: argparse.Namespace) -> int:
    from shipyard.kubeflow.submit import pipeline_reads
    from shipyard.local.pipeline import PipelineFailed, format_summary, run_local
    from shipyard.preflight import check_services

    pipeline, arguments = _pipeline_arguments(args)
    # MLflow and S3 before anything starts: one line and exit 3, not a step's traceback
    check_services(reads=pipeline_reads(arguments))
    try:
        summary = run_local(args.pipeline_file, arguments)
    except PipelineFailed as exc:  # the exit task still summed the run up
        if exc.summary:
            print(f"\nrun summary (Markdown): {exc.summary}", flush=True)
        raise
    print()
    print(format_summary(summary))
    if not args.no_serve:
        from shipyard.settings import settings_for

        model_name = settings_for(
            str(arguments.get("model_name") or ""), str(arguments.get("source") or "")
        ).model_name
        serve_sample(summary.run_dir, model_name)
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    """Score a table with a registered model through the compiled batch pipeline."""
    from shipyard.local.batch import run_batch_pipeline
    from shipyard.local.pipeline import format_summary

    if args.compile or not args.pipeline_file.is_file():
        compile_pipeline(args.project, PIPELINES["batch"][0], args.pipeline_file)
    summary, line = run_batch_pipeline(
        args.pipeline_file,
        args.source,
        args.model or "",
        args.alias or "champion",
        args.version or "",
        args.destination or "",
        args.id_column or "",
    )
    print()
    print(format_summary(summary))
    print(line)
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    from shipyard.kubeflow.submit import submit
    from shipyard.local.pipeline import format_summary

    _, arguments = _pipeline_arguments(args)
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


def cmd_drift(args: argparse.Namespace) -> int:
    """Score a table against a model's detector, or print a running detector's latest."""
    import json
    import urllib.request

    if args.url:
        url = f"{args.url.rstrip('/')}/v1/drift/{args.name}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                latest = json.loads(response.read())
        except OSError as exc:
            raise ServiceUnavailable(f"cannot reach the drift detector at {url}: {exc}") from exc
        print(json.dumps(latest, indent=2))
        result = latest.get("latest") or {}
        return 1 if result.get("is_drift") else 0
    if not args.data:
        raise ConfigError("give a table to score (DATA) or --url of a running detector")
    from shipyard.data.sources import read_table
    from shipyard.monitoring.detector import load_detector
    from shipyard.settings import get_settings

    settings = get_settings()
    detector = load_detector(args.source or _champion(settings.model_name), settings)
    frame = read_table(args.data, settings)
    result = detector.score(frame)
    width = max(len(name) for name in result.p_values)
    print(f"{'feature':<{width}}  {'p-value':>9}  {'statistic':>10}  drift")
    for name, p_value in sorted(result.p_values.items(), key=lambda item: item[1]):
        print(
            f"{name:<{width}}  {p_value:>9.4g}  {result.statistics[name]:>10.4g}  "
            f"{'YES' if result.feature_drift[name] else '-'}"
        )
    verdict = f"drift in {', '.join(result.drifted)}" if result.is_drift else "no drift"
    print(f"{result.rows} rows vs the reference (p < {result.threshold:g}, corrected): {verdict}")
    return 1 if result.is_drift else 0


def _champion(model_name: str) -> str:
    from shipyard.model.ref import ModelRef

    return ModelRef.champion(model_name).uri


def serve_sample(run_dir: Path, model_name: str) -> dict:
    """Serve the champion on 127.0.0.1, answer one v2 request from the run's test rows, stop."""
    import pandas as pd

    from shipyard.data.schema import Schema
    from shipyard.local.servers import start_predictor, v2_request
    from shipyard.settings import get_settings

    source = _champion(model_name)
    rows = pd.read_parquet(run_dir / "ingest-op" / "test_data").head(3)
    schema = Schema.load(run_dir / "validate-op" / "schema")
    predictor = start_predictor(source, model_name, get_settings().home / "predictor.log")
    try:
        answer = predictor.infer(v2_request(rows, schema))
    finally:
        predictor.stop()
    outputs = {o["name"]: o for o in answer["outputs"]}
    proba = outputs.get("predict_proba")
    shown = ""
    if proba is not None:  # the probability of the predicted class, per row
        k = proba["shape"][1]
        shown = ", P(predicted)=" + str(
            [round(max(proba["data"][i * k : (i + 1) * k]), 4) for i in range(len(rows))]
        )
    print(
        f"served {source} (v{answer.get('model_version')}) at {predictor.base_url}; "
        f"a v2 request of {len(rows)} rows answered: predict={outputs['predict']['data']}"
        f"{shown}; server stopped"
    )
    return answer


def cmd_serve(args: argparse.Namespace) -> int:
    from shipyard.processes import check_ports
    from shipyard.serving.server import serve_predictor
    from shipyard.settings import get_settings

    settings = get_settings()
    source = args.source or _champion(settings.model_name)
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
        return _serve_canary(args, source, settings, logger_url, detector)
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


def _serve_canary(
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
    if args.local:
        from shipyard.local.rollout import local_rollout

        report = local_rollout(args.version, plan, router_port=args.router_port)
    else:
        from shipyard.rollout.run import cluster_rollout

        if not args.prometheus_url:
            raise ConfigError("--prometheus-url is needed on a cluster (the gates read it)")
        report = cluster_rollout(
            args.version, plan, options, args.prometheus_url, dry_run=args.dry_run
        )
    print(report.summary())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shipyard", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--project",
        type=Path,
        default=Path("."),
        help="project checkout holding components/ and pipelines/",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    compile_ = sub.add_parser("compile", help="compile a pipeline to IR YAML")
    compile_.add_argument(
        "--pipeline",
        choices=sorted(PIPELINES),
        default="training",
        help="training (default) or batch (batch scoring)",
    )
    compile_.add_argument(
        "--output",
        type=Path,
        help="default build/training_pipeline.yaml or build/batch_scoring_pipeline.yaml",
    )
    compile_.set_defaults(func=cmd_compile)

    run = sub.add_parser("run", help="run the compiled pipeline locally on kfp.local")
    _pipeline_options(run)
    run.add_argument(
        "--no-serve",
        action="store_true",
        help="do not end by serving the champion and answering a sample request",
    )
    run.set_defaults(func=cmd_run)

    score = sub.add_parser(
        "score",
        help="score a table with a registered model on kfp.local (the compiled batch "
        "pipeline): Parquet predictions, drift against the training data",
        description="Runs build/batch_scoring_pipeline.yaml (compiled if missing) on "
        "kfp.local. Predictions equal the endpoint's for the same rows. Exit 1 "
        "when the table lacks a feature or the model does not exist.",
    )
    score.add_argument("source", help="CSV/Parquet path, file:// or s3:// URI")
    score.add_argument("--model", help="registered model name; default SHIPYARD_MODEL_NAME")
    which = score.add_mutually_exclusive_group()
    which.add_argument("--alias", help="registry alias (default champion)")
    which.add_argument("--version", help="registered version number")
    score.add_argument(
        "--destination", help="also write the predictions here (path or s3://; .parquet or .csv)"
    )
    score.add_argument("--id-column", help="column identifying a row (default: row number)")
    score.add_argument("--pipeline-file", type=Path, default=PIPELINES["batch"][1])
    score.add_argument("--compile", action="store_true", help="compile first")
    score.set_defaults(func=cmd_score)

    submit = sub.add_parser(
        "submit",
        help="submit the pipeline to Kubeflow Pipelines (kfp.Client)",
        description="Starts a run on the endpoint in --host or KF_PIPELINES_ENDPOINT, with a "
        "bearer token (--token, KF_PIPELINES_TOKEN) or the pod's service-account "
        "token in a cluster. With no endpoint it runs on kfp.local and says so.",
    )
    _pipeline_options(submit)
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

    drift = sub.add_parser(
        "drift",
        help="score a table against a model's drift detector, or print a running "
        "detector's latest window; exit 1 on drift",
    )
    drift.add_argument("data", nargs="?", help="CSV/Parquet path, file:// or s3:// URI")
    drift.add_argument(
        "--source",
        help="detector source: models:/name@alias (default the "
        "champion) or a saved detector folder",
    )
    drift.add_argument("--url", help="a running detector, e.g. http://127.0.0.1:8082")
    drift.add_argument("--name", default="drift", help="the detector's model name (--url)")
    drift.set_defaults(func=cmd_drift)

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
    rollout.add_argument("--name", default="fraud", help="InferenceService name")
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
    rollout.add_argument("--model", help="registered model name (with --render)")
    rollout.add_argument("--router-port", type=int, help="local router port (--local)")
    rollout.set_defaults(func=cmd_rollout)

    trigger = sub.add_parser(
        "trigger",
        help="retraining on alerts, MLflow events, a schedule or a person",
        description="`serve`: the trigger server (Alertmanager webhook at /alertmanager, MLflow "
        "webhook at /mlflow, /run/MODEL); `run MODEL`: ask a running server (--url) "
        "or, without one, run the pipeline for MODEL here. Settings: "
        "SHIPYARD_TRIGGER_TOKEN (required), SHIPYARD_TRIGGER_MLFLOW_SECRET, "
        "SHIPYARD_TRIGGER_SOURCE, SHIPYARD_TRIGGER_COOLDOWN_SECONDS, "
        "SHIPYARD_TRIGGER_SCHEDULE_HOURS.",
    )
    trigger.add_argument("action", choices=("serve", "run"))
    trigger.add_argument("model", nargs="?", help="the model to retrain (run)")
    trigger.add_argument("--url", help="a trigger server to ask (run)")
    trigger.add_argument("--reason", default="asked by a person")
    trigger.add_argument("--host", default="127.0.0.1")
    trigger.add_argument("--port", type=int, default=8090)
    trigger.add_argument("--pipeline-file", type=Path, default=DEFAULT_PIPELINE_FILE)
    trigger.set_defaults(func=cmd_trigger)

    loop = sub.add_parser(
        "demo-loop",
        help="the closed loop on this machine: drift and decay alerts retrain, "
        "the gate and a local canary decide, people are told",
        description="Serves the champion with its drift sidecar, runs Prometheus and "
        "Alertmanager (Debian's) with the manifests' rules and routes and "
        "`shipyard trigger`, sends reference then shifted, labelled traffic, and "
        "prints what happened when until the retraining run ends. Starts from a "
        "fresh champion in a home of its own (.shipyard/demo-loop).",
    )
    loop.add_argument("--pipeline-file", type=Path, default=DEFAULT_PIPELINE_FILE)
    loop.add_argument("--hold", default="10s", help="the alert rules' `for` here")
    loop.add_argument("--timeout", type=float, default=1200.0)
    loop.set_defaults(func=cmd_demo_loop)
    return parser


def cmd_demo_loop(args: argparse.Namespace) -> int:
    import shutil
    import signal

    from shipyard.local.closed_loop import LoopOptions, run_loop
    from shipyard.local.pipeline import format_summary, run_local
    from shipyard.settings import get_settings

    # SIGTERM as Ctrl-C: the demo's servers are stopped by PID on the way out either way.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    # A home of its own, fresh each time: the story starts from a champion that has never
    # seen the shifted data, whatever ran before.
    folder = get_settings().home / "demo-loop"
    shutil.rmtree(folder, ignore_errors=True)
    settings = get_settings().model_copy(update={"home": folder / "home"})
    print(f"training a champion on reference data first (home: {settings.home})")
    first = run_local(
        args.pipeline_file,
        {"rows": 8000, "model_types": "xgboost", "n_candidates": 2, "cv_folds": 2},
        settings,
    )
    print(format_summary(first))
    report = run_loop(
        LoopOptions(args.pipeline_file, folder, hold=args.hold, timeout=args.timeout, echo=True),
        settings,
    )
    print()
    print(report.table())
    print(f"\nlogs of every part: {folder}")
    return 0 if report.new_champion else 1


def cmd_trigger(args: argparse.Namespace) -> int:
    from shipyard.settings import get_settings

    settings = get_settings()
    if args.action == "run" and not args.model:
        raise ConfigError("`shipyard trigger run` needs the model to retrain")
    if args.action == "run" and args.url:
        from shipyard.loop.trigger_client import ask

        print(ask(args.url, args.model, args.reason, settings))
        return 0
    from shipyard.loop.trigger import Trigger, pipeline_runner

    trigger = Trigger(pipeline_runner(str(args.pipeline_file), settings), settings)
    if args.action == "run":
        decision = trigger.request(args.model, "manual", args.reason)
        trigger.wait(args.model)
        print(f"{decision.decision}: {decision.reason}; {trigger.outcomes.get(args.model, '')}")
        return 0 if trigger.outcomes.get(args.model, "").startswith("run finished") else 1
    if settings.trigger_token is None:
        raise ConfigError(
            "the trigger server needs SHIPYARD_TRIGGER_TOKEN",
            hint="Alertmanager and people send it as a bearer token",
        )
    from shipyard.loop.trigger_server import serve

    print(
        f"shipyard trigger on http://{args.host}:{args.port} (/alertmanager, /mlflow, "
        f"/run/MODEL, /decisions, /metrics); Ctrl-C stops"
    )
    serve(trigger, args.host, args.port, settings)
    return 0


def _pipeline_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pipeline-file", type=Path, default=DEFAULT_PIPELINE_FILE)
    parser.add_argument("--compile", action="store_true", help="compile first")
    parser.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="pipeline parameter, e.g. --set rows=50000 (repeatable)",
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ShipyardError as exc:
        sys.stdout.flush()  # the one line comes after whatever the command printed
        print(f"shipyard: error: {one_line(exc)}", file=sys.stderr, flush=True)
        return exit_code(exc)


if __name__ == "__main__":
    sys.exit(main())
