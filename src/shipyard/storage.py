"""Object storage: ``s3://bucket/key`` on MinIO or any S3 endpoint, through the ``minio`` client.

Every request is bounded: the client's connection pool gets the ``SHIPYARD_S3_*`` connect
and read timeouts and retries (the minio client's own defaults are five retries with
five-minute timeouts, so an endpoint that accepts and stays silent hung a run for half an
hour). Connection failures, silence and refused credentials become
:class:`ServiceUnavailable` naming the endpoint, as does an endpoint that answers like a web
server rather than S3; a missing object becomes :class:`DataSourceError` naming the URI.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlparse

from shipyard.errors import ConfigError, DataSourceError, ServiceUnavailable
from shipyard.settings import Settings, get_settings

if TYPE_CHECKING:
    import urllib3
    from minio import Minio
    from minio.datatypes import Object

_CREDENTIAL_CODES = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
}
_MISSING_CODES = {"NoSuchKey", "NoSuchBucket", "NoSuchObject"}
_ENDPOINT_HINT = (
    "check SHIPYARD_S3_ENDPOINT: host:port of the S3 API (MinIO's API port, "
    "9000 by default, not its console)"
)


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split ``s3://bucket/key`` into bucket and key."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ConfigError(f"not an s3:// URI: {uri!r}", hint="use s3://bucket/path/to/object")
    return parsed.netloc, parsed.path.lstrip("/")


def http_client(settings: Settings | None = None) -> urllib3.PoolManager:
    """The bounded connection pool every S3 request goes through: connect and read timeouts,
    ``s3_retries`` retries (also on 500/502/503/504, without honouring a Retry-After that
    could sleep for hours), TLS verified against ``SSL_CERT_FILE`` or certifi's bundle."""
    import os

    import certifi
    import urllib3

    settings = settings or get_settings()
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(
            connect=settings.s3_connect_timeout_seconds, read=settings.s3_read_timeout_seconds
        ),
        retries=urllib3.Retry(
            total=settings.s3_retries,
            backoff_factor=0.2,
            status_forcelist=[500, 502, 503, 504],
            respect_retry_after_header=False,
        ),
        maxsize=10,
        cert_reqs="CERT_REQUIRED",
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
    )


def endpoint_url(settings: Settings | None = None) -> str:
    """``http(s)://host:port`` of the configured endpoint."""
    settings = settings or get_settings()
    return f"{'https' if settings.s3_secure else 'http'}://{_endpoint(settings)}"


def _endpoint(settings: Settings) -> str:
    if not settings.s3_endpoint:
        raise ConfigError(
            "s3:// URIs need an S3 endpoint",
            hint="set SHIPYARD_S3_ENDPOINT (host:port), SHIPYARD_S3_ACCESS_KEY "
            "and SHIPYARD_S3_SECRET_KEY",
        )
    return settings.s3_endpoint.removeprefix("http://").removeprefix("https://").rstrip("/")


def client(settings: Settings | None = None) -> Minio:
    """A ``minio.Minio`` client for the configured endpoint, on :func:`http_client`."""
    from minio import Minio

    settings = settings or get_settings()
    endpoint = _endpoint(settings)
    secret = settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else None
    return Minio(
        endpoint,
        access_key=settings.s3_access_key,
        secret_key=secret,
        secure=settings.s3_secure,
        region=settings.s3_region,
        http_client=http_client(settings),
    )


def check_endpoint(settings: Settings | None = None) -> None:
    """Ask the endpoint one bounded, signed question (ListBuckets) and raise
    :class:`ServiceUnavailable` unless it answers like S3 with credentials it accepts. An
    S3 answer refusing the listing itself (``AccessDenied``: credentials without that right)
    is fine here; a web server's page, silence, a closed port, or refused credentials are
    not, and are named."""
    from xml.etree.ElementTree import ParseError

    from minio.error import S3Error

    settings = settings or get_settings()
    with translated(endpoint_url(settings), settings):
        try:
            client(settings).list_buckets()
        except ParseError:  # a 200 that is not XML: look once more, to say what it was
            page = http_client(settings).request(
                "GET", endpoint_url(settings) + "/", redirect=False
            )
            raise not_s3(settings, page.status, page.headers.get("content-type")) from None
        except S3Error as exc:
            answered = exc.response is not None and looks_like_s3(
                exc.response.status, exc.response.headers
            )
            if exc.code != "AccessDenied" or not answered:
                raise


def looks_like_s3(status: int, headers: Mapping[str, str]) -> bool:
    """True for an answer an S3 implementation gives (AWS, MinIO, moto, Ceph, GCS's XML API):
    an XML body or an ``x-amz-*`` header."""
    kind = (headers.get("content-type") or "").lower()
    return "xml" in kind or any(name.lower().startswith("x-amz") for name in headers)


def not_s3(settings: Settings, status: int, content_type: str | None) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"S3 endpoint {_endpoint(settings)} answered like a web server, not S3 "
        f"(HTTP {status}, {content_type or 'no content type'})",
        hint=_ENDPOINT_HINT,
    )


def download(uri: str, dest: Path, settings: Settings | None = None) -> Path:
    """Download ``uri`` to the local file ``dest``."""
    bucket, key = parse_s3_uri(uri)
    with translated(uri, settings):
        client(settings).fget_object(bucket, key, str(dest))
    return dest


