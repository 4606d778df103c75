"""The ingest step: read (or generate) the data, split it, record what was read."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from shipyard.data.prepare import prepare
from shipyard.data.sources import read_table
from shipyard.data.split import split_with_report
from shipyard.data.synthetic import TARGET, TIMESTAMP, generate_transactions
from shipyard.errors import SchemaError
from shipyard.loop.training_data import is_log_source, read_logged
from shipyard.model.task import AUTO, detect_task, is_classification
from shipyard.settings import Settings


@dataclass
class IngestResult:
    train_rows: int
    test_rows: int
    columns: list[str]
    content_hash: str
    source: str
    notes: dict = field(default_factory=dict)  # what preparing and splitting did

    def metadata(self, part: str) -> dict:
        return {
            **self.notes,
            "rows": self.train_rows if part == "train" else self.test_rows,
            "train_rows": self.train_rows,
            "test_rows": self.test_rows,
            "columns": len(self.columns),
            "column_names": ",".join(self.columns),
            "content_hash": self.content_hash,
            "source": self.source,
            "split": part,
        }


def content_hash(frame: pd.DataFrame) -> str:
    """A hash of the table's content (values and column names), independent of file format."""
    digest = hashlib.sha256(",".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return "sha256:" + digest.hexdigest()


def load_source(
    source: str = "",
    rows: int = 20_000,
    seed: int = 42,
    shift: float = 0.0,
    time_column: str = TIMESTAMP,
    settings: Settings | None = None,
    target: str = TARGET,
) -> pd.DataFrame:
    """The source table; with no source, the synthetic transactions dataset; with an
    ``inference-log:`` source, the labelled production rows (``shipyard.loop.training_data``)."""
    if not source:
        return generate_transactions(rows=rows, seed=seed, shift=shift)
    if is_log_source(source):
        logged = read_logged(source, target, settings, time_column)
        print(
            f"inference log: {logged.logged_rows} rows logged, "
            f"{logged.unlabelled_rows} left out without a label, "
            f"{len(logged.frame)} labelled rows to train on"
        )
        return logged.frame
    frame = read_table(source, settings)
    if (
        time_column
        and time_column in frame.columns
        and not pd.api.types.is_datetime64_any_dtype(frame[time_column])
    ):
        try:
            frame[time_column] = pd.to_datetime(frame[time_column])
        except (ValueError, TypeError) as exc:
            raise SchemaError(
                f"time column {time_column!r} in {source} is not a timestamp: {exc}"
            ) from exc
    return frame


def ingest(
    train_path: str | Path,
    test_path: str | Path,
    source: str = "",
    target: str = TARGET,
    rows: int = 20_000,
    seed: int = 42,
    shift: float = 0.0,
    split: str = "stratified",
    test_fraction: float = 0.2,
    time_column: str = TIMESTAMP,
    settings: Settings | None = None,
    task: str = AUTO,
    group_column: str = "",
) -> IngestResult:
    """Read ``source`` (or generate data), prepare it (``shipyard.data.prepare``), split it
    and write train/test as Parquet."""
    frame = load_source(source, rows, seed, shift, time_column, settings, target)
    if target not in frame.columns:
        raise SchemaError(
            f"target column {target!r} is missing from {source or 'the data'}",
            hint=f"columns are: {', '.join(map(str, frame.columns))}; "
            "set the pipeline's target parameter",
        )
    classification = is_classification(detect_task(frame[target].dropna(), task)[0])
    frame, prepared = prepare(frame, target, classification)
    train, test, report = split_with_report(
        frame, target, test_fraction, split, time_column, seed, classification, group_column
    )
    for frame_part, path in ((train, train_path), (test, test_path)):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        frame_part.to_parquet(path, index=False)
    return IngestResult(
        len(train),
        len(test),
        list(map(str, frame.columns)),
        content_hash(frame),
        source or f"synthetic(rows={rows},seed={seed},shift={shift})",
        {**prepared.metadata(), **report.metadata()},
    )
