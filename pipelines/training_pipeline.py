"""The training pipeline: ingest → validate → train → tune → register (the graph shared with
the Vertex variant, ``training_steps``) → deploy, inside a ``dsl.ExitHandler`` whose exit task
(summary) writes the run's summary and announces it.

One compiled IR YAML runs on Kubeflow Pipelines and, unchanged, on kfp.local (kfp 2.17 runs
``dsl.If`` and ``dsl.ExitHandler`` locally too). The deploy step sits under two real
conditions the KFP UI shows: the ``deploy`` parameter, then the register step's ``promoted``
output. Best-trial selection stays inside the tune step (README, "Design notes").

Caching: only train and tune may be cached (their results follow from their inputs); ingest
reads external data, validate the registry's champion schema, and register, deploy and the
summary act on the registry, the cluster and people, so they never are.

    python pipelines/training_pipeline.py [OUTPUT.yaml]   # compile
"""

import sys
from pathlib import Path

from kfp import dsl, kubernetes

from deploy_op import deploy_op
from shipyard.kubeflow.pipeline_files import write_ir
from summary_op import summary_op
from training_steps import add_training_steps

# Kubernetes objects that carry credentials and endpoints on a cluster (manifests/ creates
# them; values never pass through pipeline parameters). Ignored by kfp.local.
S3_SECRET = "shipyard-s3"
MLFLOW_SECRET = "shipyard-mlflow"
CONFIG_MAP = "shipyard-config"
NOTIFY_SECRET = "shipyard-notify"  # optional: the chat webhook the notifier posts to
DEFAULT_OUTPUT = Path("build/training_pipeline.yaml")


def _wire_credentials(task: dsl.PipelineTask) -> dsl.PipelineTask:
    kubernetes.use_secret_as_env(
        task,
        S3_SECRET,
        {
            "access-key": "SHIPYARD_S3_ACCESS_KEY",
            "secret-key": "SHIPYARD_S3_SECRET_KEY",
            "access-key-id": "AWS_ACCESS_KEY_ID",
            "secret-access-key": "AWS_SECRET_ACCESS_KEY",
        },
    )
    kubernetes.use_secret_as_env(
        task, MLFLOW_SECRET, {"tracking-uri": "SHIPYARD_MLFLOW_TRACKING_URI"}
    )
    kubernetes.use_config_map_as_env(
        task,
        CONFIG_MAP,
        {
            "s3-endpoint": "SHIPYARD_S3_ENDPOINT",
            "s3-endpoint-url": "MLFLOW_S3_ENDPOINT_URL",
            "git-commit": "SHIPYARD_GIT_COMMIT",
            "mlflow-artifacts-destination": "SHIPYARD_MLFLOW_ARTIFACTS_DESTINATION",
            "drift-backend": "SHIPYARD_DRIFT_BACKEND",  # which detector register fits
        },
    )
    return task


def _wire_notifier(task: dsl.PipelineTask) -> dsl.PipelineTask:
    """Steps that announce decisions get the webhook URL, if the Secret exists."""
    return kubernetes.use_secret_as_env(
        task, NOTIFY_SECRET, {"webhook-url": "SHIPYARD_NOTIFY_WEBHOOK_URL"}, optional=True
    )


