"""The batch-scoring pipeline: one step that scores a table with a registered model.

Run it on a schedule (``shipyard submit --schedule``) or locally (``shipyard score``). The
predictions equal what the KServe endpoint answers for the same rows; the batch is compared
with the model version's training data through the drift detector stored with it.

    python pipelines/batch_scoring_pipeline.py [OUTPUT.yaml]   # compile
"""

import sys
from pathlib import Path

from kfp import dsl

from score_op import score_op
from shipyard.kubeflow.pipeline_files import write_ir
from training_pipeline import _wire_credentials

DEFAULT_OUTPUT = Path("build/batch_scoring_pipeline.yaml")


@dsl.pipeline(
    name="shipyard-batch-scoring",
    description="Score a table with a registered model (alias or version) exactly "
    "as the endpoint would; Parquet predictions and a drift report.",
)
def batch_scoring_pipeline(
    source: str,
    model_name: str = "shipyard-fraud",
    alias: str = "champion",
    version: str = "",
    destination: str = "",
    id_column: str = "",
    contributions: bool = False,
) -> dsl.Dataset:
    """Score a table; returns the predictions (Parquet).

    Args:
        source: CSV or Parquet to score (local path, file:// or s3://bucket/key); it must hold
            every feature of the model (other columns are ignored).
        model_name: MLflow registered model name.
        alias: Registry alias of the version to score with (used when version is empty).
        version: Registered version number; overrides alias when given.
        destination: Also write the predictions here (path or s3://; .parquet or .csv);
            empty: only the pipeline's output artifact.
        id_column: Column of the table that identifies a row, copied to the predictions;
            empty: the row number (column `row`).
        contributions: Also write each feature's exact contribution to the model's margin
            (columns `contribution_<feature>` and `contribution_base`).
    """
    score = score_op(
        source=source,
        model_name=model_name,
        alias=alias,
        version=version,
        destination=destination,
        id_column=id_column,
        contributions=contributions,
    )
    score.set_display_name("score")
    _wire_credentials(score)
    return score.outputs["predictions"]


def compile_pipeline(output: str | Path = DEFAULT_OUTPUT) -> Path:
    """Write the IR YAML that the KFP UI accepts."""
    return write_ir(batch_scoring_pipeline, output)


if __name__ == "__main__":
    print(compile_pipeline(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUTPUT))
