"""Helpers for tests: free ports, waiting for servers, stopping them by PID."""

from __future__ import annotations

import functools
import socket
import subprocess
import time
from pathlib import Path

from shipyard.processes import free_port, stop_process_group

PROJECT = Path(__file__).resolve().parents[1]
__all__ = ["PROJECT", "free_port", "messy_table", "stop", "wait_for_port"]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before listening")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout} s")


def stop(process: subprocess.Popen) -> None:
    """Stop a server started with start_new_session=True: its whole process group, by PID."""
    stop_process_group(process, timeout=15)


CRD_FILE = PROJECT.parent / "shared" / "crds" / "serving.kserve.io_inferenceservices.yaml"


def inference_service_validator():
    import pytest

    if not CRD_FILE.exists():
        pytest.skip(f"KServe's InferenceService CRD is not at {CRD_FILE}")
    return _crd_validator()


@functools.lru_cache(maxsize=1)
def _crd_validator():
    """A strict validator for InferenceService objects from KServe v0.20.0's CRD (a data file
    beside the project): ``additionalProperties: false`` wherever the schema lists properties
    and does not preserve unknown fields, so unknown fields fail as the API server prunes or
    refuses them. Skips the calling test where the file is absent."""
    import jsonschema
    import yaml

    crd = yaml.load(CRD_FILE.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    schema = next(v for v in crd["spec"]["versions"] if v["name"] == "v1beta1")
    schema = schema["schema"]["openAPIV3Schema"]

    def strict(node):
        if isinstance(node, dict):
            if ("properties" in node and not node.get("x-kubernetes-preserve-unknown-fields")
                    and "additionalProperties" not in node):
                node["additionalProperties"] = False
            for value in node.values():
                strict(value)
        elif isinstance(node, list):
            for value in node:
                strict(value)

    strict(schema)
    schema["properties"]["metadata"] = {"type": "object"}
    return jsonschema.Draft7Validator(schema)


def wait_for_http(url: str, process: subprocess.Popen, timeout: float = 120.0) -> None:
    """Until ``url`` answers 200; fails early if the server process exits."""
    from shipyard.processes import wait_for_http as poll

    if not poll(url, timeout, process, interval=0.5):
        raise TimeoutError(f"{url} did not answer within {timeout} s")


def check_pipeline_strictly(docs: list[dict]):
    """Kubeflow's own schema, no unknown field allowed: the spec, its deployment config and the
    kfp-kubernetes platform document if there is one. Returns the parsed PipelineSpec."""
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    spec = json_format.ParseDict(docs[0], pipeline_spec_pb2.PipelineSpec(),
                                 ignore_unknown_fields=False)
    json_format.ParseDict(docs[0]["deploymentSpec"], pipeline_spec_pb2.PipelineDeploymentConfig(),
                          ignore_unknown_fields=False)
    for platform in docs[1:]:
        json_format.ParseDict(platform, pipeline_spec_pb2.PlatformSpec(),
                              ignore_unknown_fields=False)
    return spec


def messy_table(seed: int, task: str, rows: int = 300):
    """Random columns of every awkward kind; the label depends on several of them."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "ints": rng.integers(-5, 50, rows),  # an integer column, served as FP64
        "floats": rng.normal(10, 3, rows).round(rng.integers(0, 4)),
        "mixed": rng.choice([1, 2.5, 3, 4.25], rows).astype(object),
        "flag": (rng.random(rows) < 0.4).astype(object),
        "color": rng.choice(["red", "green", "blue", "Red ", "ünï"], rows).astype(object),
    })
    for name, share in (("floats", 0.1), ("flag", 0.1), ("color", 0.15)):
        frame.loc[rng.random(rows) < share, name] = None
    signal = frame["ints"] / 10 + frame["floats"].fillna(10) / 3 + (frame["flag"] == True)  # noqa: E712
    if task == "regression":
        frame["label"] = signal + rng.normal(0, 0.3, rows)
    else:
        cut = np.quantile(signal, [0.5] if task == "binary" else [0.33, 0.66])
        names = ["no", "yes"] if task == "binary" else ["low", "mid", "high"]
        frame["label"] = np.array(names, dtype=object)[np.searchsorted(cut, signal)]
    return frame
