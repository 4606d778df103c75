"""Local server processes: a free loopback port, starting a server and waiting until it is
ready, and stopping a process group by its PID.

Servers (the predictor, test servers) start with ``start_new_session=True`` so that their
whole process group can be stopped by PID, never by name.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from shipyard.errors import ServiceUnavailable


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def listen_problem(host: str, port: int) -> str | None:
    """Why a server could not listen on ``host:port`` (None if it could), found by binding a
    test socket: with ``SO_REUSEADDR`` (a closed connection's TIME_WAIT is no obstacle, as for
    uvicorn) and without ``SO_REUSEPORT`` (which gRPC sets, and which would let a second
    server share the port silently)."""
    try:
        addresses = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        return f"cannot resolve {host!r}: {exc.strerror}"
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                return "already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
    return None


def check_ports(host: str, ports: dict[str, int | None]) -> None:
    """Raise ``ServiceUnavailable`` naming the first port (``{"HTTP": 8080, …}``) a server
    could not listen on; port 0 or None (any free port) is not checked."""
    for what, port in ports.items():
        problem = listen_problem(host, port) if port else None
        if problem:
            raise ServiceUnavailable(
                f"cannot listen on {host}:{port} ({what} port): {problem}",
                hint="stop the server using it or choose another port",
            )


def stop_process_group(process: subprocess.Popen, timeout: float = 20.0) -> None:
    """SIGTERM the process group led by ``process``; SIGKILL it if it lingers."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_for_http(
    url: str, timeout: float, process: subprocess.Popen | None = None, interval: float = 0.3
) -> bool:
    """Poll ``url`` until it answers 200 (True) or ``timeout`` passes (False). Raises
    ``ChildProcessError`` as soon as ``process``, the server behind the URL, has exited."""
    import time

    from shipyard.http import status

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ChildProcessError(f"exited with {process.returncode}")
        if status(url) == 200:
            return True
        time.sleep(interval)
    return False


def console_script(name: str) -> str:
    """The project's console script ``name`` installed beside this interpreter (the same
    environment), as the image runs it."""
    script = Path(sys.executable).parent / name
    if not script.is_file():
        raise ServiceUnavailable(
            f"{name} is not installed beside {sys.executable}",
            hint="install the project (make install)",
        )
    return str(script)


def start_server(
    command: list[str],
    log: Path,
    ready_url: str,
    what: str,
    timeout: float,
    env: dict[str, str] | None = None,
    append_log: bool = False,
) -> subprocess.Popen:
    """Start ``command`` in a session of its own (so :func:`stop_process_group` stops all of
    it), its output in ``log``, ``env`` added to its environment; return once ``ready_url``
    answers 200. A server that exits or is not ready in time is stopped and reported as
    ``ServiceUnavailable`` naming ``what`` and its log."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a" if append_log else "w") as handle:
        process = subprocess.Popen(
            command,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=child_environment(env),
        )
    try:
        if wait_for_http(ready_url, timeout, process):
            return process
    except ChildProcessError as exc:
        raise ServiceUnavailable(f"the {what} {exc}", hint=f"its log: {log}") from None
    stop_process_group(process)
    raise ServiceUnavailable(
        f"the {what} was not ready within {timeout:.0f} s", hint=f"its log: {log}"
    )


def child_environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment plus ``env``, without this process's own metrics folder
    (``shipyard.serving.workers.prepare``): a server started from here keeps its own."""
    from shipyard.serving.workers import METRICS_OWNER_ENV, MULTIPROC_ENV

    merged = {**os.environ, **(env or {})}
    if merged.get(METRICS_OWNER_ENV) == str(os.getpid()):
        merged.pop(METRICS_OWNER_ENV)
        merged.pop(MULTIPROC_ENV, None)
    return merged


PARENT_PID_ENV = "SHIPYARD_PARENT_PID"  # set by a parent whose child must not outlive it
PR_SET_PDEATHSIG = 1  # linux/prctl.h
PARENT_DEATH_SIGNAL = signal.SIGUSR2


def die_with_parent(
    parent: int | None = None, poll_seconds: float = 0.25, grace_seconds: float = 3.0
) -> int | None:
    """End this process when ``parent`` (default: ``$SHIPYARD_PARENT_PID``; nothing without
    it) ends, however it ends — ``kill -9`` included — so a local sidecar never outlives
    ``shipyard serve`` and keeps its port. Returns the parent's pid watched, or None.

    Two ways, either one enough: on Linux the kernel sends ``PARENT_DEATH_SIGNAL`` when the
    parent exits (``prctl(PR_SET_PDEATHSIG)``; also when the *thread* that started this
    process ends, so the handler acts only once ``getppid()`` is no longer the parent), and
    everywhere a watchdog thread compares ``getppid()`` with the parent every
    ``poll_seconds``. Either one SIGTERMs this process (the server's graceful stop) and, if
    it is still there ``grace_seconds`` later, SIGKILLs it."""
    import threading
    import time

    if parent is None:
        value = os.environ.get(PARENT_PID_ENV, "").strip()
        parent = int(value) if value.isdigit() else None
    if not parent:
        return None
    stopping = threading.Event()

    def stop() -> None:
        if stopping.is_set():
            return
        stopping.set()
        print(
            f"shipyard: the parent process (pid {parent}) is gone: stopping this "
            f"{Path(sys.argv[0]).name} (pid {os.getpid()})",
            file=sys.stderr,
            flush=True,
        )
        os.kill(os.getpid(), signal.SIGTERM)
        timer = threading.Timer(grace_seconds, os.kill, (os.getpid(), signal.SIGKILL))
        timer.daemon = True  # a graceful exit before it does not wait for it
        timer.start()

    def on_signal(signum: int, frame: object) -> None:
        if os.getppid() != parent:
            threading.Thread(target=stop, daemon=True).start()

    if sys.platform.startswith("linux"):
        import ctypes

        try:
            signal.signal(PARENT_DEATH_SIGNAL, on_signal)
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(PARENT_DEATH_SIGNAL), 0, 0, 0)
        except (OSError, AttributeError, ValueError):  # ValueError: not the main thread
            pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_seconds)
        stop()

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()
    return parent
