"""The score step's scoring loop: a table scored ``CHUNK_ROWS`` at a time by the predictor's
own scorer, so the run shows a rows bar and memory stays bounded, with the same answers as
one call (each row's answer depends on that row alone)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from shipyard.steps.timing import report_progress

if TYPE_CHECKING:
    from shipyard.serving.predictor import Scorer

CHUNK_ROWS = 50_000  # rows scored at a time: a progress bar, bounded memory, the same answers


def score_in_chunks(
    scorer: Scorer, columns: dict[str, np.ndarray], rows: int, contributions: bool
) -> tuple[dict[str, tuple[str, np.ndarray]], pd.DataFrame | None]:
    """The scorer's outputs (and contribution columns) for every row, ``CHUNK_ROWS`` at a
    time, each chunk's progress reported (``shipyard run``/``score`` draw it as a bar)."""
    model = scorer.model
    parts: list[dict[str, tuple[str, np.ndarray]]] = []
    frames: list[pd.DataFrame] = []
    for start in range(0, max(rows, 1), CHUNK_ROWS):
        report_progress("score", start, rows)
        chunk = {name: values[start : start + CHUNK_ROWS] for name, values in columns.items()}
        part = scorer.outputs(chunk)
        parts.append(part)
        if contributions and scorer.explainer is not None:
            scores = part["predict_proba" if model.classes is not None else "predict"][1]
            explained = scorer.explainer.contributions(chunk, scores)
            frames.append(explained.frame(model.features, model.classes))
    report_progress("score", rows, rows)
    results = {
        name: (datatype, np.concatenate([p[name][1] for p in parts]))
        for name, (datatype, _) in parts[0].items()
    }
    explained_frame = pd.concat(frames, ignore_index=True) if frames else None
    return results, explained_frame
