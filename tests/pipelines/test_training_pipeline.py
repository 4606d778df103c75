"""The compiled IR YAML: strictly valid for Kubeflow, loadable again, parameters documented,
credentials only from Kubernetes objects."""

import pytest
import yaml
from kfp import components

from shipyard.settings import component_image
from support import check_pipeline_strictly
from training_pipeline import S3_SECRET, compile_pipeline


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    path = compile_pipeline(tmp_path_factory.mktemp("ir") / "training_pipeline.yaml")
    return path, list(yaml.safe_load_all(path.read_text()))


def test_strict_parse_of_spec_deployment_and_platform(compiled):
    _, docs = compiled
    assert len(docs) == 2  # the spec, and kfp-kubernetes' platform document
    spec = check_pipeline_strictly(docs)
    tasks = spec.root.dag.tasks
    assert set(tasks) == {"ingest-op", "validate-op", "train-op", "tune-op", "register-op",
                          "deploy-op"}
    assert list(tasks["register-op"].dependent_tasks) or tasks["register-op"].inputs.artifacts


def test_steps_run_in_order(compiled):
    _, docs = compiled
    tasks = docs[0]["root"]["dag"]["tasks"]

    def upstream(name):
        return set(tasks[name].get("dependentTasks", []))

    assert upstream("validate-op") == {"ingest-op"}
    assert {"validate-op", "ingest-op"} <= upstream("train-op")
    assert "train-op" in upstream("tune-op")
    assert "tune-op" in upstream("register-op")
    assert upstream("deploy-op") == {"register-op"}


def test_loads_back_as_a_component_with_documented_defaults(compiled):
    path, docs = compiled
    pipeline = components.load_component_from_file(str(path))
    inputs = pipeline.component_spec.inputs
    assert {"source", "target", "rows", "model_types", "margin", "model_name"} <= set(inputs)
    assert all(spec.default is not None for spec in inputs.values())
    params = docs[0]["root"]["inputDefinitions"]["parameters"]
    undocumented = [name for name, p in params.items() if not p.get("description")]
    assert undocumented == []


def test_no_credentials_in_parameters_only_from_secrets(compiled):
    _, docs = compiled
    params = docs[0]["root"]["inputDefinitions"]["parameters"]
    assert not [p for p in params if any(w in p.lower() for w in ("secret", "password", "key",
                                                                   "token"))]
    executors = docs[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert len(executors) == 6
    for config in executors.values():
        secrets = {s["secretName"] if "secretName" in s else s["secretNameParameter"]
                   ["runtimeValue"]["constant"] for s in config["secretAsEnv"]}
        assert S3_SECRET in secrets


def test_every_step_runs_the_project_image_without_pip(compiled):
    _, docs = compiled
    for executor in docs[0]["deploymentSpec"]["executors"].values():
        container = executor["container"]
        assert container["image"] == component_image()
        assert "pip install" not in " ".join(container["command"] + container.get("args", []))
