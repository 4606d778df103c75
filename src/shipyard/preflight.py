"""Before a pipeline starts: are the services it needs there?

``shipyard run``, ``shipyard score`` and a local ``shipyard submit`` call
:func:`check_services` first, so an MLflow server or S3 endpoint that is down, silent, or not
what it should be ends the command in seconds with one line naming it and exit code 3 —
not a traceback from the middle of a step minutes later.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

from shipyard.errors import ServiceUnavailable
from shipyard.settings import Settings, get_settings

LOG_SOURCE = "inference-log:"


def s3_locations(uris: Iterable[str | None]) -> list[str]:
    """The ``s3://`` URIs among ``uris`` (an ``inference-log:s3://…`` source counts)."""
    found = []
    for uri in uris:
        uri = (uri or "").removeprefix(LOG_SOURCE)
        if uri.startswith("s3://"):
            found.append(uri.split("?", 1)[0])
    return found


def check_services(
    settings: Settings | None = None,
    *,
    reads: Iterable[str | None] = (),
    writes: Iterable[str | None] = (),
) -> None:
    """Check MLflow (an http(s) tracking URI answers ``/health``) and, when anything the run
    reads or writes or the MLflow artifact store is ``s3://``, the S3 endpoint (it answers,
    within the ``SHIPYARD_S3_*`` bounds, like S3), then that each ``s3://`` object in
    ``reads`` exists and the credentials may read it.

    A local ``sqlite:///`` store must be a readable SQLite database no other process holds
    locked (:func:`check_sqlite_store`).

    Raises ``ServiceUnavailable`` (exit 3) naming the server or store, ``DataSourceError`` (exit 1)
    naming a missing object, ``ConfigError`` (exit 2) for an ``s3://`` URI without an endpoint.
    """
    from shipyard import storage
    from shipyard.registry.tracking import check_reachable

    settings = settings or get_settings()
    check_reachable(settings.tracking_uri)
    check_sqlite_store(settings.tracking_uri)
    given = [uri for uri in reads if uri]
    objects = [
        uri
        for uri in s3_locations(r for r in given if not r.startswith(LOG_SOURCE))
        if not uri.endswith("/")
    ]
    used = s3_locations([*given, *writes])
    artifacts = s3_locations([settings.mlflow_artifacts_destination, settings.artifact_location])
    if not used and not (artifacts and settings.s3_endpoint):
        return  # an s3:// artifact store without SHIPYARD_S3_ENDPOINT is MLflow's business
    storage.check_endpoint(settings)
    for uri in objects:
        storage.stat(uri, settings)


def check_sqlite_store(uri: str, timeout: float = 2.0, check_seconds: float = 2.0) -> None:
    """For a ``sqlite:///`` tracking URI whose file exists: open it read-only, waiting at most
    ``timeout`` seconds for a lock, and run ``PRAGMA quick_check`` (cut off after
    ``check_seconds`` on a large store: then the schema read is the check); then make sure
    no other process holds its write lock (``BEGIN IMMEDIATE``, rolled back: nothing is
    written). MLflow itself would retry for many seconds and end in a ``DatabaseError`` and
    tracebacks; here it is ``ServiceUnavailable`` (exit 3) naming the file. A missing file
    is fine: MLflow creates it."""
    if not uri.startswith("sqlite:///"):
        return
    path = Path(uri.removeprefix("sqlite:///").split("?", 1)[0])
    if not path.is_file():
        return
    phase = "read"
    try:
        _check_readable(path, timeout, check_seconds)
        phase = "write"
        _check_writable(path, timeout)
    except sqlite3.DatabaseError as exc:  # OperationalError too
        raise _store_unusable(path, exc, phase, timeout) from None


def _check_readable(path: Path, timeout: float, check_seconds: float) -> None:
    """Open the store read-only, read its schema and run ``PRAGMA quick_check`` for at most
    ``check_seconds``; ``sqlite3.DatabaseError`` naming what is wrong."""
    with closing(
        sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=timeout)
    ) as reader:
        reader.execute("SELECT count(*) FROM sqlite_master").fetchone()
        deadline = time.monotonic() + check_seconds
        reader.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        try:
            found = [row[0] for row in reader.execute("PRAGMA quick_check(3)")]
        except sqlite3.OperationalError as exc:
            if "interrupted" not in str(exc):
                raise
            found = ["ok"]  # too large to check whole in time: the schema was read
        if found != ["ok"]:
            raise sqlite3.DatabaseError("; ".join(str(f) for f in found))


def _check_writable(path: Path, timeout: float) -> None:
    """Take the store's write lock and give it back at once (nothing is written)."""
    with closing(sqlite3.connect(str(path), timeout=timeout)) as writer:
        writer.isolation_level = None
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("ROLLBACK")


def _store_unusable(path: Path, exc: Exception, phase: str, timeout: float) -> ServiceUnavailable:
    """The ``ServiceUnavailable`` for a store that failed its ``phase`` check with ``exc``:
    locked, not writable, corrupt, or otherwise unusable, with the way out."""
    where = f"the MLflow store {path}"
    move = (
        "move it aside (MLflow starts a new one) or restore it from a backup, or set "
        "SHIPYARD_MLFLOW_TRACKING_URI to another store"
    )
    if not isinstance(exc, sqlite3.OperationalError):
        return ServiceUnavailable(f"{where} is corrupt or not a SQLite database ({exc})", hint=move)
    text = str(exc)
    if "locked" in text or "busy" in text:
        return ServiceUnavailable(
            f"{where} is locked by another process (no {phase} access within {timeout:g} s)",
            hint="stop the process holding it (fuser shows it) or wait until it ends",
        )
    if "readonly" in text or "unable to open" in text:
        return ServiceUnavailable(
            f"{where} cannot be opened for writing ({text})",
            hint="fix the file's permissions or set SHIPYARD_MLFLOW_TRACKING_URI",
        )
    return ServiceUnavailable(f"{where} is not usable: {text}", hint=move)
