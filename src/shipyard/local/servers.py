"""The predictor as a local process: start it on 127.0.0.1, wait until ready, ask it, stop it.

Used by ``shipyard run`` (which ends by serving the champion and answering a sample v2
request), ``shipyard serve --with-drift`` (predictor + drift detector) and the benchmarks.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from shipyard.data.schema import Schema
from shipyard.processes import console_script, free_port, start_server, stop_process_group

INGEST_TOKEN = "SHIPYARD_INGEST_TOKEN"


def ingest_token_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` with the token the predictor and its local drift sidecar share: the one in
    ``env``, in this process's environment or settings, else a new one, exported to this
    process's environment so that every predictor started from here (in this process or as a
    child) sends what the sidecar expects. Never written anywhere else."""
    env = dict(env or {})
    if env.get(INGEST_TOKEN):
        return env
    if not os.environ.get(INGEST_TOKEN):
        from shipyard.settings import get_settings

        configured = get_settings().ingest_token
        os.environ[INGEST_TOKEN] = (
            configured.get_secret_value() if configured else secrets.token_urlsafe(32)
        )
        get_settings.cache_clear()
    env[INGEST_TOKEN] = os.environ[INGEST_TOKEN]
    return env


# The servers' console scripts ([project.scripts]): one entrypoint each, here and in the image.
PREDICTOR, DRIFT = "shipyard-predictor", "shipyard-drift"


@dataclass
class LocalPredictor:
    process: subprocess.Popen
    base_url: str
    model_name: str
    log: Path

    def stop(self) -> None:
        """Stop the server's process group by PID."""
        stop_process_group(self.process)

    def infer(self, body: dict) -> dict:
        from shipyard.http import post_json

        answer: dict = post_json(
            f"{self.base_url}/v2/models/{self.model_name}/infer",
            body,
            timeout=30,
            what=f"the {self.model_name} predictor",
        )
        return answer


def start_predictor(
    source: str,
    model_name: str,
    log: Path,
    host: str = "127.0.0.1",
    http_port: int | None = None,
    grpc_port: int | None = None,
    timeout: float = 120.0,
    logger_url: str | None = None,
    role: str | None = None,
    model_version: str | None = None,
    env: dict[str, str] | None = None,
) -> LocalPredictor:
    """Start the predictor (``shipyard-predictor``, the image's entrypoint too) and wait
    until ready; ``env`` adds settings (``SHIPYARD_*``) for that process only."""
    return _start(
        PREDICTOR,
        "predictor",
        model_name,
        log,
        host,
        http_port,
        grpc_port,
        timeout,
        [
            "--model_source",
            source,
            *(["--logger_url", logger_url] if logger_url else []),
            *(["--role", role] if role else []),
            *(["--model_version", model_version] if model_version else []),
        ],
        env=ingest_token_env(env) if logger_url else env,
    )


def start_detector(
    source: str,
    model_name: str,
    log: Path,
    host: str = "127.0.0.1",
    http_port: int | None = None,
    timeout: float = 120.0,
    window_size: int = 500,
    nice: int = 10,
    append_log: bool = False,
    env: dict[str, str] | None = None,
) -> LocalPredictor:
    """Start the drift detector (``shipyard-drift``, the image's entrypoint too) and wait
    until ready; it takes rows only with the ingest token (:func:`ingest_token_env`), and
    labels only with ``SHIPYARD_LABEL_TOKEN`` when one is set. It runs ``nice``: on one machine the
    predictor's requests come before scoring windows. ``append_log`` keeps what a previous
    run wrote to ``log`` (a restart after a crash)."""
    return _start(
        DRIFT,
        "drift detector",
        model_name,
        log,
        host,
        http_port,
        None,
        timeout,
        ["--detector_source", source, "--window_size", str(window_size), "--nice", str(nice)],
        append_log,
        ingest_token_env(env),
    )


def _start(
    entry: str,
    what: str,
    model_name: str,
    log: Path,
    host: str,
    http_port: int | None,
    grpc_port: int | None,
    timeout: float,
    extra: list[str],
    append_log: bool = False,
    env: dict[str, str] | None = None,
) -> LocalPredictor:
    http_port, grpc_port = http_port or free_port(host), grpc_port or free_port(host)
    base_url = f"http://{host}:{http_port}"
    command = [
        console_script(entry),
        "--model_name",
        model_name,
        "--host",
        host,
        "--http_port",
        str(http_port),
        "--grpc_port",
        str(grpc_port),
        *extra,
    ]
    ready = f"{base_url}/v2/models/{model_name}/ready"
    process = start_server(command, log, ready, what, timeout, env, append_log)
    return LocalPredictor(process, base_url, model_name, log)


def v2_request(frame: pd.DataFrame, schema: Schema, request_id: str = "sample") -> dict:
    """A v2 JSON request with one input per feature, from rows of ``frame``."""
    from shipyard.serving.v2_inputs import request_body

    return request_body(frame, schema, request_id)


def serve_sample(run_dir: Path, model_name: str) -> dict:
    """Serve the champion on 127.0.0.1, answer one v2 request from the run's test rows, stop."""
    import pandas as pd

    from shipyard.data.schema import Schema
    from shipyard.model.ref import ModelRef
    from shipyard.settings import get_settings

    source = ModelRef.champion(model_name).uri
    rows = pd.read_parquet(run_dir / "ingest-op" / "test_data").head(3)
    schema = Schema.load(run_dir / "validate-op" / "schema")
    predictor = start_predictor(source, model_name, get_settings().home / "predictor.log")
    try:
        answer = predictor.infer(v2_request(rows, schema))
    finally:
        predictor.stop()
    outputs = {o["name"]: o for o in answer["outputs"]}
    proba = outputs.get("predict_proba")
    shown = ""
    if proba is not None:  # the probability of the predicted class, per row
        k = proba["shape"][1]
        shown = ", P(predicted)=" + str(
            [round(max(proba["data"][i * k : (i + 1) * k]), 4) for i in range(len(rows))]
        )
    print(
        f"served {source} (v{answer.get('model_version')}) at {predictor.base_url}; "
        f"a v2 request of {len(rows)} rows answered: predict={outputs['predict']['data']}"
        f"{shown}; server stopped"
    )
    return answer
