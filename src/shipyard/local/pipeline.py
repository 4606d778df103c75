"""Run a compiled pipeline on kfp.local and summarize it: the local stand-in for Kubeflow.

It runs the *compiled* IR YAML (loaded back with ``load_component_from_file``), so what runs
here is exactly what the KFP UI would run — conditions and the exit handler included (kfp
2.17). Step timings and metrics are read back from each task's ``executor_output.json``; a
step whose condition was false has none and is listed as skipped. The training pipeline
returns nothing (KFP allows no pipeline outputs from inside an ``ExitHandler``): the
registered model's URI is the register step's ``model_uri`` output.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from shipyard.errors import ConfigError, ShipyardError
from shipyard.local.outputs import (
    LOG_FILE,
    SUMMARY_MARKDOWN,
    RunSummary,
    read_steps,
    run_folder,
)
from shipyard.local.progress import Progress
from shipyard.local.warm import warm_tasks
from shipyard.settings import Settings, get_settings
from shipyard.steps.failure import StepFailure
from shipyard.steps.timing import PROGRESS_MARKER


class PipelineFailed(ShipyardError):
    """A step failed; ``step`` names it, ``log`` and ``report`` point at its log and report
    (None where there is none), ``summary`` at the exit task's Markdown summary of the failed
    run (None if the pipeline has no exit task; ``shipyard run`` prints it before the error).
    The message is the step's error as one line and the exit code is that error's
    (``shipyard.steps.failure``; 1 if the step left no record)."""

    status = 422

    def __init__(
        self,
        step: str,
        run_dir: Path | None,
        report: Path | None,
        log: Path | None = None,
        failure: StepFailure | None = None,
        last_line: str = "",
        summary: Path | None = None,
    ) -> None:
        self.step, self.run_dir, self.report, self.log = step, run_dir, report, log
        self.failure, self.summary = failure, summary
        self.exit_code = failure.exit_code if failure else 1
        said = failure.message if failure else (last_line or "see its log")
        where = [f"its log: {log}" if log else "its log is printed above"]
        if report:
            where.append(f"its report: {report}")
        super().__init__(
            f"step '{step}' failed: {said}; nothing after it ran", hint="; ".join(where)
        )


def prepare_environment(settings: Settings | None = None) -> Settings:
    """Export what every task process must agree on (absolute home, git commit)."""
    settings = settings or get_settings()
    os.environ["SHIPYARD_HOME"] = str(settings.home)
    if not settings.git_commit:
        try:
            commit = subprocess.run(
                ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
            ).stdout.strip()
            os.environ["SHIPYARD_GIT_COMMIT"] = commit
        except (OSError, subprocess.SubprocessError):
            pass
    settings.home.mkdir(parents=True, exist_ok=True)
    return settings


def coerce_arguments(pipeline: Any, raw: dict[str, str]) -> dict[str, Any]:
    """Turn ``key=value`` strings into the pipeline's declared parameter types."""
    inputs = pipeline.component_spec.inputs or {}
    arguments: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in inputs:
            raise ConfigError(
                f"the pipeline has no parameter {key!r}",
                hint=f"parameters: {', '.join(sorted(inputs))}",
            )
        kind = inputs[key].type
        try:
            if kind == "Integer":
                arguments[key] = int(value)
            elif kind in ("Double", "Float"):
                arguments[key] = float(value)
            elif kind == "Boolean":
                arguments[key] = value.lower() in ("1", "true", "yes")
            else:
                arguments[key] = value
        except ValueError:
            raise ConfigError(f"parameter {key!r} takes a {kind}, got {value!r}") from None
    return arguments


# kfp.local's configuration (``local.init``) and the captured stdout (``StepLogs``) are
# process-wide: local runs in one process (the trigger's threads) take turns.
_ONE_AT_A_TIME = threading.Lock()


def new_run_root(home: Path) -> Path:
    """A pipeline root of one run's own under ``home/local_outputs``: created here (never
    reused), so the run folder kfp.local writes inside it is this run's and no other's, however
    many runs share the home, in one process or many."""
    outputs = home / "local_outputs"
    outputs.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    while True:
        root = outputs / f"run-{stamp}-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            root.mkdir()
            return root
        except FileExistsError:  # pragma: no cover (2^32 names per process and second)
            continue


