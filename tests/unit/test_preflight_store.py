"""Preflight's check of a local SQLite MLflow store: corrupt or locked is ServiceUnavailable
(exit 3) naming the file and what to do; a healthy or missing store passes."""

import sqlite3

import pytest

from shipyard.errors import ServiceUnavailable, exit_code
from shipyard.preflight import check_sqlite_store


def store(tmp_path):
    path = tmp_path / "mlflow.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE experiments (id INTEGER)")
    return path


def test_a_healthy_missing_or_remote_store_passes(tmp_path):
    check_sqlite_store(f"sqlite:///{store(tmp_path)}")
    check_sqlite_store(f"sqlite:///{tmp_path / 'absent' / 'mlflow.db'}")
    check_sqlite_store("http://127.0.0.1:1")  # not SQLite: check_reachable's business


def test_a_corrupt_store_names_the_file(tmp_path):
    path = tmp_path / "mlflow.db"
    path.write_bytes(b"not a database at all " * 1000)
    with pytest.raises(ServiceUnavailable) as raised:
        check_sqlite_store(f"sqlite:///{path}")
    assert exit_code(raised.value) == 3
    assert str(raised.value).startswith(
        f"the MLflow store {path} is corrupt or not a SQLite database (file is not a database)"
    )
    assert "move it aside" in str(raised.value)


def test_a_truncated_store_is_corrupt(tmp_path):
    path = store(tmp_path)
    with sqlite3.connect(path) as connection:
        connection.executemany("INSERT INTO experiments VALUES (?)", [(i,) for i in range(20000)])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ServiceUnavailable, match="is corrupt or not a SQLite database"):
        check_sqlite_store(f"sqlite:///{path}")


@pytest.mark.parametrize(("lock", "access"), [("EXCLUSIVE", "read"), ("IMMEDIATE", "write")])
def test_a_locked_store_names_the_file(tmp_path, lock, access):
    path = store(tmp_path)
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute(f"BEGIN {lock}")
        with pytest.raises(ServiceUnavailable) as raised:
            check_sqlite_store(f"sqlite:///{path}", timeout=0.05)
    finally:
        holder.close()
    assert exit_code(raised.value) == 3
    assert str(raised.value).startswith(
        f"the MLflow store {path} is locked by another process (no {access} access"
    )
    check_sqlite_store(f"sqlite:///{path}")  # released: fine again
