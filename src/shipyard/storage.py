"""Object storage: ``s3://bucket/key`` on MinIO or any S3 endpoint, through the ``minio`` client.

Connection failures and refused credentials become :class:`ServiceUnavailable` naming the
endpoint; a missing object becomes :class:`DataSourceError` naming the URI.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from shipyard.errors import ConfigError, DataSourceError, ServiceUnavailable
from shipyard.settings import Settings, get_settings

_CREDENTIAL_CODES = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch",
                     "InvalidToken", "ExpiredToken"}
_MISSING_CODES = {"NoSuchKey", "NoSuchBucket", "NoSuchObject"}


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split ``s3://bucket/key`` into bucket and key."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ConfigError(f"not an s3:// URI: {uri!r}", hint="use s3://bucket/path/to/object")
    return parsed.netloc, parsed.path.lstrip("/")


def client(settings: Settings | None = None):
    """A ``minio.Minio`` client for the configured endpoint."""
    from minio import Minio

    settings = settings or get_settings()
    if not settings.s3_endpoint:
        raise ConfigError("s3:// URIs need an S3 endpoint",
                          hint="set SHIPYARD_S3_ENDPOINT (host:port), SHIPYARD_S3_ACCESS_KEY "
                               "and SHIPYARD_S3_SECRET_KEY")
    endpoint = settings.s3_endpoint.removeprefix("http://").removeprefix("https://")
    secret = settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else None
    return Minio(endpoint, access_key=settings.s3_access_key, secret_key=secret,
                 secure=settings.s3_secure, region=settings.s3_region)


def download(uri: str, dest: Path, settings: Settings | None = None) -> Path:
    """Download ``uri`` to the local file ``dest``."""
    bucket, key = parse_s3_uri(uri)
    with _translated(uri, settings):
        client(settings).fget_object(bucket, key, str(dest))
    return dest


def upload(path: Path, uri: str, settings: Settings | None = None) -> str:
    """Upload the local file ``path`` to ``uri`` (the bucket must exist)."""
    bucket, key = parse_s3_uri(uri)
    with _translated(uri, settings):
        client(settings).fput_object(bucket, key, str(path))
    return uri


class _translated:
    """Turn minio/urllib3 exceptions into Shipyard errors that name the endpoint and URI."""

    def __init__(self, uri: str, settings: Settings | None) -> None:
        self.uri = uri
        self.endpoint = (settings or get_settings()).s3_endpoint

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is None:
            return False
        from minio.error import S3Error
        from urllib3.exceptions import HTTPError

        if isinstance(exc, S3Error):
            if exc.code in _MISSING_CODES:
                raise DataSourceError(f"{self.uri} does not exist ({exc.code})",
                                      hint="check the bucket and key") from exc
            if exc.code in _CREDENTIAL_CODES:
                raise ServiceUnavailable(
                    f"S3 endpoint {self.endpoint} refused the credentials ({exc.code})",
                    hint="check SHIPYARD_S3_ACCESS_KEY / SHIPYARD_S3_SECRET_KEY") from exc
            raise ServiceUnavailable(f"S3 error on {self.uri}: {exc.code}: {exc.message}") from exc
        if isinstance(exc, ValueError):  # minio validates bucket names and arguments
            raise ConfigError(f"invalid S3 location {self.uri}: {exc}") from exc
        if isinstance(exc, HTTPError | OSError) and not isinstance(exc, FileNotFoundError):
            raise ServiceUnavailable(f"cannot reach S3 endpoint {self.endpoint}: {exc}",
                                     hint="is MinIO running? check SHIPYARD_S3_ENDPOINT") from exc
        return False
