import pytest

from shipyard.cli import build_parser, main
from support import PROJECT


def test_every_subcommand_has_help(capsys):
    for command in ("compile", "run", "submit", "serve", "rollout", "drift", "score"):
        with pytest.raises(SystemExit) as done:
            build_parser().parse_args([command, "--help"])
        assert done.value.code == 0
        assert "usage: shipyard" in capsys.readouterr().out


def test_compile_writes_the_yaml(tmp_path, capsys):
    assert main(["--project", str(PROJECT), "compile", "--output", str(tmp_path / "p.yaml")]) == 0
    assert (tmp_path / "p.yaml").read_text().startswith("# PIPELINE DEFINITION")


def test_compile_the_batch_pipeline(tmp_path, capsys):
    assert (
        main(
            [
                "--project",
                str(PROJECT),
                "compile",
                "--pipeline",
                "batch",
                "--output",
                str(tmp_path / "b.yaml"),
            ]
        )
        == 0
    )
    assert "# Name: shipyard-batch-scoring" in (tmp_path / "b.yaml").read_text()


def test_score_usage_errors(tmp_path, capsys):
    with pytest.raises(SystemExit):  # --alias or --version, not both
        build_parser().parse_args(["score", "t.csv", "--alias", "a", "--version", "2"])
    assert "not allowed with argument" in capsys.readouterr().err
    assert (
        main(
            [
                "--project",
                str(PROJECT),
                "score",
                str(tmp_path / "t.csv"),
                "--version",
                "two",
                "--pipeline-file",
                str(tmp_path / "b.yaml"),
            ]
        )
        == 2
    )
    assert "version 'two' is not a number" in capsys.readouterr().err


def test_bad_parameter_is_exit_code_2(tmp_path, capsys):
    main(["--project", str(PROJECT), "compile", "--output", str(tmp_path / "p.yaml")])
    code = main(
        [
            "--project",
            str(PROJECT),
            "run",
            "--pipeline-file",
            str(tmp_path / "p.yaml"),
            "--set",
            "colour=red",
        ]
    )
    assert code == 2
    assert "no parameter 'colour'" in capsys.readouterr().err
    assert main(["run", "--pipeline-file", str(tmp_path / "p.yaml"), "--set", "rows"]) == 2


def test_unreachable_mlflow_is_exit_code_3(monkeypatch, capsys):
    from shipyard.settings import get_settings
    from support import free_port

    monkeypatch.setenv("SHIPYARD_MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    get_settings.cache_clear()
    try:
        from shipyard.errors import exit_code
        from shipyard.registry.tracking import configure

        with pytest.raises(Exception) as raised:
            configure()
        assert exit_code(raised.value) == 3
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_rollout_render_prints_a_crd_valid_inference_service(capsys):
    import yaml

    from support import inference_service_validator

    assert (
        main(
            [
                "rollout",
                "7",
                "--render",
                "s3://shipyard/models/7",
                "--mode",
                "RawDeployment",
                "--namespace",
                "team-a",
            ]
        )
        == 0
    )
    body = yaml.safe_load(capsys.readouterr().out)
    assert list(inference_service_validator().iter_errors(body)) == []
    assert body["metadata"]["namespace"] == "team-a"
    assert body["spec"]["predictor"]["model"]["storageUri"] == "s3://shipyard/models/7"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["rollout", "2", "--steps", "10,50"], "end at 100"),
        (["rollout", "2", "--steps", "ten"], "comma-separated"),
        (["rollout", "2"], "--prometheus-url is needed"),
        (["rollout", "2", "--name", "Fraud_Model", "--render", "s3://x"], "DNS-1123"),
    ],
)
def test_rollout_usage_errors_exit_2(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.fixture(scope="module")
def detector_folder(tmp_path_factory):
    from shipyard.data.schema import infer_schema
    from shipyard.data.synthetic import generate_transactions
    from shipyard.monitoring.drift import DriftDetector

    reference = generate_transactions(5000, seed=1)
    return DriftDetector.fit(reference, infer_schema(reference, "is_fraud")).save(
        tmp_path_factory.mktemp("detector") / "d"
    )


def test_drift_scores_a_table_and_exits_1_on_drift(detector_folder, tmp_path, capsys):
    from shipyard.data.sources import write_table
    from shipyard.data.synthetic import generate_transactions

    like = write_table(generate_transactions(800, seed=11), str(tmp_path / "like.csv"))
    shifted = write_table(
        generate_transactions(800, seed=12, shift=1.0), str(tmp_path / "shifted.parquet")
    )
    assert main(["drift", like, "--source", str(detector_folder)]) == 0
    assert "800 rows vs the reference" in capsys.readouterr().out
    assert main(["drift", shifted, "--source", str(detector_folder)]) == 1
    out = capsys.readouterr().out
    verdict = out.strip().splitlines()[-1]
    assert "drift in" in verdict and "amount" in verdict and "channel" in verdict
    amount = next(line for line in out.splitlines() if line.startswith("amount "))
    assert amount.split()[-1] == "YES"


def test_drift_usage_and_unreachable_detector(capsys):
    from support import free_port

    assert main(["drift"]) == 2
    assert "give a table to score" in capsys.readouterr().err
    assert main(["drift", "--url", f"http://127.0.0.1:{free_port()}"]) == 3
    assert "cannot reach the drift detector" in capsys.readouterr().err