def run_local(
    pipeline_file: str | Path,
    arguments: dict[str, Any] | None = None,
    settings: Settings | None = None,
    verbose: bool = False,
) -> RunSummary:
    """Run the compiled pipeline on ``kfp.local.SubprocessRunner`` and summarize it. The run
    gets a pipeline root of its own (:func:`new_run_root`); ``RunSummary.run_dir`` (or
    ``PipelineFailed.run_dir``) is its folder, so concurrent runs in one home never read each
    other's results. Quiet by default: a progress view, each task's log in its folder, and on
    failure the failed step's last lines; ``verbose`` streams what kfp.local prints."""
    from kfp import components, local

    settings = prepare_environment(settings)
    pipeline_file = Path(pipeline_file)
    if not pipeline_file.is_file():
        raise ConfigError(f"no compiled pipeline at {pipeline_file}", hint="run `make compile`")
    pipeline = components.load_component_from_file(str(pipeline_file))
    with _ONE_AT_A_TIME:
        root = new_run_root(settings.home)
        # No caching: ingest, validate, register, deploy and the summary must always run, and
        # train and tune could never hit anyway (their inputs include the run's own artifact
        # paths and run id).
        local.init(
            runner=local.SubprocessRunner(use_venv=False),
            pipeline_root=str(root),
            raise_on_error=True,
            enable_caching=False,
        )
        start = time.perf_counter()
        progress = None if verbose else Progress(pipeline_steps(pipeline.pipeline_spec), sys.stdout)
        with (
            warm_tasks(settings.warm_tasks),
            progress or contextlib.nullcontext(),
            StepLogs(Path(tempfile.mkdtemp(prefix="shipyard-logs-")), progress) as logs,
            warnings.catch_warnings(),
        ):
            # Expected here, said once in the README: the tasks run in this environment rather
            # than the project image, and UI names and resource limits are for Kubeflow.
            for message in (".*non-Python base image", ".*have no effect in the current local"):
                warnings.filterwarnings("ignore", message=message)
            try:
                task = pipeline(**(arguments or {}))
            except RuntimeError as exc:
                step = failed_step(str(exc))
                run_dir = run_folder(root)
                logs.move_into(run_dir)
                failed = step_failed(step, run_dir)
                if progress and failed.log:  # to the terminal: stdout is still StepLogs here
                    progress.close()
                    print_tail(failed.log, progress.out)
                raise failed from exc
        wall = time.perf_counter() - start
        run_dir = run_folder(root)
        logs.move_into(run_dir)
    if run_dir is None:
        raise ShipyardError(f"the pipeline finished but left no run folder in {root}")
    outputs = dict(task.outputs) if hasattr(task, "outputs") else {"Output": task.output}
    steps = read_steps(run_dir)
    ran = {s.name for s in steps}
    skipped = [name for name in pipeline_steps(pipeline.pipeline_spec) if name not in ran]
    return RunSummary(run_dir, wall, steps, outputs, skipped)


def pipeline_steps(spec: Any) -> list[str]:
    """Every container step of a compiled pipeline (through conditions, loops and exit
    handlers), by the name its task folder carries, without ``-op``."""
    components = spec.components
    names: list[str] = []

    def walk(dag: Any) -> None:
        for task_name, task in dag.tasks.items():
            component = components[task.component_ref.name]
            if component.WhichOneof("implementation") == "dag":
                walk(component.dag)
            else:
                names.append(task_name.removesuffix("-op"))

    walk(spec.root.dag)
    return names


def step_failed(step: str, run_dir: Path | None) -> PipelineFailed:
    """The error for a failed step: what its process recorded (else its log's last line),
    its log and its report."""
    task_dir = run_dir / f"{step}-op" if run_dir else None
    failure = StepFailure.read(task_dir) if task_dir else None
    log = task_dir / LOG_FILE if task_dir and (task_dir / LOG_FILE).is_file() else None
    report = task_dir / "report" if task_dir and (task_dir / "report").is_file() else None
    last = ""
    if log and not failure:
        lines = [
            line.strip()
            for line in log.read_text(errors="replace").splitlines()
            if line.strip() and not _KFP_LINE.search(line)
        ]
        last = lines[-1] if lines else ""
    summary = run_dir / SUMMARY_MARKDOWN if run_dir else None
    return PipelineFailed(
        step,
        run_dir,
        report,
        log,
        failure,
        last,
        summary if summary and summary.is_file() else None,
    )


