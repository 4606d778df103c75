"""Local server processes: a free loopback port, and stopping a process group by its PID.

Servers (the predictor, test servers) start with ``start_new_session=True`` so that their
whole process group can be stopped by PID, never by name.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def stop_process_group(process: subprocess.Popen, timeout: float = 20.0) -> None:
    """SIGTERM the process group led by ``process``; SIGKILL it if it lingers."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_for_http(url: str, timeout: float, process: subprocess.Popen | None = None,
                  interval: float = 0.3) -> bool:
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
