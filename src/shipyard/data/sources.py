"""Read and write tables (CSV or Parquet) from a local path, ``file://`` or ``s3://`` URI."""

from __future__ import annotations

import tempfile
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd

from shipyard import storage
from shipyard.errors import DataSourceError
from shipyard.settings import Settings

SUPPORTED_SCHEMES = ("", "file", "s3")
_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def table_format(uri: str) -> str:
    """``csv`` or ``parquet`` from the URI's extension."""
    suffix = Path(urlparse(uri).path).suffix.lower()
    if suffix not in _FORMATS:
        raise DataSourceError(
            f"cannot tell the format of {uri!r}", hint=f"use one of {', '.join(sorted(_FORMATS))}"
        )
    return _FORMATS[suffix]


def uri_scheme(uri: str) -> str:
    """``""``, ``file`` or ``s3``; any other scheme is a :class:`DataSourceError`."""
    scheme = urlparse(uri).scheme
    scheme = scheme if len(scheme) > 1 else ""  # "C:" is a drive, not a scheme
    if scheme not in SUPPORTED_SCHEMES:
        raise DataSourceError(
            f"unknown URI scheme {scheme!r} in {uri!r}",
            hint="use a local path, file:// or s3://bucket/key",
        )
    return scheme


def read_table(uri: str, settings: Settings | None = None) -> pd.DataFrame:
    """Read a CSV or Parquet table; an empty or unreadable file is a :class:`DataSourceError`."""
    parsed = urlparse(uri)
    scheme = uri_scheme(uri)
    fmt = table_format(uri)
    if scheme == "s3":
        with tempfile.TemporaryDirectory() as tmp:
            local = storage.download(uri, Path(tmp) / Path(parsed.path).name, settings)
            return _read_local(local, fmt, uri)
    return _read_local(Path(parsed.path if scheme == "file" else uri), fmt, uri)


def table_columns(uri: str) -> list[str] | None:
    """The column names of a local table, read without its rows (Parquet's schema, a CSV's
    header); None for ``s3://``, where that would mean downloading it."""
    scheme, fmt = uri_scheme(uri), table_format(uri)
    if scheme == "s3":
        return None
    path = Path(urlparse(uri).path if scheme == "file" else uri)
    if not path.is_file():
        raise DataSourceError(f"{uri} does not exist or is not a file")
    if path.stat().st_size == 0:
        raise DataSourceError(f"{uri} is empty (0 bytes)", hint="point at a file with data")
    try:
        if fmt == "csv":
            return [str(c) for c in pd.read_csv(path, nrows=0).columns]
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    except pd.errors.EmptyDataError as exc:
        raise DataSourceError(f"{uri} has no columns", hint="is it really a CSV?") from exc
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        raise DataSourceError(f"cannot read {uri} as {fmt}: {exc}") from exc


def _read_local(path: Path, fmt: str, uri: str) -> pd.DataFrame:
    if not path.is_file():
        raise DataSourceError(f"{uri} does not exist or is not a file")
    if path.stat().st_size == 0:
        raise DataSourceError(f"{uri} is empty (0 bytes)", hint="point at a file with data")
    try:
        frame = pd.read_csv(path) if fmt == "csv" else pd.read_parquet(path)
    except pd.errors.EmptyDataError as exc:
        raise DataSourceError(f"{uri} has no columns", hint="is it really a CSV?") from exc
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        raise DataSourceError(f"cannot read {uri} as {fmt}: {exc}") from exc
    if frame.empty:
        raise DataSourceError(f"{uri} has a header but no rows")
    return frame


def write_table(frame: pd.DataFrame, uri: str, settings: Settings | None = None) -> str:
    """Write ``frame`` as CSV or Parquet (by extension) to a local path or ``s3://`` URI."""
    scheme, fmt = uri_scheme(uri), table_format(uri)
    if scheme == "s3":
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / Path(urlparse(uri).path).name
            _write_local(frame, local, fmt)
            return storage.upload(local, uri, settings)
    path = Path(urlparse(uri).path if scheme == "file" else uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_local(frame, path, fmt)
    return str(path)


def _write_local(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    if fmt == "csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
