"""Local server processes: a free loopback port, and stopping a process group by its PID.

Servers (the predictor, test servers) start with ``start_new_session=True`` so that their
whole process group can be stopped by PID, never by name.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess

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
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ChildProcessError(f"exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(interval)
    return False
