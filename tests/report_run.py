"""A run folder laid out as kfp.local leaves it, for the report's tests (unit and browser)."""

import json
import shutil

from shipyard.data.schema import IGNORED, Column, Schema

GATE = """# Registration: fraud v2 kept as challenger

**Reason:** not better than the champion

| metric | challenger | champion |
|---|---|---|
| roc_auc | 0.9100 | 0.9200 |
"""


def executor_output(folder, metadata, params=None):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "executor_output.json").write_text(
        json.dumps(
            {
                "parameterValues": params or {},
                "artifacts": {"a": {"artifacts": [{"name": "a", "metadata": metadata}]}},
            }
        )
    )


def make_run_folder(run, small_data, trained):
    """ingest, validate, train and register task folders holding what those steps write."""
    ingest = run / "ingest-op"
    executor_output(
        ingest,
        {"source": "t.csv", "rows_read": 3000, "null_labels_dropped": 2, "split_method": "random",
         "train_rows": 2400, "test_rows": 600},
    )  # fmt: skip
    shutil.copy(small_data["train"], ingest / "train_data")
    shutil.copy(small_data["test"], ingest / "test_data")
    validate = run / "validate-op"
    executor_output(validate, {"checks": 10})
    schema = Schema.load(small_data["schema"])
    schema.columns.append(Column("customer_id", IGNORED, "int64", note="an ID: unique per row"))
    schema.save(validate / "schema")
    (validate / "report").write_text("# Data validation: PASSED\n\n- checks run: 10\n")
    executor_output(
        run / "train-op", {"model_type": "xgboost", "roc_auc": 0.91, "work_seconds": 1.5}
    )
    shutil.copytree(trained.bundle_dir, run / "train-op" / "model")
    executor_output(run / "register-op", {"quality": "AUC 0.91"}, {"model_uri": "models:/f/2"})
    (run / "register-op" / "report").write_text(GATE)
    return run
