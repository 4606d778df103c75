"""End to end: `shipyard score` runs the compiled batch-scoring pipeline on kfp.local against
the session's registered model; the predictions equal the registered model's for the same rows."""

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shipyard.cli import main
from shipyard.data.synthetic import generate_transactions
from shipyard.model.ref import ModelRef
from shipyard.registry.client import load_registered
from support import PROJECT, REGISTERED_NAME

pytestmark = pytest.mark.e2e
NAME = REGISTERED_NAME  # the session's registered version


def test_shipyard_score_runs_the_batch_pipeline(registered, tmp_path, monkeypatch, capsys):
    # kfp.local starts each task with the first `python3` on PATH: make it this environment's.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    table = generate_transactions(800, seed=11)
    table.insert(0, "txn_id", [f"tx-{i}" for i in range(len(table))])
    table.to_csv(tmp_path / "batch.csv", index=False)
    pipeline_file = tmp_path / "batch_scoring_pipeline.yaml"
    common = [
        "--project",
        str(PROJECT),
        "score",
        "--model",
        NAME,
        "--pipeline-file",
        str(pipeline_file),
    ]

    code = main(
        [
            *common[:3],
            str(tmp_path / "batch.csv"),
            *common[3:],
            "--id-column",
            "txn_id",
            "--destination",
            str(tmp_path / "out" / "predictions.parquet"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "score " in out and "rows_scored=800" in out
    line = out.strip().splitlines()[-1]
    assert line.startswith(f"scored 800 rows with {NAME} v1; predictions: ")
    assert "out/predictions.parquet; drift: no drift" in line
    predictions = pd.read_parquet(tmp_path / "out" / "predictions.parquet")
    model = load_registered(ModelRef.of(NAME, 1), registered.settings)
    assert predictions["txn_id"].tolist() == table["txn_id"].tolist()
    assert predictions["predict"].tolist() == model.predict(table).tolist()
    np.testing.assert_allclose(
        predictions[["proba_0", "proba_1"]].to_numpy(), model.scores(table), atol=1e-6
    )

    # A shifted batch, the version pinned: the drift verdict names the features.
    generate_transactions(800, seed=12, shift=1.0).to_parquet(tmp_path / "shifted.parquet")
    assert (
        main([*common[:3], str(tmp_path / "shifted.parquet"), *common[3:], "--version", "1"]) == 0
    )
    assert "drift: DRIFT in " in capsys.readouterr().out

    # A table lacking a feature stops before the pipeline starts, with one line and exit 1.
    table.drop(columns=["amount"]).to_csv(tmp_path / "lacks.csv", index=False)
    assert main([*common[:3], str(tmp_path / "lacks.csv"), *common[3:]]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("shipyard: error: ") and "needs: amount" in err
    assert len(err.splitlines()) == 1
    assert main([*common[:3], str(tmp_path / "batch.csv"), *common[3:], "--alias", "nope"]) == 1
    assert "is not in the registry" in capsys.readouterr().err
