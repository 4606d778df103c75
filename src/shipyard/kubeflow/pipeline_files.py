"""Compiled pipelines from a checkout: ``pipelines/*_pipeline.py`` are scripts in source roots
(``components/`` and ``pipelines/`` are not packages), so they compile in a child process
with those roots on its ``PYTHONPATH`` — the installed package never edits ``sys.path``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from shipyard.errors import ConfigError


def compile_pipeline(project: Path, module: str, output: Path) -> Path:
    """Run ``pipelines/<module>.py OUTPUT`` (it compiles the IR YAML) and return the file."""
    script = project / "pipelines" / f"{module}.py"
    if not script.is_file():
        raise ConfigError(
            f"no pipeline at {script}", hint="run from the project checkout or pass --project"
        )
    roots = [str((project / folder).resolve()) for folder in ("components", "pipelines")]
    path = os.pathsep.join(roots + [p for p in [os.environ.get("PYTHONPATH")] if p])
    done = subprocess.run(
        [sys.executable, str(script), str(output)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise ConfigError(f"compiling {script.name} failed: {last[:300]}")
    return Path(output)


def write_ir(pipeline: Any, output: str | Path) -> Path:
    """Compile ``pipeline`` (a ``@dsl.pipeline`` function) to the IR YAML at ``output``: what
    each ``pipelines/*_pipeline.py`` does when run, and what the KFP UI (or Vertex) accepts."""
    from kfp import compiler

    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(pipeline, str(output))
    return output
