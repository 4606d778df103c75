"""``shipyard compile`` and ``shipyard run``: the pipeline compiled, and run on kfp.local."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from shipyard.cli.common import PIPELINES, pipeline_arguments, pipeline_options
from shipyard.kubeflow.pipeline_files import compile_pipeline


def cmd_compile(args: argparse.Namespace) -> int:
    module, default = PIPELINES[args.pipeline]
    print(compile_pipeline(args.project, module, args.output or default))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from shipyard.kubeflow.submit import pipeline_reads
    from shipyard.local.outputs import format_summary
    from shipyard.local.pipeline import PipelineFailed, run_local
    from shipyard.preflight import check_services
    from shipyard.report.run_report import report_for_run

    pipeline, arguments = pipeline_arguments(args)
    # MLflow and S3 before anything starts: one line and exit 3, not a step's traceback
    check_services(reads=pipeline_reads(arguments))
    try:
        summary = run_local(args.pipeline_file, arguments, verbose=args.verbose)
    except PipelineFailed as exc:  # the exit task still summed the run up
        if exc.summary:
            print(f"\nrun summary (Markdown): {exc.summary}", flush=True)
        if exc.run_dir:
            try:
                print(f"report: {report_for_run(exc.run_dir)}", flush=True)
            except Exception as error:  # noqa: BLE001 (the step's failure is the news)
                print(f"no report: {error}", flush=True)
        raise
    print()
    print(format_summary(summary))
    report = report_for_run(summary.run_dir)
    if not args.no_serve:
        from shipyard.settings import run_model_name

        model_name = run_model_name(
            str(arguments.get("model_name") or ""), str(arguments.get("source") or "")
        )
        from shipyard.local.servers import serve_sample

        serve_sample(summary.run_dir, model_name)
    print(f"report: {report}")  # the last line: the page to open
    return 0


def register(sub: Any) -> None:
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
    pipeline_options(run)
    run.add_argument(
        "--no-serve",
        action="store_true",
        help="do not end by serving the champion and answering a sample request",
    )
    run.add_argument(
        "--verbose",
        action="store_true",
        help="stream every task's log (kfp.local's output) instead of the progress view",
    )
    run.set_defaults(func=cmd_run)
