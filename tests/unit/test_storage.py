import pytest

from shipyard import storage
from shipyard.errors import ConfigError, DataSourceError, ServiceUnavailable
from shipyard.settings import Settings
from support import free_port


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
    settings = Settings(s3_endpoint=f"127.0.0.1:{free_port()}", s3_access_key="a",
                        s3_secret_key="b")
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
