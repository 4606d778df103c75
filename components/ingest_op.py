"""KFP component: read (or generate) the data and split it into train/test Datasets."""

from kfp import dsl
from kfp.dsl import Dataset, Output

from shipyard.settings import component_image


@dsl.component(base_image=component_image(), install_kfp_package=False)
def ingest_op(
    train_data: Output[Dataset],
    test_data: Output[Dataset],
    source: str = "",
    target: str = "is_fraud",
    rows: int = 20000,
    seed: int = 42,
    shift: float = 0.0,
    split: str = "stratified",
    test_fraction: float = 0.2,
    time_column: str = "timestamp",
    task: str = "auto",
    group_column: str = "",
):
    """Ingest CSV/Parquet from a path or s3:// URI, or generate synthetic transactions; drop
    unlabelled rows and single-row classes, coerce numbers with text tokens; split."""
    from shipyard.steps.timing import timed

    with timed() as timer:
        from shipyard.steps.ingest import ingest

        result = ingest(
            train_data.path,
            test_data.path,
            source=source,
            target=target,
            rows=rows,
            seed=seed,
            shift=shift,
            split=split,
            test_fraction=test_fraction,
            time_column=time_column,
            task=task,
            group_column=group_column,
        )
    train_data.metadata.update({**result.metadata("train"), **timer.as_metadata()})
    test_data.metadata.update(result.metadata("test"))
