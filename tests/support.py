"""Helpers for tests: free ports, waiting for servers, stopping them by PID."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from shipyard.processes import free_port, stop_process_group

PROJECT = Path(__file__).resolve().parents[1]
__all__ = ["PROJECT", "free_port", "stop", "wait_for_port"]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before listening")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout} s")


def stop(process: subprocess.Popen) -> None:
    """Stop a server started with start_new_session=True: its whole process group, by PID."""
    stop_process_group(process, timeout=15)
