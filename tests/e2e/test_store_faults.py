"""A corrupt or locked local SQLite MLflow store, through the real command line: preflight
ends `shipyard run` in one line naming the file, exit 3, within 5 s, before any step."""

import os
import sqlite3

import pytest

from support import one_line, shipyard_run

pytestmark = pytest.mark.e2e


def test_a_corrupt_store_is_one_line_and_exit_3(pipeline_file, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "mlflow.db").write_bytes(os.urandom(20000))
    code, out, err, took = shipyard_run(pipeline_file, home)
    print(f"corrupt store: exit {code} after {took:.2f} s: {err.strip()}")
    assert code == 3
    assert one_line(err).startswith(
        f"shipyard: error: the MLflow store {home / 'mlflow.db'} is corrupt or not a "
        "SQLite database (file is not a database) (move it aside"
    )
    assert "Executing task" not in out
    assert took < 5


def test_a_locked_store_is_one_line_and_exit_3(pipeline_file, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    holder = sqlite3.connect(home / "mlflow.db", isolation_level=None)
    try:
        holder.execute("CREATE TABLE t (x)")
        holder.execute("BEGIN EXCLUSIVE")  # another process holding it, as a stuck run would
        code, out, err, took = shipyard_run(pipeline_file, home)
    finally:
        holder.close()
    print(f"locked store: exit {code} after {took:.2f} s: {err.strip()}")
    assert code == 3
    assert one_line(err).startswith(
        f"shipyard: error: the MLflow store {home / 'mlflow.db'} is locked by another process"
    )
    assert "Executing task" not in out
    assert took < 5
