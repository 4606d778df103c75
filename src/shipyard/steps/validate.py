"""The validate step: check train/test data against the schema and against each other.

Every rule runs and every finding is collected, so one report lists all that is wrong
(column, rule, observed value, expectation) instead of the first problem only. A finding stops
the run only where the model or its serving contract would break (a missing column, an
incompatible type, no usable label); everything else a schema observed rather than promised
(ranges, categories, nulls, skew between random splits, possible leakage) is a warning with
counts and examples. ``skew_action="fail"`` makes skew a stop.
"""

from __future__ import annotations

import pandas as pd

from shipyard.data.schema import (
    Schema,
    infer_schema,
)
from shipyard.errors import SchemaError, ValidationFailed
from shipyard.model.task import AUTO, with_task
from shipyard.settings import Settings
from shipyard.steps.checks import validate_frames
from shipyard.steps.validation_report import ValidationReport


def resolve_schema(
    train: pd.DataFrame,
    target: str,
    schema_uri: str = "",
    settings: Settings | None = None,
    ignore: list[str] | None = None,
    model_name: str = "",
) -> tuple[Schema, str]:
    """The schema to check against and where it came from.

    A declared ``schema_uri`` (local path or s3://) wins; otherwise the current champion's
    schema (stored with the model), so new data is checked against what the model saw;
    otherwise, on the first run, the schema is inferred from the training data.
    """
    if schema_uri:
        return _read_schema(schema_uri, settings), f"declared ({schema_uri})"
    from shipyard.registry.client import Registry

    registry = Registry(settings)
    stored = registry.champion_schema(model_name or registry.settings.model_name)
    if stored is not None:
        schema, version = stored
        return schema, f"stored with the champion model (v{version})"
    drop = settings.drop_unusable_columns if settings else True
    return (
        infer_schema(train, target, ignore=ignore or [], drop_unusable=drop),
        "inferred from this training data",
    )


def _read_schema(uri: str, settings: Settings | None) -> Schema:
    if uri.startswith("s3://"):
        import tempfile
        from pathlib import Path

        from shipyard import storage

        with tempfile.TemporaryDirectory() as tmp:
            return Schema.load(storage.download(uri, Path(tmp) / "schema.json", settings))
    return Schema.load(uri.removeprefix("file://"))


def validate(
    train_path: str,
    test_path: str,
    target: str,
    schema_out: str,
    report_out: str,
    schema_uri: str = "",
    settings: Settings | None = None,
    task: str = AUTO,
    positive_class: str = "",
    ignore_columns: str = "",
    cv_folds: int = 3,
    skew_action: str = "report",
    preparation: dict[str, object] | None = None,
    model_name: str = "",
) -> ValidationReport:
    """Check train and test; decide the task; write the schema used and a Markdown report;
    raise on violations.

    The report is written before raising, so a failed run still shows what was wrong.
    """
    train, test = pd.read_parquet(train_path), pd.read_parquet(test_path)
    ignore = [c.strip() for c in ignore_columns.split(",") if c.strip()]
    schema, origin = resolve_schema(train, target, schema_uri, settings, ignore, model_name)
    if schema.target != target:
        raise SchemaError(
            f"the schema's target is {schema.target!r}, the pipeline's is {target!r}",
            hint="set the target parameter, or declare a schema",
        )
    if target not in train.columns:
        raise SchemaError(
            f"target column {target!r} is missing",
            hint=f"columns are: {', '.join(map(str, train.columns))}",
        )
    schema, reason = with_task(schema, train[target], task, positive_class)
    report = validate_frames({"train": train, "test": test}, schema, cv_folds, skew_action)
    report.origin, report.task, report.task_reason = origin, schema.task or "", reason
    report.preparation = dict(preparation or {})
    schema.save(schema_out)
    with open(report_out, "w") as handle:
        handle.write(report.markdown(schema))
    if not report.ok:
        raise ValidationFailed(report.violations, report_path=report_out)
    return report
