import os
import sys
import time
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def pipeline_file(tmp_path_factory):
    """The compiled IR YAML; kfp.local runs exactly what the KFP UI would."""
    from training_pipeline import compile_pipeline

    # kfp.local starts each task with the first `python3` on PATH: make it this environment's.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return compile_pipeline(tmp_path_factory.mktemp("compiled") / "training_pipeline.yaml")


@pytest.fixture(scope="session")
def postgres_uri():
    """PostgreSQL from Debian on 127.0.0.1 as MLflow's backend store, where it is installed
    (as root, the server runs as the ``postgres`` user, which it insists on); else None."""
    import pwd
    import shutil
    import subprocess
    import tempfile

    from support import free_port, stop, wait_for_port

    initdb = shutil.which("initdb")
    as_user: list[str] = []
    if initdb and os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            initdb = None  # PostgreSQL refuses to run as root and there is no postgres user
        else:
            as_user = ["runuser", "-u", "postgres", "--"]
    if not initdb:
        yield None
        return
    folder = Path(tempfile.mkdtemp(prefix="shipyard-pg-"))
    if as_user:
        os.chown(folder, user.pw_uid, user.pw_gid)
    bindir = Path(os.path.realpath(initdb)).parent
    subprocess.run(
        [*as_user, initdb, "-D", str(folder / "data"), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
    )
    port = free_port()
    process = subprocess.Popen(
        [
            *as_user,
            str(bindir / "postgres"),
            "-D",
            str(folder / "data"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-k",
            str(folder),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_port(port, process)
        for _ in range(20):  # listening comes a moment before accepting logins
            created = subprocess.run(
                [
                    str(bindir / "createdb"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "-U",
                    "postgres",
                    "mlflow",
                ],
                capture_output=True,
            )
            if created.returncode == 0:
                break
            time.sleep(0.5)
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/mlflow"
    finally:
        stop(process)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def mlflow_server(s3_server, postgres_uri, tmp_path_factory):
    """A real MLflow tracking server on 127.0.0.1: PostgreSQL backend where available (else
    SQLite), artifacts proxied to the S3 server (moto) under s3://shipyard/mlflow."""
    import subprocess

    from shipyard.settings import Settings
    from shipyard.storage import client
    from support import free_port, stop, wait_for_http

    client(
        Settings(
            s3_endpoint=s3_server,
            s3_access_key="testing",
            s3_secret_key="testing",
            s3_region="us-east-1",
        )
    ).make_bucket("shipyard")
    folder = tmp_path_factory.mktemp("mlflow-server")
    backend = postgres_uri or f"sqlite:///{folder / 'mlflow.db'}"
    port = free_port()
    env = {
        **os.environ,
        "MLFLOW_S3_ENDPOINT_URL": f"http://{s3_server}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        # else it starts 7 job workers (~1.9 GB) that outlive SIGTERM
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    log = open(folder / "server.log", "w")
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            backend,
            "--artifacts-destination",
            "s3://shipyard/mlflow",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", process, timeout=180)
        yield {
            "uri": f"http://127.0.0.1:{port}",
            "backend": backend.split(":")[0],
            "artifacts": "s3://shipyard/mlflow",
            "s3": s3_server,
            "log": folder / "server.log",
        }
    finally:
        stop(process)
        log.close()
