"""The Vertex AI variant: the same ingest → validate → train → tune → register steps (the
graph shared with the Kubeflow pipeline, ``training_steps``), with
training and tuning as Vertex custom jobs, then — under the same conditions as the Kubeflow
pipeline, ``deploy`` and the register step's ``promoted`` output — the registered winner
uploaded to Vertex's Model Registry and deployed to an endpoint with a traffic split (Vertex's
canary). The same exit handler runs the summary step however the run ends, and caching is on
only for train and tune.

Needs the ``vertex`` extra (google-cloud-pipeline-components). Compiles offline:

    python pipelines/vertex_pipeline.py [OUTPUT.yaml]

On GCP it needs a project with the Vertex AI API, a ``gs://`` pipeline root, the project and
predictor images in Artifact Registry, a service account with Vertex AI User and Storage
Object Admin on the root's bucket, and an MLflow server the jobs reach
(``SHIPYARD_MLFLOW_TRACKING_URI`` in ``env``); see the README.
"""

import sys
from pathlib import Path

from google_cloud_pipeline_components.types.artifact_types import (
    UnmanagedContainerModel,
    VertexEndpoint,
)
from google_cloud_pipeline_components.v1.custom_job import (
    create_custom_training_job_from_component,
)
from google_cloud_pipeline_components.v1.endpoint import EndpointCreateOp, ModelDeployOp
from google_cloud_pipeline_components.v1.model import ModelUploadOp
from kfp import dsl

from shipyard.kubeflow.pipeline_files import write_ir
from summary_op import summary_op
from traffic_split_op import traffic_split_op
from train_op import train_op
from training_steps import add_training_steps
from tune_op import tune_op

DEFAULT_OUTPUT = Path("build/vertex_pipeline.yaml")
PREDICTOR_IMAGE = "shipyard:0.1.0"
# Settings the Vertex jobs get as environment (no Kubernetes Secrets there): point them at
# the tracking server; credentials come from the job's service account or Secret Manager.
JOB_ENV = [{"name": "SHIPYARD_MLFLOW_TRACKING_URI", "value": "http://mlflow.shipyard:5000"}]

train_job = create_custom_training_job_from_component(
    train_op, display_name="shipyard-train", machine_type="n1-standard-4", env=JOB_ENV
)
tune_job = create_custom_training_job_from_component(
    tune_op, display_name="shipyard-tune", machine_type="n1-standard-8", env=JOB_ENV
)


def _with_job_env(task: dsl.PipelineTask) -> dsl.PipelineTask:
    """The steps that run as plain tasks reach the same tracking server as the jobs."""
    for variable in JOB_ENV:
        task.set_env_variable(variable["name"], variable["value"])
    return task


def _deploy_to_vertex(
    register,
    project,
    location,
    model_name,
    predictor_image,
    endpoint,
    stable_deployed_model_id,
    canary_percent,
    serving_machine_type,
) -> list[dsl.PipelineTask]:
    """Upload the registered version as a Vertex model and deploy it: to a new endpoint, or
    as a canary onto ``endpoint``. Returns the tasks that change things on GCP."""
    # The predictor loads the registered version itself (checksum-verified), so the
    # Vertex model is the serving container plus the version to serve.
    container = dsl.importer(
        artifact_uri=register.outputs["model_uri"],
        artifact_class=UnmanagedContainerModel,
        metadata={
            "containerSpec": {
                "imageUri": predictor_image,
                "command": ["shipyard-predictor"],
                "args": ["--model_name", "fraud", "--model_source", register.outputs["model_uri"]],
                "env": JOB_ENV,
                "ports": [{"containerPort": 8080}],
                "predictRoute": "/v2/models/fraud/infer",
                "healthRoute": "/v2/models/fraud/ready",
            }
        },
    )
    upload = ModelUploadOp(
        project=project,
        location=location,
        display_name=model_name,
        unmanaged_container_model=container.output,
    )
    split = traffic_split_op(
        stable_deployed_model_id=stable_deployed_model_id, canary_percent=canary_percent
    )
    with dsl.If(endpoint == "", name="new-endpoint"):
        created = EndpointCreateOp(project=project, location=location, display_name=model_name)
        first = ModelDeployOp(
            model=upload.outputs["model"],
            endpoint=created.outputs["endpoint"],
            traffic_split=split.output,
            dedicated_resources_machine_type=serving_machine_type,
            dedicated_resources_min_replica_count=1,
            dedicated_resources_max_replica_count=2,
        )
    with dsl.Else(name="canary"):
        existing = dsl.importer(
            artifact_uri=endpoint,
            artifact_class=VertexEndpoint,
            metadata={"resourceName": endpoint},
        )
        canary = ModelDeployOp(
            model=upload.outputs["model"],
            endpoint=existing.output,
            traffic_split=split.output,
            dedicated_resources_machine_type=serving_machine_type,
            dedicated_resources_min_replica_count=1,
            dedicated_resources_max_replica_count=2,
        )
    return [upload, created, first, canary]


