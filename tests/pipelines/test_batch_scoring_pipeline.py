"""The batch-scoring pipeline's IR YAML: strictly valid for Kubeflow, one score step in the
project image with typed outputs, parameters documented, credentials only from Kubernetes."""

import pytest
import yaml
from kfp import components

from batch_scoring_pipeline import compile_pipeline
from shipyard.settings import component_image
from support import check_pipeline_strictly
from training_pipeline import MLFLOW_SECRET, S3_SECRET


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    path = compile_pipeline(tmp_path_factory.mktemp("ir") / "batch_scoring_pipeline.yaml")
    return path, list(yaml.safe_load_all(path.read_text()))


def test_strict_parse_one_score_step(compiled):
    _, docs = compiled
    assert len(docs) == 2  # the spec, and kfp-kubernetes' platform document
    spec = check_pipeline_strictly(docs)
    assert set(spec.root.dag.tasks) == {"score-op"}
    assert spec.root.dag.tasks["score-op"].task_info.name == "score"
    assert (
        spec.root.output_definitions.artifacts["Output"].artifact_type.schema_title
        == "system.Dataset"
    )


def test_score_component_contract():
    from score_op import score_op

    container = score_op.component_spec.implementation.container
    assert container.image == component_image()
    assert "pip install" not in " ".join(container.command + (container.args or []))
    assert not [
        n
        for n, s in (score_op.component_spec.inputs or {}).items()
        if not s.type.startswith(("String", "Integer", "Boolean", "Float"))
    ]
    outputs = {k: v.type for k, v in score_op.component_spec.outputs.items()}
    assert outputs == {
        "predictions": "system.Dataset@0.0.1",
        "report": "system.Markdown@0.0.1",
        "metrics": "system.Metrics@0.0.1",
    }


def test_parameters_documented_with_defaults_but_source(compiled):
    path, docs = compiled
    inputs = components.load_component_from_file(str(path)).component_spec.inputs
    assert set(inputs) == {
        "source",
        "model_name",
        "alias",
        "version",
        "destination",
        "id_column",
        "contributions",
    }
    assert inputs["contributions"].default is False
    assert inputs["alias"].default == "champion" and inputs["source"].default is None
    params = docs[0]["root"]["inputDefinitions"]["parameters"]
    assert [name for name, p in params.items() if not p.get("description")] == []


def test_credentials_only_from_secrets_and_the_project_image(compiled):
    _, docs = compiled
    params = docs[0]["root"]["inputDefinitions"]["parameters"]
    assert not [
        p for p in params if any(w in p.lower() for w in ("secret", "password", "key", "token"))
    ]
    executors = docs[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert list(executors) == ["exec-score-op"]
    secrets = {
        s["secretName"]
        if "secretName" in s
        else s["secretNameParameter"]["runtimeValue"]["constant"]
        for s in executors["exec-score-op"]["secretAsEnv"]
    }
    assert secrets == {S3_SECRET, MLFLOW_SECRET}
    for executor in docs[0]["deploymentSpec"]["executors"].values():
        assert executor["container"]["image"] == component_image()
