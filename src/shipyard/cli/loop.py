"""``shipyard trigger`` and ``shipyard demo-loop``: retraining when told, and the whole
closed loop on this machine."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from shipyard.cli.common import DEFAULT_PIPELINE_FILE
from shipyard.errors import ConfigError


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


def cmd_demo_loop(args: argparse.Namespace) -> int:
    import shutil
    import signal

    from shipyard.local.closed_loop import LoopOptions, run_loop
    from shipyard.local.outputs import format_summary
    from shipyard.local.pipeline import run_local
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


def register(sub: Any) -> None:
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
