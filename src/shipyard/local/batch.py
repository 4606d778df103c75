"""``shipyard score``: the compiled batch-scoring pipeline run on kfp.local, with what can
be checked before it starts (``shipyard.steps.score.preflight``) and one line about the batch
after it."""

from __future__ import annotations

from pathlib import Path

from shipyard.local.outputs import RunSummary
from shipyard.settings import Settings, get_settings
from shipyard.steps.score import preflight


def run_batch_pipeline(
    pipeline_file: str | Path,
    source: str,
    model_name: str = "",
    alias: str = "champion",
    version: str = "",
    destination: str = "",
    id_column: str = "",
    settings: Settings | None = None,
    contributions: bool = False,
    verbose: bool = False,
) -> tuple[RunSummary, str]:
    """Check what can be checked, run the compiled batch pipeline on kfp.local; the run's
    summary and one line about the batch (`shipyard score`). ``verbose`` streams every
    task's log instead of the progress view."""
    from shipyard.data.sources import uri_scheme
    from shipyard.local.pipeline import run_local
    from shipyard.model.ref import ModelRef

    settings = settings or get_settings()
    model_name = model_name or settings.model_name
    # every task is its own process: local paths are made absolute, as the summary shows them
    source, destination = (
        str(Path(uri).resolve()) if uri and not uri_scheme(uri) else uri
        for uri in (source, destination)
    )
    preflight(
        source, ModelRef.pick(model_name, alias, version).uri, destination, id_column, settings
    )
    summary = run_local(
        pipeline_file,
        {
            "source": source,
            "model_name": model_name,
            "alias": alias,
            "version": str(version or ""),
            "destination": destination,
            "id_column": id_column,
            # only when asked: a pipeline compiled before the option still runs without it
            **({"contributions": True} if contributions else {}),
        },
        settings,
        verbose,
    )
    return summary, batch_line(summary)


def batch_line(summary: RunSummary) -> str:
    """Rows scored, model version, where written, drift verdict — from the score step."""
    meta = summary.step("score").metadata
    local = summary.run_dir / "score-op" / "predictions"
    where = f"{local}" + (f" and {meta['destination']}" if meta.get("destination") else "")
    rows = meta.get("rows_scored")
    return (
        f"scored {int(rows) if rows is not None else '?'} rows with {meta.get('model_name')} "
        f"v{meta.get('version')}; predictions: {where}; "
        f"drift: {meta.get('drift_verdict')}"
    )