@dsl.pipeline(
    name="shipyard-training",
    description="Ingest, validate, train, tune and register a tabular model (binary, "
    "multiclass or regression); "
    "promote it to the MLflow alias `champion` only if it wins.",
)
def training_pipeline(
    source: str = "",
    target: str = "is_fraud",
    task: str = "auto",
    positive_class: str = "",
    ignore_columns: str = "",
    rows: int = 20000,
    seed: int = 42,
    shift: float = 0.0,
    split: str = "stratified",
    group_column: str = "",
    test_fraction: float = 0.2,
    schema_uri: str = "",
    skew_action: str = "report",
    model_type: str = "hist_gradient_boosting",
    model_types: str = "auto",
    tune_metric: str = "auto",
    n_candidates: int = 0,
    cv_folds: int = 3,
    threshold: float = 0.0,
    floors: str = "",
    margin: float = 0.002,
    model_name: str = "",
    deploy: bool = False,
    service_name: str = "fraud",
    namespace: str = "shipyard",
    deployment_mode: str = "Serverless",
    prometheus_url: str = "",
    canary_steps: str = "10,50,100",
    bake_seconds: float = 300.0,
    model_format: str = "shipyard",
):
    """Train and register a tabular model; the register step's `model_uri` output names the
    registered version, the summary step's Markdown tells how the run ended.

    Args:
        source: CSV or Parquet to train on (local path or s3://bucket/key); empty generates
            synthetic card transactions.
        target: Name of the label column (integers, text or bools; numbers for regression).
        task: "auto" (decided from the label, the reason in the validate report), "binary",
            "multiclass" or "regression".
        positive_class: Binary only: the label value that is the positive class (default: the
            minority class).
        ignore_columns: Comma-separated columns that are not features (IDs, free text).
        rows: Rows of synthetic data (used only when source is empty).
        seed: Random seed for data generation, splits, search and models.
        shift: Distribution shift of synthetic data in [0, 1] (drift demos).
        split: "stratified" (on the class, or on quantile bins of a regression label),
            "random", "group" (all rows of one group_column value on one side) or "time"
            (the newest rows are the test set).
        group_column: The column naming the entity for split "group" (customer, patient).
        test_fraction: Share of rows held out as the test set.
        schema_uri: Declared schema JSON; empty uses the champion's schema, else infers one.
        skew_action: "report" (train/test skew is shown) or "fail" (skew stops the run).
        model_type: Model family of the baseline (hist_gradient_boosting, xgboost,
            random_forest, logistic_regression).
        model_types: Comma-separated families the tune step searches (hist_gradient_boosting,
            xgboost, random_forest, linear: logistic regression or ridge by task); "auto":
            sized to the table (up to 1,000 rows hist_gradient_boosting,linear; above,
            hist_gradient_boosting,xgboost,linear).
        tune_metric: Metric the tune step optimises and the margin applies to; "auto":
            roc_auc (binary), f1_macro (multiclass), rmse (regression).
        n_candidates: Random candidates per family for successive halving; 0 sizes it to
            rows x features (4 up to 1,000 rows, then 8, falling to 4 for large tables).
        cv_folds: Cross-validation folds for tuning.
        threshold: Decision threshold; 0 picks the F1-optimal one by cross-validation.
        floors: Optional fixed holdout floors, your business threshold, e.g.
            "roc_auc>=0.75,pr_auc>=0.05" or "rmse<=40"; empty (default): none. Without a
            champion, a model is promoted when it beats a trivial baseline (class prior,
            train mean) on the primary metric with 95 % confidence (paired bootstrap).
        margin: By how much a challenger must beat the champion on the task's primary
            metric to be promoted (absolute for scores, relative for errors such as rmse).
        model_name: MLflow registered model name; empty: the source file's name
            (penguins.csv -> penguins), or shipyard-fraud for the synthetic data.
        deploy: Roll a winner out as a canary InferenceService (needs a cluster, KServe and
            the manifests' RBAC for the run's service account); `champion` then moves only
            when the rollout reaches 100 %.
        service_name: InferenceService name.
        namespace: Namespace of the InferenceService.
        deployment_mode: KServe mode, Serverless (canaryTrafficPercent) or RawDeployment
            (spec.canary); Local: local predictors behind the local router (kfp.local, the
            closed-loop demo).
        prometheus_url: Prometheus that the canary gates query.
        canary_steps: Comma-separated canary traffic percents, ending at 100.
        bake_seconds: Baking period per canary step.
        model_format: "shipyard" (Shipyard's predictor) or "sklearn" (KServe's stock runtime,
            MLServer, serving a joblib export of the version next to it in S3).
    """
    run_id = dsl.PIPELINE_JOB_ID_PLACEHOLDER
    # The exit task may take only pipeline parameters and the guarded tasks' final status;
    # it reads the rest from MLflow by the run id.
    summary = summary_op(
        pipeline_run_id=run_id, model_name=model_name, source=source, deploy=deploy
    )
    with dsl.ExitHandler(summary, name="training"):
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
            ingest_args={
                "shift": shift,
                "split": split,
                "test_fraction": test_fraction,
                "task": task,
                "group_column": group_column,
            },
            validate_args={
                "schema_uri": schema_uri,
                "source": source,
                "skew_action": skew_action,
                "cv_folds": cv_folds,
            },
            train_args={"model_type": model_type, "threshold": threshold},
            tune_args={"cv_folds": cv_folds, "threshold": threshold},
            register_args={"source": source},
        )
        register = steps.register
        with dsl.If(deploy == True, name="deploy-requested"):  # noqa: E712
            with dsl.If(register.outputs["promoted"] == True, name="gate-passed"):  # noqa: E712
                deploy_task = deploy_op(
                    model_uri=register.outputs["model_uri"],
                    service_name=service_name,
                    namespace=namespace,
                    deployment_mode=deployment_mode,
                    prometheus_url=prometheus_url,
                    canary_steps=canary_steps,
                    bake_seconds=bake_seconds,
                    model_format=model_format,
                )
    for task, name in (*steps.named(), (deploy_task, "deploy"), (summary, "summary")):
        task.set_display_name(name)
        _wire_credentials(task)
        task.set_caching_options(name in ("train", "tune"))
    for task in (register, deploy_task, summary):
        _wire_notifier(task)
    for task in (steps.train, steps.tune):
        task.set_cpu_limit("2").set_memory_limit("4G")


def compile_pipeline(output: str | Path = DEFAULT_OUTPUT) -> Path:
    """Write the IR YAML that the KFP UI accepts."""
    return write_ir(training_pipeline, output)


if __name__ == "__main__":
    print(compile_pipeline(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUTPUT))