def upload(path: Path, uri: str, settings: Settings | None = None) -> str:
    """Upload the local file ``path`` to ``uri`` (the bucket must exist)."""
    bucket, key = parse_s3_uri(uri)
    with translated(uri, settings):
        client(settings).fput_object(bucket, key, str(path))
    return uri


def stat(uri: str, settings: Settings | None = None) -> Object:
    """The object's metadata (size, etag); :class:`DataSourceError` if it does not exist."""
    bucket, key = parse_s3_uri(uri)
    with translated(uri, settings):
        return client(settings).stat_object(bucket, key)


class translated:  # noqa: N801 (a context manager used like a function)
    """Turn minio/urllib3 exceptions into Shipyard errors that name the endpoint and URI."""

    def __init__(self, uri: str, settings: Settings | None) -> None:
        self.uri = uri
        self.settings = settings or get_settings()
        self.endpoint = self.settings.s3_endpoint

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        if exc is None:
            return False
        from xml.etree.ElementTree import ParseError

        from minio.error import InvalidResponseError, S3Error, ServerError
        from urllib3.exceptions import HTTPError

        if isinstance(exc, S3Error):
            headers = exc.response.headers if exc.response is not None else {}
            if headers and not looks_like_s3(exc.response.status, headers):
                raise not_s3(
                    self.settings, exc.response.status, headers.get("content-type")
                ) from exc
            if exc.code in _MISSING_CODES:
                raise DataSourceError(
                    f"{self.uri} does not exist ({exc.code})", hint="check the bucket and key"
                ) from exc
            if exc.code in _CREDENTIAL_CODES:
                raise ServiceUnavailable(
                    f"S3 endpoint {self.endpoint} refused the credentials ({exc.code})",
                    hint="check SHIPYARD_S3_ACCESS_KEY / SHIPYARD_S3_SECRET_KEY",
                ) from exc
            raise ServiceUnavailable(f"S3 error on {self.uri}: {exc.code}: {exc.message}") from exc
        if isinstance(exc, InvalidResponseError):  # an answer that is not S3's XML
            status, kind = _invalid_response(exc)
            raise not_s3(self.settings, status, kind) from exc
        if isinstance(exc, ParseError):  # a 200 whose body is not XML
            raise ServiceUnavailable(
                f"S3 endpoint {_endpoint(self.settings)} answered like a web server, not S3 "
                "(HTTP 200, a body that is not XML)",
                hint=_ENDPOINT_HINT,
            ) from exc
        if isinstance(exc, ServerError):  # 5xx after the retries
            raise ServiceUnavailable(
                f"S3 endpoint {self.endpoint} failed: {exc}", hint="is the S3 server healthy?"
            ) from exc
        if isinstance(exc, ValueError):  # minio validates bucket names and arguments
            raise ConfigError(f"invalid S3 location {self.uri}: {exc}") from exc
        if isinstance(exc, HTTPError | OSError) and not isinstance(exc, FileNotFoundError):
            message, hint = _unreachable(self.endpoint, exc, self.settings)
            raise ServiceUnavailable(message, hint=hint) from exc
        return False


def _invalid_response(exc: BaseException) -> tuple[int, str | None]:
    return getattr(exc, "_code", 0), getattr(exc, "_content_type", None)


def _unreachable(endpoint: str | None, exc: BaseException, settings: Settings) -> tuple[str, str]:
    """What went wrong reaching the endpoint, in words (refused, silent, unresolvable), and
    what to do."""
    from urllib3.exceptions import (
        ConnectTimeoutError,
        MaxRetryError,
        NameResolutionError,
        NewConnectionError,
        ReadTimeoutError,
    )

    reason = exc.reason if isinstance(exc, MaxRetryError) and exc.reason else exc
    tries = settings.s3_retries + 1
    attempts = f"{tries} attempt{'s' if tries > 1 else ''}"
    down = "is MinIO running? " + _ENDPOINT_HINT
    if isinstance(reason, ReadTimeoutError):
        return (
            f"S3 endpoint {endpoint} accepted the connection but did not answer within "
            f"{settings.s3_read_timeout_seconds:g} s ({attempts})",
            "is the S3 server hung or overloaded? SHIPYARD_S3_READ_TIMEOUT_SECONDS and "
            "SHIPYARD_S3_RETRIES bound the wait; " + _ENDPOINT_HINT,
        )
    if isinstance(reason, NameResolutionError):
        return f"cannot resolve the S3 endpoint {endpoint}", _ENDPOINT_HINT
    if isinstance(reason, NewConnectionError | ConnectionError):  # refused, unreachable
        text = str(reason)
        why = text[text.index("[Errno") :] if "[Errno" in text else text
        return f"cannot reach S3 endpoint {endpoint}: {why} ({attempts})", down
    if isinstance(reason, ConnectTimeoutError):
        return (
            f"S3 endpoint {endpoint} did not accept a connection within "
            f"{settings.s3_connect_timeout_seconds:g} s ({attempts})",
            down,
        )
    return f"cannot reach S3 endpoint {endpoint}: {reason}", down
