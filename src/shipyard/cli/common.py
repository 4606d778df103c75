"""What several commands share: the compiled pipelines, their options and ``--set``
arguments, and the champion of a model."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from shipyard.errors import ConfigError
from shipyard.kubeflow.pipeline_files import compile_pipeline

DEFAULT_PIPELINE_FILE = Path("build/training_pipeline.yaml")
PIPELINES = {
    "training": ("training_pipeline", DEFAULT_PIPELINE_FILE),
    "batch": ("batch_scoring_pipeline", Path("build/batch_scoring_pipeline.yaml")),
}


def pipeline_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pipeline-file", type=Path, default=DEFAULT_PIPELINE_FILE)
    parser.add_argument("--compile", action="store_true", help="compile first")
    parser.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="pipeline parameter, e.g. --set rows=50000 (repeatable)",
    )


def pipeline_arguments(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
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


def champion_uri(model_name: str) -> str:
    from shipyard.model.ref import ModelRef

    return ModelRef.champion(model_name).uri
