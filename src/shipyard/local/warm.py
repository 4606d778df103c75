"""Warm task processes for kfp.local: each task still runs in a fresh process of its own, but
one forked from a parent that has already imported pandas, scikit-learn, XGBoost, MLflow and
skops, instead of a new interpreter importing them again (3-10 s per task on a busy 2-core
machine; the plain process pays it once).

kfp.local starts every task as ``sh -ec '... python3 -m kfp.dsl.executor_main ...'``, with
``python3`` replaced by ``sys.executable`` (kfp 2.17). While a run lasts, :func:`warm_tasks`
makes a shim of its own that interpreter (``sys.executable``, and ``python3`` first on
``PATH``); every other use of it execs the real one, unchanged. For the
executor it hands its argv, environment, working directory and stdin/stdout/stderr (the file
descriptors themselves, over a Unix socket) to the warm parent, which forks; the child takes
them over and runs the executor as ``python -m`` would; the parent sends its exit status back,
and the shim exits with it. The parent listens at once and imports one module at a time,
forking between two imports: an early task gets what is loaded by then and imports the rest
itself, never waiting for the whole list. Anything else, or a parent that does not answer,
runs the real interpreter (``exec``), so a run never depends on the warm parent. Nothing is imported
before the fork that starts threads or opens files: a fork copies no lock held by a thread.

On Kubeflow every task is its own pod and pays its imports; this is for local runs only.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

EXECUTOR = "kfp.dsl.executor_main"
# What a task imports (each import is tried; one that fails is left to the task itself).
PRELOAD = (
    "kfp.dsl.executor_main",
    "pandas",
    "pyarrow.parquet",
    "sklearn.pipeline",
    "sklearn.compose",
    "sklearn.preprocessing",
    "sklearn.impute",
    "sklearn.ensemble",
    "sklearn.linear_model",
    "sklearn.model_selection",
    "sklearn.metrics",
    "xgboost",
    "skops.io",
    "mlflow",
    "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.store.model_registry.sqlalchemy_store",
    "mlflow.sklearn",
    "scipy.stats",
    "matplotlib.pyplot",
    "shipyard.steps.train",
    "shipyard.steps.tune",
    "shipyard.steps.register",
    "shipyard.steps.score",
)
_HEADER = struct.Struct("!Q")  # the length of the JSON request that follows
_SHIM = """\
#!{python} -S
import json, os, socket, struct, sys
args = sys.argv[1:]
if args[:2] == ["-m", "{executor}"]:
    try:
        conn = socket.socket(socket.AF_UNIX)
        conn.connect({address!r})
        request = {{"argv": args[1:], "env": dict(os.environ), "cwd": os.getcwd()}}
        body = json.dumps(request).encode()
        socket.send_fds(conn, [struct.pack("!Q", len(body))], [0, 1, 2])
        conn.sendall(body)
        status = conn.recv(4)
    except OSError:
        status = b""
    if len(status) == 4:
        sys.exit(struct.unpack("!i", status)[0])
os.execv({python!r}, [{python!r}, *args])
"""


def serve(address: str) -> None:
    """The warm parent: listen, then import what tasks need one module at a time, forking a
    child for each request as it comes (between two imports: a child gets what is loaded by
    then, so an early task never waits for the whole list); the body of ``python -m
    shipyard.local.warm ADDRESS``."""
    os.environ["_KFP_RUNTIME"] = "true"  # as the task's own `sh` sets it: the runtime's imports
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(address)
    listener.listen(16)
    waiting: dict[int, socket.socket] = {}  # child pid -> the shim to answer
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    for module in PRELOAD:
        with contextlib.suppress(Exception):
            __import__(module)
        _serve_pending(selector, listener, waiting, 0)
    while True:
        _serve_pending(selector, listener, waiting, 0.05)


def _serve_pending(
    selector: selectors.BaseSelector,
    listener: socket.socket,
    waiting: dict[int, socket.socket],
    timeout: float,
) -> None:
    """Fork a child for each waiting request; answer the shims of finished children."""
    for _ in selector.select(timeout=timeout):
        conn, _ = listener.accept()
        waiting[_fork_task(conn, listener)] = conn
    _answer_finished(waiting)


def _fork_task(conn: socket.socket, listener: socket.socket) -> int:
    """Read one request and fork its child; the child never returns from here."""
    header, fds, _, _ = socket.recv_fds(conn, _HEADER.size, 3)
    (length,) = _HEADER.unpack(header)
    body = b""
    while len(body) < length:
        body += conn.recv(length - len(body))
    request = json.loads(body)
    pid = os.fork()
    if pid:
        for fd in fds:
            os.close(fd)
        return pid
    listener.close()
    conn.close()
    _become_task(request, fds)
    raise AssertionError("unreachable")  # pragma: no cover


def _become_task(request: dict, fds: list[int]) -> None:
    """In the child: the shim's stdio, environment and directory, then the executor as
    ``python -m``; the exit status is the one the executor's process would have had."""
    import runpy

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    sys.argv = [EXECUTOR, *request["argv"][1:]]
    code = 0
    try:
        runpy.run_module(EXECUTOR, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # what the interpreter does with an unhandled error
        kind, value, tb = sys.exc_info()
        sys.last_type, sys.last_value, sys.last_traceback = kind, value, tb
        sys.excepthook(kind, value, tb)  # type: ignore[arg-type]
        code = 1
    _exit(code)


def _exit(code: int) -> None:
    """Leave as an interpreter would: atexit handlers (a step's own may end the process
    itself, ``shipyard.steps.timing``), flushed streams, then the status."""
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _answer_finished(waiting: dict[int, socket.socket]) -> None:
    """Send each finished child's exit status to its shim."""
    for pid in list(waiting):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            conn = waiting.pop(pid)
            with contextlib.suppress(OSError):
                conn.sendall(struct.pack("!i", os.waitstatus_to_exitcode(status)))
            conn.close()


@contextlib.contextmanager
def warm_tasks(enabled: bool = True) -> Iterator[Path | None]:
    """While the block runs, kfp.local's tasks start from a warm parent (see the module);
    yields the shim's folder (None when disabled). The parent is stopped by its PID."""
    if not enabled:
        yield None
        return
    folder = Path(tempfile.mkdtemp(prefix="shipyard-warm-"))
    address = str(folder / "socket")
    parent = subprocess.Popen(
        [sys.executable, "-m", "shipyard.local.warm", address],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    shim = folder / "python3"
    shim.write_text(_SHIM.format(python=sys.executable, executor=EXECUTOR, address=address))
    shim.chmod(0o755)
    path, executable = os.environ.get("PATH", ""), sys.executable
    os.environ["PATH"] = f"{folder}{os.pathsep}{path}"
    sys.executable = str(shim)
    try:
        yield folder
    finally:
        os.environ["PATH"], sys.executable = path, executable
        with contextlib.suppress(ProcessLookupError):
            os.killpg(parent.pid, signal.SIGTERM)
        parent.wait()
        for item in folder.iterdir():
            item.unlink()
        folder.rmdir()


if __name__ == "__main__":
    serve(sys.argv[1])
