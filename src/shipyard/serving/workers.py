"""The predictor on every core it is given: worker processes forked after the model loaded,
sharing one listening socket, so no request waits behind another's model call.

One Python process answers one request at a time (the JSON decoding and the response hold the
GIL; only the booster call releases it: a thread pool measured no faster here), so a predictor
on two cores runs two processes. They are forked from the loaded server — no second cold
start, the model's memory shared copy-on-write — and each runs its own uvicorn on the socket
the first one bound; the kernel hands each connection to one of them. The first process also
serves gRPC and the others stop with it (``die_with_parent``). Their Prometheus metrics are
one set: ``PROMETHEUS_MULTIPROC_DIR`` (a fresh folder per server) is set by :func:`prepare`
before ``prometheus_client`` is imported, and ``/metrics`` sums every process's
(``rest.shared_metrics``).

kserve's own ``workers`` spawns fresh interpreters that unpickle the model and serve kserve's
unhardened handlers; this keeps Shipyard's REST server and loads once.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable
from typing import Any

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
METRICS_OWNER_ENV = "SHIPYARD_METRICS_OWNER"  # the pid whose workers share that folder


def usable_cpus() -> int:
    """The CPUs this process may run on: its affinity, capped by a cgroup v2 CPU limit (a
    pod's ``limits.cpu``), at least 1."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        quota, period = open("/sys/fs/cgroup/cpu.max").read().split()
        if quota != "max":
            cpus = min(cpus or 1, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cpus or 1)


def count(configured: int | None) -> int:
    """Worker processes: ``SHIPYARD_SERVING_WORKERS`` where set, else :func:`usable_cpus`."""
    return configured if configured is not None else usable_cpus()


def prepare(workers: int) -> None:
    """Before ``prometheus_client`` is imported: with several workers, a fresh folder for the
    processes' shared metrics, removed when this process exits (one the environment names is
    used as it is; servers this one starts get their own: ``processes.child_environment``)."""
    import atexit
    import shutil
    import tempfile

    if workers > 1 and MULTIPROC_ENV not in os.environ:
        try:
            folder = tempfile.mkdtemp(prefix="shipyard-metrics-")
        except OSError:  # a read-only /tmp: one worker (``server.worker_count`` says why)
            return
        os.environ[MULTIPROC_ENV], os.environ[METRICS_OWNER_ENV] = folder, str(os.getpid())
        atexit.register(shutil.rmtree, folder, True)  # workers leave through os._exit


def shared_metrics() -> bool:
    """Whether this process's metrics are written for every worker to read."""
    if "prometheus_client" not in sys.modules:
        return MULTIPROC_ENV in os.environ
    from prometheus_client import values

    return values.ValueClass is not values.MutexValue


def listening_socket(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """The HTTP socket every worker accepts on (bound once, before the fork)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY on accepted sockets only then (with proto 0
    # every response waited ~40 ms for a delayed ACK)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


def fork(workers: int, serve: Callable[[], Any]) -> list[int]:
    """``workers`` child processes, each running ``serve()`` and ending with this one."""
    from shipyard.processes import die_with_parent

    parent, pids = os.getpid(), []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:  # the child: serve until stopped, never return into the parent's code
            code = 0
            try:
                die_with_parent(parent)
                serve()
            except BaseException:  # noqa: BLE001 (logged; the exit code says it failed)
                import traceback

                traceback.print_exc()
                code = 1
            finally:
                os._exit(code)
        pids.append(pid)
    return pids


def stop(pids: list[int], sig: int) -> None:
    """Pass the server's stop signal on to its workers (they stop gracefully on it)."""
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def predictor_main() -> None:
    """The ``shipyard-predictor`` entrypoint: the metrics folder prepared for the workers
    (before anything imports ``prometheus_client``), then ``server.main``."""
    from shipyard.settings import get_settings

    prepare(count(get_settings().serving_workers))
    from shipyard.serving.server import main

    main()
