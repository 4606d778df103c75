"""The ``shipyard`` command line.

Exit codes scripts can rely on: 0 success, 1 a step or check failed (e.g. validation),
2 bad usage or configuration, 3 a service (MLflow, S3) is unreachable; each error class
carries its code (``shipyard.errors``, the one mapping), and every fault ends in one line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from shipyard.cli import drift, loop, pipeline, rollout, score, serve, submit, ui
from shipyard.errors import ShipyardError, exit_code, one_line

COMMANDS = (pipeline, score, submit, drift, serve, rollout, loop, ui)  # in the help's order


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shipyard", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--project",
        type=Path,
        default=Path("."),
        help="project checkout holding components/ and pipelines/",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    return parser


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
