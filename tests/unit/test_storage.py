import re
import time

import pytest

from shipyard import storage
from shipyard.errors import ConfigError, DataSourceError, ServiceUnavailable
from shipyard.settings import Settings
from support import free_port, silent_endpoint, web_server


def test_upload_and_download(s3_settings, tmp_path):
    storage.client(s3_settings).make_bucket("files")
    source = tmp_path / "a.bin"
    source.write_bytes(b"\x00\x01" * 1000)
    storage.upload(source, "s3://files/x/a.bin", s3_settings)
    target = storage.download("s3://files/x/a.bin", tmp_path / "b.bin", s3_settings)
    assert target.read_bytes() == source.read_bytes()


def test_missing_object_names_the_uri(s3_settings, tmp_path):
    storage.client(s3_settings).make_bucket("empty-bucket")
    with pytest.raises(DataSourceError, match="s3://empty-bucket/none.csv does not exist"):
        storage.download("s3://empty-bucket/none.csv", tmp_path / "x", s3_settings)


def test_unreachable_endpoint_is_service_unavailable(tmp_path):
    settings = Settings(
        s3_endpoint=f"127.0.0.1:{free_port()}", s3_access_key="a", s3_secret_key="b"
    )
    with pytest.raises(ServiceUnavailable, match="cannot reach S3 endpoint 127.0.0.1"):
        storage.download("s3://bucket/k.csv", tmp_path / "k.csv", settings)


def test_no_endpoint_configured_says_which_setting():
    with pytest.raises(ConfigError, match="SHIPYARD_S3_ENDPOINT"):
        storage.client(Settings(s3_endpoint=None))


def test_invalid_bucket_name_is_a_config_error(s3_settings, tmp_path):
    with pytest.raises(ConfigError, match="invalid S3 location s3://b/k.csv"):
        storage.download("s3://b/k.csv", tmp_path / "k.csv", s3_settings)


@pytest.mark.parametrize("uri", ["s3:/nobucket", "http://x/y", "s3://"])
def test_bad_s3_uri(uri):
    with pytest.raises(ConfigError):
        storage.parse_s3_uri(uri)


def test_the_client_is_bounded_by_the_settings():
    settings = Settings(
        s3_endpoint="127.0.0.1:1",
        s3_connect_timeout_seconds=2,
        s3_read_timeout_seconds=3,
        s3_retries=0,
    )
    pool = storage.client(settings)._http
    timeout, retries = pool.connection_pool_kw["timeout"], pool.connection_pool_kw["retries"]
    assert (timeout.connect_timeout, timeout.read_timeout) == (2, 3)
    assert retries.total == 0 and not retries.respect_retry_after_header
    defaults = Settings()
    assert (
        defaults.s3_connect_timeout_seconds,
        defaults.s3_read_timeout_seconds,
        defaults.s3_retries,
    ) == (5.0, 10.0, 1)


def test_a_silent_endpoint_fails_within_the_bound(tmp_path):
    """Accepts connections, never answers: read timeout × (1 + retries), then one line."""
    with silent_endpoint() as endpoint:
        settings = Settings(
            s3_endpoint=endpoint,
            s3_access_key="a",
            s3_secret_key="b",
            s3_region="us-east-1",
            s3_read_timeout_seconds=0.5,
            s3_retries=1,
        )
        for attempt in (
            lambda: storage.check_endpoint(settings),
            lambda: storage.download("s3://bucket/k.csv", tmp_path / "k", settings),
        ):
            start = time.monotonic()
            with pytest.raises(ServiceUnavailable) as raised:
                attempt()
            took = time.monotonic() - start
            assert 1.0 <= took < 2.5, took
            assert str(raised.value).startswith(
                f"S3 endpoint {endpoint} accepted the connection but did not answer within "
                "0.5 s (2 attempts)"
            )
            assert "SHIPYARD_S3_READ_TIMEOUT_SECONDS" in str(raised.value)


def test_a_web_server_is_not_taken_for_s3(tmp_path):
    (tmp_path / "bucket").mkdir()
    (tmp_path / "bucket" / "k.csv").write_text("a,b\n1,2\n")
    with web_server(tmp_path) as endpoint:
        settings = Settings(
            s3_endpoint=endpoint, s3_access_key="a", s3_secret_key="b", s3_region="us-east-1"
        )
        said = re.escape(f"S3 endpoint {endpoint} answered like a web server, not S3 (HTTP ")
        with pytest.raises(ServiceUnavailable, match=said + "200, text/html"):
            storage.check_endpoint(settings)
        # inside a step (no preflight there): its 404 page is not "no such key"
        with pytest.raises(ServiceUnavailable, match=said + "404"):
            storage.download("s3://bucket/missing.csv", tmp_path / "x", settings)
        with pytest.raises(ServiceUnavailable, match=said + "404"):
            storage.stat("s3://bucket/missing.csv", settings)


def test_an_s3_server_answers_like_one(s3_settings):
    storage.check_endpoint(s3_settings)  # moto: XML and x-amz headers


def test_a_closed_port_says_refused(tmp_path):
    settings = Settings(
        s3_endpoint=f"127.0.0.1:{free_port()}", s3_access_key="a", s3_secret_key="b"
    )
    with pytest.raises(ServiceUnavailable, match="Connection refused .2 attempts.*MinIO"):
        storage.check_endpoint(settings)
