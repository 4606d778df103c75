"""Before a pipeline starts: are the services it needs there?

``shipyard run``, ``shipyard score`` and a local ``shipyard submit`` call
:func:`check_services` first, so an MLflow server or S3 endpoint that is down, silent, or not
what it should be ends the command in seconds with one line naming it and exit code 3 —
not a traceback from the middle of a step minutes later.
"""

from __future__ import annotations

from collections.abc import Iterable

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

    Raises ``ServiceUnavailable`` (exit 3) naming the server, ``DataSourceError`` (exit 1)
    naming a missing object, ``ConfigError`` (exit 2) for an ``s3://`` URI without an endpoint.
    """
    from shipyard import storage
    from shipyard.tracking import check_reachable

    settings = settings or get_settings()
    check_reachable(settings.tracking_uri)
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