@dsl.pipeline(
    name="shipyard-vertex-training",
    description="Train and register on Vertex AI custom jobs; deploy the winner to "
    "a Vertex endpoint with a canary traffic split.",
)
def vertex_training_pipeline(
    project: str,
    location: str = "us-central1",
    source: str = "",
    target: str = "is_fraud",
    task: str = "auto",
    positive_class: str = "",
    ignore_columns: str = "",
    rows: int = 20000,
    seed: int = 42,
    model_types: str = "auto",
    tune_metric: str = "auto",
    n_candidates: int = 0,
    floors: str = "",
    margin: float = 0.002,
    model_name: str = "shipyard-fraud",
    predictor_image: str = PREDICTOR_IMAGE,
    endpoint: str = "",
    stable_deployed_model_id: str = "",
    canary_percent: int = 10,
    serving_machine_type: str = "n1-standard-2",
    deploy: bool = True,
):
    """The register step's `model_uri` output names the registered version; the summary
    step's Markdown tells how the run ended.

    Args:
        project: GCP project of the custom jobs, model and endpoint.
        location: Vertex AI region.
        source: CSV or Parquet to train on; empty generates synthetic card transactions.
        target: Name of the label column (integers, text or bools; numbers for regression).
        task: "auto" (decided from the label, the reason in the validate report), "binary",
            "multiclass" or "regression".
        positive_class: Binary only: the label value that is the positive class (default: the
            minority class).
        ignore_columns: Comma-separated columns that are not features (IDs, free text).
        rows: Rows of synthetic data (used only when source is empty).
        seed: Random seed for data, splits, search and models.
        model_types: Comma-separated families the tune step searches (hist_gradient_boosting,
            xgboost, random_forest, linear: logistic regression or ridge by task); "auto":
            sized to the table (up to 1,000 rows hist_gradient_boosting,linear; above,
            hist_gradient_boosting,xgboost,linear).
        tune_metric: Metric the tune step optimises and the margin applies to; "auto":
            roc_auc (binary), f1_macro (multiclass), rmse (regression).
        n_candidates: Random candidates per family for successive halving; 0 sizes it to
            rows x features (4 up to 1,000 rows, then 8, falling to 4 for large tables).
        floors: Optional fixed holdout floors, your business threshold, e.g.
            "roc_auc>=0.75,pr_auc>=0.05" or "rmse<=40"; empty (default): none. Without a
            champion, a model is promoted when it beats a trivial baseline (class prior,
            train mean) on the primary metric with 95 % confidence (paired bootstrap).
        margin: By how much a challenger must beat the champion on the primary metric.
        model_name: MLflow registered model name (also the Vertex model's display name).
        predictor_image: Shipyard's predictor image (KServe v2 routes on port 8080).
        endpoint: Existing endpoint resource name (projects/P/locations/L/endpoints/ID) to
            canary onto; empty creates a new endpoint with all traffic on this model.
        stable_deployed_model_id: The endpoint's current DeployedModel id, which keeps
            100 - canary_percent of the traffic.
        canary_percent: Share of the endpoint's traffic for the new model.
        serving_machine_type: Machine type of the deployed model's replicas.
        deploy: Upload and deploy a winner to the endpoint; off, the register step moves
            `champion` itself.
    """
    run_id = dsl.PIPELINE_JOB_ID_PLACEHOLDER
    summary = summary_op(pipeline_run_id=run_id, model_name=model_name, deploy=deploy)
    with dsl.ExitHandler(summary, name="training"):
        job = {"project": project, "location": location}
        steps = add_training_steps(
            source=source,
            target=target,
            task=task,
            positive_class=positive_class,
            ignore_columns=ignore_columns,
            rows=rows,
            seed=seed,
            model_types=model_types,
            tune_metric=tune_metric,
            n_candidates=n_candidates,
            floors=floors,
            margin=margin,
            model_name=model_name,
            deploy=deploy,
            run_id=run_id,
            train_component=train_job,
            tune_component=tune_job,
            train_args=job,
            tune_args=job,
        )
        register = steps.register
        with dsl.If(deploy == True, name="deploy-requested"):  # noqa: E712
            with dsl.If(register.outputs["promoted"] == True, name="gate-passed"):  # noqa: E712
                deployed = _deploy_to_vertex(
                    register,
                    project,
                    location,
                    model_name,
                    predictor_image,
                    endpoint,
                    stable_deployed_model_id,
                    canary_percent,
                    serving_machine_type,
                )
    for task, name in (*steps.named(), (summary, "summary")):
        task.set_display_name(name)
        task.set_caching_options(name in ("train", "tune"))
    for task in (steps.ingest, steps.validate, steps.register, summary):
        _with_job_env(task)
    for task in deployed:  # uploads, endpoints and deployments act on GCP: never cached
        task.set_caching_options(False)


def compile_pipeline(output: str | Path = DEFAULT_OUTPUT) -> Path:
    """Write the IR YAML that Vertex AI Pipelines (``aiplatform.PipelineJob``) accepts."""
    return write_ir(vertex_training_pipeline, output)


if __name__ == "__main__":
    print(compile_pipeline(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUTPUT))
