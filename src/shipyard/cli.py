"""The ``shipyard`` command line.

Exit codes scripts can rely on: 0 success, 1 a step or check failed (e.g. validation),
2 bad usage or configuration, 3 a service (MLflow, S3) is unreachable.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from shipyard.errors import ConfigError, ServiceUnavailable, ShipyardError

DEFAULT_PIPELINE_FILE = Path("build/training_pipeline.yaml")


def _load_pipeline_module(project: Path):
    """Import ``pipelines/training_pipeline.py`` from a checkout (source roots, not packages)."""
    for folder in ("components", "pipelines"):
        path = str((project / folder).resolve())
        if path not in sys.path:
            sys.path.insert(0, path)
    try:
        return importlib.import_module("training_pipeline")
    except ModuleNotFoundError as exc:
        raise ConfigError(f"cannot import the pipeline from {project}/pipelines: {exc}",
                          hint="run from the project checkout or pass --project") from exc


def cmd_compile(args: argparse.Namespace) -> int:
    module = _load_pipeline_module(args.project)
    print(module.compile_pipeline(args.output))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from kfp import components

    from shipyard.local_run import coerce_arguments, format_summary, run_local

    if args.compile or not args.pipeline_file.is_file():
        _load_pipeline_module(args.project).compile_pipeline(args.pipeline_file)
    raw = {}
    for item in args.set or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set takes key=value, got {item!r}")
        raw[key.strip()] = value
    pipeline = components.load_component_from_file(str(args.pipeline_file))
    summary = run_local(args.pipeline_file, coerce_arguments(pipeline, raw))
    print()
    print(format_summary(summary))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shipyard", description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=Path("."),
                        help="project checkout holding components/ and pipelines/")
    sub = parser.add_subparsers(dest="command", required=True)

    compile_ = sub.add_parser("compile", help="compile the training pipeline to IR YAML")
    compile_.add_argument("--output", type=Path, default=DEFAULT_PIPELINE_FILE)
    compile_.set_defaults(func=cmd_compile)

    run = sub.add_parser("run", help="run the compiled pipeline locally on kfp.local")
    run.add_argument("--pipeline-file", type=Path, default=DEFAULT_PIPELINE_FILE)
    run.add_argument("--compile", action="store_true", help="compile before running")
    run.add_argument("--set", action="append", metavar="KEY=VALUE",
                     help="pipeline parameter, e.g. --set rows=50000 (repeatable)")
    run.set_defaults(func=cmd_run)
    return parser


def _exit_code(exc: ShipyardError) -> int:
    if isinstance(exc, ConfigError):
        return 2
    if isinstance(exc, ServiceUnavailable):
        return 3
    return 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ShipyardError as exc:
        print(f"shipyard: error: {exc}", file=sys.stderr)
        return _exit_code(exc)


if __name__ == "__main__":
    sys.exit(main())
