"""Faults outside the server, through the real command line: each ends in one line naming
the thing and what to do, with the documented exit code, and fast. The servers are real and
on 127.0.0.1: a closed port, a socket that accepts and never answers, ``http.server``."""

from pathlib import Path

import pandas as pd
import pytest

from shipyard.local.pipeline import LOG_FILE, PipelineFailed, run_local
from shipyard.settings import get_settings
from support import free_port, one_line, shipyard_run, silent_endpoint, web_server

pytestmark = pytest.mark.e2e


def run_on_s3(pipeline_file, tmp_path, endpoint: str, **env: str):
    """`shipyard run` reading ``s3://data/t.csv`` from ``endpoint`` with test credentials."""
    return shipyard_run(
        pipeline_file,
        tmp_path / "home",
        "source=s3://data/t.csv",
        SHIPYARD_S3_ENDPOINT=endpoint,
        SHIPYARD_S3_ACCESS_KEY="a",
        SHIPYARD_S3_SECRET_KEY="b",
        **env,
    )


def test_a_closed_mlflow_port_stops_the_run_before_it_starts(pipeline_file, tmp_path):
    uri = f"http://127.0.0.1:{free_port()}"
    home = tmp_path / "home"
    code, out, err, took = shipyard_run(pipeline_file, home, SHIPYARD_MLFLOW_TRACKING_URI=uri)
    print(f"closed MLflow port: exit {code} after {took:.2f} s: {err.strip()}")
    assert code == 3
    assert one_line(err) == (
        f"shipyard: error: cannot reach the MLflow tracking server at "
        f"{uri}: connection refused (start it, or unset "
        "SHIPYARD_MLFLOW_TRACKING_URI to use the local SQLite store)"
    )
    assert "Executing task" not in out  # no step ran
    assert took < 10


def test_a_silent_s3_endpoint_fails_within_the_bound(pipeline_file, tmp_path):
    with silent_endpoint() as endpoint:
        code, out, err, took = run_on_s3(
            pipeline_file,
            tmp_path,
            endpoint,
            SHIPYARD_S3_READ_TIMEOUT_SECONDS="1",
            SHIPYARD_S3_RETRIES="1",
        )
    print(f"silent S3 endpoint: exit {code} after {took:.2f} s: {err.strip()}")
    assert code == 3
    assert one_line(err).startswith(
        f"shipyard: error: S3 endpoint {endpoint} accepted the "
        "connection but did not answer within 1 s (2 attempts)"
    )
    assert "Executing task" not in out
    assert took < 2 * 1 + 8  # two 1-s reads, plus starting the command


def test_a_web_server_is_not_an_s3_endpoint(pipeline_file, tmp_path):
    with web_server(tmp_path) as endpoint:
        code, _, err, took = run_on_s3(pipeline_file, tmp_path, endpoint)
    print(f"web server as S3: exit {code} after {took:.2f} s: {err.strip()}")
    assert code == 3
    assert one_line(err).startswith(
        f"shipyard: error: S3 endpoint {endpoint} answered like a "
        "web server, not S3 (HTTP 200, text/html"
    )
    assert "check SHIPYARD_S3_ENDPOINT" in err


def test_a_failing_step_ends_in_one_line_naming_it(pipeline_file, tmp_path):
    pd.DataFrame({"x": [1, 2], "y": [0, 1]}).to_csv(tmp_path / "t.csv", index=False)
    code, out, err, took = shipyard_run(
        pipeline_file, tmp_path / "home", f"source={tmp_path}/t.csv", "target=label"
    )
    print(f"failing step: exit {code} after {took:.2f} s: {err.strip().splitlines()[-1]}")
    assert code == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith("shipyard: error: step 'ingest' failed: ")
    assert "nothing after it ran (its log: " in last and "Traceback" not in out + err
    log = Path(last.rsplit("(its log: ", 1)[1].rstrip(")"))
    assert log.name == LOG_FILE and log.parent.name == "ingest-op"
    assert last.split(" failed: ")[1].split("; nothing")[0] in log.read_text()
    # the step's own log (streamed above) says it in one line, not a traceback
    assert "shipyard: error: target column 'label' is missing" in out
    # the exit task summed the failed run up all the same, and the command says where
    summary = Path(out.split("run summary (Markdown): ", 1)[1].split()[0])
    assert summary.read_text().startswith("# Pipeline failed: t (run ")  # named for its source file


def test_a_step_that_loses_mlflow_exits_with_the_service_code(pipeline_file, tmp_path, monkeypatch):
    """No preflight (run_local directly): the validate step's ServiceUnavailable reaches the
    caller with its exit code 3, its one line and its log."""
    monkeypatch.setenv("SHIPYARD_MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    try:
        with pytest.raises(PipelineFailed) as failed:
            run_local(pipeline_file, {"rows": 500})
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert failed.value.step == "validate" and failed.value.exit_code == 3
    assert "step 'validate' failed: cannot reach the MLflow tracking server" in str(failed.value)
    assert failed.value.log.is_file()