def print_tail(log: Path, out: TextIO, lines: int = 12) -> None:
    """The failed step's own last lines (not kfp.local's), where a quiet run shows them."""
    own, in_input = [], False
    for line in log.read_text(errors="replace").splitlines():
        if "Got executor_input:" in line:  # the executor's JSON input, to its closing brace
            in_input = True
        elif in_input:
            in_input = line.rstrip() != "    }"
        elif line.strip() and not _KFP_LINE.search(line) and not _EXECUTOR_INFO.search(line):
            own.append(line.rstrip())
    print(f"last lines of {log}:", *own[-lines:], sep="\n", file=out, flush=True)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_KFP_LINE = re.compile(r"^\d\d:\d\d:\d\d\.\d+ - \w+ - |^-{20,}$")  # kfp.local's own lines
_TASK_START = re.compile(r"Executing task '([\w-]+)'")
_EXECUTOR_INFO = re.compile(r"^\s*\[KFP Executor [^]]* INFO\]: ")
_TASK_END = re.compile(r"Task '([\w-]+)' finished with status (\w+)")
_PROGRESS = re.compile(re.escape(PROGRESS_MARKER) + r"([\w-]+) (\d+) (\d+)")


class StepLogs:
    """While a pipeline runs on kfp.local, copy what it prints (each task's streamed log,
    which kfp.local only prints) into one file per task, ``<task>/log.txt`` in the run's
    folder once it is known. Without ``progress`` the terminal still gets everything
    (``--verbose``); with it the terminal gets only the progress view, told when each task
    starts and ends."""

    def __init__(self, folder: Path, progress: Progress | None = None) -> None:
        self.folder, self.progress = folder, progress
        self._out: TextIO = sys.stdout  # the terminal's, again when entered
        self._file: TextIO | None = None
        self._pending = ""

    def __enter__(self) -> StepLogs:
        self._out = sys.stdout
        sys.stdout = self
        return self

    def __exit__(self, *exc: object) -> None:
        sys.stdout = self._out
        if self._pending:
            self._write_line(self._pending)
            self._pending = ""
        if self._file:
            self._file.close()
            self._file = None

    def write(self, text: str) -> int:
        if self.progress is None:
            self._out.write(text)
        lines = (self._pending + text).split("\n")
        self._pending = lines.pop()
        for line in lines:
            self._write_line(line + "\n")
        return len(text)

    def _write_line(self, line: str) -> None:
        plain = _ANSI.sub("", line)
        started = _TASK_START.search(plain)
        if started:
            if self._file:
                self._file.close()
            self._file = open(self.folder / f"{started.group(1)}.log", "a")  # noqa: SIM115
            if self.progress:
                self.progress.started(started.group(1).removesuffix("-op"))
        if self._file:
            self._file.write(plain)
            self._file.flush()
        advanced = _PROGRESS.search(plain)
        if advanced and self.progress:
            step, done, total = advanced.groups()
            self.progress.advanced(step, int(done), int(total))
        ended = _TASK_END.search(plain)
        if ended and self.progress:
            self.progress.finished(ended.group(1).removesuffix("-op"), ended.group(2) == "SUCCESS")

    def flush(self) -> None:
        self._out.flush()

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding, …: the terminal's
        return getattr(self._out, name)

    def move_into(self, run_dir: Path | None) -> None:
        """Each task's log into ``run_dir/<task>/log.txt``; the scratch folder goes."""
        for log in self.folder.glob("*.log"):
            if run_dir is not None and (run_dir / log.stem).is_dir():
                shutil.move(str(log), run_dir / log.stem / LOG_FILE)
        shutil.rmtree(self.folder, ignore_errors=True)


def failed_step(message: str) -> str:
    """The step named in kfp.local's failure message (its colour codes stripped)."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", message)
    match = re.search(r"(?:Inner task failed: |Task )'([\w-]+)'", plain)
    return match.group(1).removesuffix("-op") if match else "unknown"
