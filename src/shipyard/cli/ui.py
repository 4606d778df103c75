"""``shipyard ui``: the MLflow UI on the local store (runs, registered models, aliases)."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_ui(args: argparse.Namespace) -> int:
    from shipyard.local.mlflow_ui import serve_until_stopped

    return serve_until_stopped(args.host, args.port)


def register(sub: Any) -> None:
    ui = sub.add_parser(
        "ui", help="start the MLflow UI on the local tracking store; Ctrl-C stops it"
    )
    ui.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    ui.add_argument("--port", type=int, default=5000, help="port (default 5000)")
    ui.set_defaults(func=cmd_ui)
