"""A failed pipeline step, told once and in one line.

kfp.local runs every step as a process of its own and tells its caller only that a task
failed. So, in a task process, :func:`record_failures` (armed by ``shipyard.steps.timing.timed``)
catches the exception that ends the process: it writes ``error.json`` beside the task's
``executor_output.json`` (the error's class, its documented exit code, its message as one
line, the traceback) and prints a Shipyard error as one line instead of a traceback (any other
exception keeps Python's traceback). The local pipeline runner reads the record back and raises
``PipelineFailed`` with the step, that line, the exit code, and where the step's log and
report are. On Kubeflow the file lands in the executor's scratch folder and is harmless.
"""

from __future__ import annotations

import json
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from shipyard.errors import ShipyardError, exit_code, one_line

ERROR_FILE = "error.json"
_installed = False


@dataclass
class StepFailure:
    """What the task process recorded about the error that ended it."""

    kind: str  # e.g. shipyard.errors.ServiceUnavailable
    exit_code: int
    message: str  # one line

    @classmethod
    def read(cls, task_dir: Path) -> StepFailure | None:
        try:
            data = json.loads((task_dir / ERROR_FILE).read_text())
            return cls(str(data["type"]), int(data["exit_code"]), str(data["message"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None


def task_output_dir(argv: list[str] | None = None) -> Path | None:
    """The task's output folder (where its ``executor_output.json`` goes), from the executor's
    ``--executor_input`` argument; None outside a KFP task."""
    argv = sys.argv if argv is None else argv
    try:
        executor_input = json.loads(argv[argv.index("--executor_input") + 1])
        return Path(executor_input["outputs"]["outputFile"]).parent
    except (ValueError, IndexError, KeyError, TypeError):
        return None


def write_failure(exc: BaseException, folder: Path) -> None:
    """Record ``exc`` in ``folder/error.json``; never raises."""
    record = {
        "type": f"{type(exc).__module__}.{type(exc).__qualname__}",
        "exit_code": exit_code(exc),
        "message": one_line(exc),
        "traceback": "".join(traceback.format_exception(exc)),
    }
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / ERROR_FILE).write_text(json.dumps(record, indent=2))
    except OSError:
        pass


def record_failures() -> None:
    """In a KFP task process: record the exception that ends it (once per process)."""
    global _installed
    folder = task_output_dir()
    if _installed or folder is None:
        return
    _installed = True
    previous = sys.excepthook

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        write_failure(exc, folder)
        if isinstance(exc, ShipyardError):
            print(f"shipyard: error: {one_line(exc)}", file=sys.stderr, flush=True)
        else:
            previous(kind, exc, tb)

    sys.excepthook = hook
