"""The compiled IR YAML: strictly valid for Kubeflow, loadable again, parameters documented,
credentials only from Kubernetes objects; deploy under real conditions, every step inside an
exit handler whose summary task runs however the run ends, caching only where correct."""

import pytest
import yaml
from kfp import components

from shipyard.settings import component_image
from support import check_pipeline_strictly
from training_pipeline import NOTIFY_SECRET, S3_SECRET, compile_pipeline

STEPS = {
    "ingest-op",
    "validate-op",
    "train-op",
    "tune-op",
    "register-op",
    "deploy-op",
    "summary-op",
}


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    path = compile_pipeline(tmp_path_factory.mktemp("ir") / "training_pipeline.yaml")
    return path, list(yaml.safe_load_all(path.read_text()))


def all_tasks(spec: dict) -> dict[str, tuple[dict, list[dict]]]:
    """Every container task: name → (its task spec, the DAG tasks enclosing it, outermost
    first)."""
    found = {}

    def walk(tasks, enclosing):
        for name, task in tasks.items():
            component = spec["components"][task["componentRef"]["name"]]
            if "dag" in component:
                walk(component["dag"]["tasks"], [*enclosing, task])
            else:
                found[name] = (task, enclosing)

    walk(spec["root"]["dag"]["tasks"], [])
    return found


def test_strict_parse_of_spec_deployment_and_platform(compiled):
    _, docs = compiled
    assert len(docs) == 2  # the spec, and kfp-kubernetes' platform document
    spec = check_pipeline_strictly(docs)
    assert set(spec.root.dag.tasks) == {"exit-handler-1", "summary-op"}
    assert set(all_tasks(docs[0])) == STEPS


def test_steps_run_in_order(compiled):
    _, docs = compiled
    tasks = {name: task for name, (task, _) in all_tasks(docs[0]).items()}

    def upstream(name):
        return set(tasks[name].get("dependentTasks", []))

    assert upstream("validate-op") == {"ingest-op"}
    assert {"validate-op", "ingest-op"} <= upstream("train-op")
    assert "train-op" in upstream("tune-op")
    assert "tune-op" in upstream("register-op")
    # deploy's inputs come from register through its conditions' DAG parameters
    deploy_inputs = tasks["deploy-op"]["inputs"]["parameters"]
    assert deploy_inputs["model_uri"] == {
        "componentInputParameter": "pipelinechannel--register-op-model_uri"
    }


def test_deploy_runs_only_under_deploy_and_the_gates_promoted_output(compiled):
    _, docs = compiled
    deploy, enclosing = all_tasks(docs[0])["deploy-op"]
    conditions = [
        task["triggerPolicy"]["condition"]
        for task in enclosing
        if "condition" in task.get("triggerPolicy", {})
    ]
    assert conditions == [
        "inputs.parameter_values['pipelinechannel--deploy'] == true",
        "inputs.parameter_values['pipelinechannel--register-op-promoted'] == true",
    ]
    # the promoted channel really is the register task's output, passed into the conditions
    exit_dag = docs[0]["components"]["comp-exit-handler-1"]["dag"]["tasks"]
    outer = next(t for t in exit_dag.values() if "condition" in t.get("triggerPolicy", {}))
    assert outer["inputs"]["parameters"]["pipelinechannel--register-op-promoted"] == {
        "taskOutputParameter": {"producerTask": "register-op", "outputParameterKey": "promoted"}
    }
    assert [t["taskInfo"]["name"] for t in enclosing[1:]] == ["deploy-requested", "gate-passed"]
    assert set(deploy["inputs"]["parameters"]) >= {"model_uri", "canary_steps"}
    assert not {"version", "promoted", "deploy", "model_name"} & set(deploy["inputs"]["parameters"])


def test_every_step_inside_the_exit_handler_and_the_summary_runs_however_it_ends(compiled):
    _, docs = compiled
    root = docs[0]["root"]["dag"]["tasks"]
    summary = root["summary-op"]
    assert summary["triggerPolicy"]["strategy"] == "ALL_UPSTREAM_TASKS_COMPLETED"
    assert summary["dependentTasks"] == ["exit-handler-1"]
    params = summary["inputs"]["parameters"]
    assert params["status"] == {"taskFinalStatus": {"producerTask": "exit-handler-1"}}
    assert params["pipeline_run_id"]["runtimeValue"]["constant"] == "{{$.pipeline_job_uuid}}"
    assert params["model_name"] == {"componentInputParameter": "model_name"}
    assert params["deploy"] == {"componentInputParameter": "deploy"}
    inside = {
        name
        for name, (_, enclosing) in all_tasks(docs[0]).items()
        if enclosing and enclosing[0] is root["exit-handler-1"]
    }
    assert inside == STEPS - {"summary-op"}
    summary_outputs = docs[0]["components"]["comp-summary-op"]["outputDefinitions"]
    assert (
        summary_outputs["artifacts"]["summary"]["artifactType"]["schemaTitle"] == "system.Markdown"
    )
    # KFP allows no pipeline outputs from inside an ExitHandler: the model URI is register's
    assert "outputDefinitions" not in docs[0]["root"]


def test_only_train_and_tune_may_be_cached(compiled):
    _, docs = compiled
    cached = {
        name
        for name, (task, _) in all_tasks(docs[0]).items()
        if task.get("cachingOptions", {}).get("enableCache")
    }
    assert cached == {"train-op", "tune-op"}


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
    assert not [
        p for p in params if any(w in p.lower() for w in ("secret", "password", "key", "token"))
    ]
    executors = docs[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert len(executors) == 7
    notified = set()
    for label, config in executors.items():
        secrets = {
            s["secretName"]
            if "secretName" in s
            else s["secretNameParameter"]["runtimeValue"]["constant"]: s
            for s in config["secretAsEnv"]
        }
        assert S3_SECRET in secrets
        if NOTIFY_SECRET in secrets:
            assert secrets[NOTIFY_SECRET].get("optional") is True  # no webhook: still runs
            notified.add(label)
    assert notified == {"exec-register-op", "exec-deploy-op", "exec-summary-op"}


def test_every_step_runs_the_project_image_without_pip(compiled):
    _, docs = compiled
    for executor in docs[0]["deploymentSpec"]["executors"].values():
        container = executor["container"]
        assert container["image"] == component_image()
        assert "pip install" not in " ".join(container["command"] + container.get("args", []))
