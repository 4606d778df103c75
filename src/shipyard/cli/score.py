"""``shipyard score``: a table scored by a registered model through the batch pipeline."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from shipyard.cli.common import PIPELINES
from shipyard.kubeflow.pipeline_files import compile_pipeline


def cmd_score(args: argparse.Namespace) -> int:
    """Score a table with a registered model through the compiled batch pipeline."""
    from shipyard.local.batch import run_batch_pipeline
    from shipyard.local.outputs import format_summary

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
        contributions=args.contributions,
        verbose=args.verbose,
    )
    print()
    print(format_summary(summary))
    print(line)
    return 0


def register(sub: Any) -> None:
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
    score.add_argument(
        "--contributions",
        action="store_true",
        help="also write each feature's exact contribution (contribution_<feature> columns)",
    )
    score.add_argument("--pipeline-file", type=Path, default=PIPELINES["batch"][1])
    score.add_argument("--compile", action="store_true", help="compile first")
    score.add_argument(
        "--verbose", action="store_true", help="stream every task's log, not the progress view"
    )
    score.set_defaults(func=cmd_score)
