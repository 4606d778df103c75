"""The Vertex AI variant compiles offline and passes the same strict spec check as the
Kubeflow pipeline, with the same control flow (deploy under `deploy` and register's
`promoted`, every step inside an exit handler with the summary task); its canary is Vertex's
own traffic split."""

import pytest
import yaml

pytest.importorskip(
    "google_cloud_pipeline_components",
    reason="the `vertex` extra is not installed (make install-vertex)",
)

from shipyard.settings import component_image  # noqa: E402
from support import check_pipeline_strictly  # noqa: E402
from traffic_split_op import traffic_split_op  # noqa: E402
from vertex_pipeline import compile_pipeline  # noqa: E402


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    path = compile_pipeline(tmp_path_factory.mktemp("vertex") / "vertex_pipeline.yaml")
    return list(yaml.safe_load_all(path.read_text()))


def executor_of(docs, component):
    spec = docs[0]
    label = spec["components"][component]["executorLabel"]
    return spec["deploymentSpec"]["executors"][label]


def guarded(docs):
    return docs[0]["components"]["comp-exit-handler-1"]["dag"]["tasks"]


def test_strict_parse_and_the_vertex_steps(compiled):
    spec = check_pipeline_strictly(compiled)
    assert set(spec.root.dag.tasks) == {"exit-handler-1", "summary-op"}
    tasks = guarded(compiled)
    assert {"ingest-op", "validate-op", "train-op", "tune-op", "register-op"} <= set(tasks)
    images = {
        e["container"]["image"]
        for e in compiled[0]["deploymentSpec"]["executors"].values()
        if "container" in e
    }
    assert any("google-cloud-pipeline-components" in image for image in images)


def test_train_and_tune_run_as_vertex_custom_jobs(compiled):
    for component in ("comp-train-op", "comp-tune-op"):
        executor = executor_of(compiled, component)["container"]
        assert executor["command"][-1].endswith("custom_job.launcher")
        assert executor["args"][:2] == ["--type", "CustomJob"]
        inputs = compiled[0]["components"][component]["inputDefinitions"]["parameters"]
        pool = inputs["worker_pool_specs"]["defaultValue"][0]
        assert pool["machine_spec"]["machine_type"].startswith("n1-standard")
        assert pool["container_spec"]["image_uri"] == component_image()  # the project image
        env = {e["name"]: e["value"] for e in pool["container_spec"]["env"]}
        assert "SHIPYARD_MLFLOW_TRACKING_URI" in env


def test_same_control_flow_summary_and_caching_as_the_kubeflow_pipeline(compiled):
    spec = compiled[0]
    summary = spec["root"]["dag"]["tasks"]["summary-op"]
    assert summary["triggerPolicy"]["strategy"] == "ALL_UPSTREAM_TASKS_COMPLETED"
    assert summary["inputs"]["parameters"]["status"] == {
        "taskFinalStatus": {"producerTask": "exit-handler-1"}
    }
    tasks = guarded(compiled)
    cached = {
        name for name, task in tasks.items() if task.get("cachingOptions", {}).get("enableCache")
    }
    assert cached == {"train-op", "tune-op"}
    # the plain tasks reach the tracking server the custom jobs use
    for component in ("comp-register-op", "comp-validate-op", "comp-summary-op"):
        env = {e["name"] for e in executor_of(compiled, component)["container"].get("env", [])}
        assert "SHIPYARD_MLFLOW_TRACKING_URI" in env, component


def test_upload_endpoint_and_deploy_with_a_traffic_split(compiled):
    spec = compiled[0]
    components = spec["components"]
    # Nothing is deployed unless deploy is on and the register step's gate passed.
    requested = next(
        t for t in guarded(compiled).values() if "condition" in t.get("triggerPolicy", {})
    )
    assert (
        requested["triggerPolicy"]["condition"]
        == "inputs.parameter_values['pipelinechannel--deploy'] == true"
    )
    [promoted] = components[requested["componentRef"]["name"]]["dag"]["tasks"].values()
    assert (
        promoted["triggerPolicy"]["condition"]
        == "inputs.parameter_values['pipelinechannel--register-op-promoted'] == true"
    )
    inner = components[promoted["componentRef"]["name"]]["dag"]["tasks"]
    assert {"model-upload", "traffic-split-op", "importer"} <= set(inner)
    assert not inner["model-upload"].get("cachingOptions", {}).get("enableCache")
    branches = components[inner["condition-branches-4"]["componentRef"]["name"]]["dag"]["tasks"]
    conditions = [task["triggerPolicy"]["condition"] for task in branches.values()]
    assert any("endpoint'] == ''" in c for c in conditions)  # a new endpoint, all traffic
    assert any(c.startswith("!(") for c in conditions)  # else: a canary on the existing one
    deploys = [
        task
        for name, c in components.items()
        if name.startswith("comp-condition")
        for task_name, task in c.get("dag", {}).get("tasks", {}).items()
        if task_name.startswith("model-deploy")
    ]
    assert len(deploys) == 2
    for deploy in deploys:
        split = deploy["inputs"]["parameters"]["traffic_split"]
        assert split == {"componentInputParameter": "pipelinechannel--traffic-split-op-Output"}
        assert not deploy.get("cachingOptions", {}).get("enableCache")
    assert any("endpoint-create" in c.get("dag", {}).get("tasks", {}) for c in components.values())


@pytest.mark.parametrize(
    "stable, percent, expected",
    [
        ("", 10, {"0": "100"}),
        ("123", 10, {"0": "10", "123": "90"}),
        ("123", 100, {"0": "100", "123": "0"}),
    ],
)
def test_traffic_split_adds_up_to_100(stable, percent, expected):
    split = traffic_split_op.python_func(stable_deployed_model_id=stable, canary_percent=percent)
    assert split == expected and sum(int(v) for v in split.values()) == 100


def test_traffic_split_refuses_a_bad_percent():
    from shipyard.errors import ConfigError

    with pytest.raises(ConfigError, match="0-100"):
        traffic_split_op.python_func(stable_deployed_model_id="1", canary_percent=120)
