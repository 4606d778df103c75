"""The predictor's v2 handling, called directly with kserve's own request types.
(The same class behind a real ModelServer is tested in tests/kserve.)"""

import numpy as np
import pandas as pd
import pytest
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferInput, InferRequest, RequestedOutput

from shipyard.model.bundle import load_bundle
from shipyard.serving.predictor import ShipyardPredictor


@pytest.fixture(scope="module")
def predictor(trained):
    model = ShipyardPredictor("fraud", str(trained.bundle_dir))
    assert model.load() and model.ready
    return model


@pytest.fixture(scope="module")
def rows(small_data):
    return pd.read_parquet(small_data["test"]).head(64)


def column_inputs(frame, schema, **overrides):
    inputs = []
    for name in schema.features:
        values = frame[name].tolist()
        datatype = "BYTES" if name in schema.categorical else "FP64"
        inputs.append(InferInput(name, [len(values)], datatype, values))
    for name, value in overrides.items():
        inputs = (
            [value if i.name == name else i for i in inputs]
            if value is not None
            else [i for i in inputs if i.name != name]
        )
    return inputs


def request(inputs, **kwargs):
    return InferRequest("fraud", inputs, **kwargs)


def test_metadata_lists_each_feature_with_datatype(predictor):
    types = {t["name"]: t["datatype"] for t in predictor.get_input_types()}
    assert types["channel"] == "BYTES" and types["amount"] == "FP64"
    assert "is_fraud" not in types and "timestamp" not in types
    outputs = {t["name"]: t for t in predictor.get_output_types()}
    assert outputs["predict_proba"]["shape"] == [-1, 2]


def test_outputs_equal_the_models_own_predictions(predictor, trained, rows):
    schema = predictor.served.model.schema
    response = predictor.predict(request(column_inputs(rows, schema), request_id="abc"))
    model = load_bundle(trained.bundle_dir)
    proba = response.get_output_by_name("predict_proba").as_numpy()
    np.testing.assert_allclose(proba, model.predict_proba(rows), rtol=1e-6)
    np.testing.assert_array_equal(
        response.get_output_by_name("predict").as_numpy(), model.predict(rows)
    )
    assert response.id == "abc"
    assert response.get_output_by_name("predict").datatype == "INT64"
    assert response.get_output_by_name("predict_proba").datatype == "FP64"  # no rounding


def test_requested_outputs_and_parameters_echoed(predictor, rows):
    schema = predictor.served.model.schema
    response = predictor.predict(
        request(
            column_inputs(rows, schema),
            parameters={"tag": "x"},
            request_outputs=[RequestedOutput("predict")],
        )
    )
    assert [o.name for o in response.outputs] == ["predict"]
    assert response.parameters == {"tag": "x"}


@pytest.mark.parametrize(
    "case, message",
    [
        ("no_inputs", "the request has no inputs"),
        ("unknown", "unknown input 'colour'"),
        ("missing", "missing input 'amount'"),
        ("duplicate", "input 'amount' is given more than once"),
        ("wrong_datatype", "input 'channel' has datatype FP32; expected BYTES"),
        ("numeric_as_bytes", "input 'amount' has datatype BYTES; expected a numeric"),
        ("shape_mismatch", "input 'amount': data does not fit datatype FP64 and shape [5]"),
        ("ragged", "inputs have different row counts"),
        ("non_finite", "input 'amount' has non-finite values at rows [0]"),
        ("text_in_numbers", "input 'amount': value 'lots' does not fit datatype FP64"),
        ("bad_shape", "input 'amount': shape [64, 2] must be [rows] or [rows, 1]"),
        ("unknown_output", "unknown output 'score'"),
    ],
)
def test_client_mistakes_are_invalid_input_naming_the_field(predictor, rows, case, message):
    schema = predictor.served.model.schema
    n = len(rows)
    amount = rows["amount"].tolist()
    cases = {
        "no_inputs": request([]),
        "unknown": request(
            column_inputs(rows, schema) + [InferInput("colour", [n], "FP64", [0.0] * n)]
        ),
        "missing": request(column_inputs(rows, schema, amount=None)),
        "duplicate": request(
            column_inputs(rows, schema) + [InferInput("amount", [n], "FP64", amount)]
        ),
        "wrong_datatype": request(
            column_inputs(rows, schema, channel=InferInput("channel", [n], "FP32", [1.0] * n))
        ),
        "numeric_as_bytes": request(
            column_inputs(rows, schema, amount=InferInput("amount", [n], "BYTES", ["1"] * n))
        ),
        "shape_mismatch": request(
            column_inputs(rows, schema, amount=InferInput("amount", [5], "FP64", amount))
        ),
        "ragged": request(
            column_inputs(rows, schema, amount=InferInput("amount", [n - 1], "FP64", amount[:-1]))
        ),
        "non_finite": request(
            column_inputs(
                rows, schema, amount=InferInput("amount", [n], "FP64", [float("inf")] + amount[1:])
            )
        ),
        "text_in_numbers": request(
            column_inputs(
                rows, schema, amount=InferInput("amount", [n], "FP64", ["lots"] + amount[1:])
            )
        ),
        "bad_shape": request(
            column_inputs(rows, schema, amount=InferInput("amount", [n, 2], "FP64", amount * 2))
        ),
        "unknown_output": request(
            column_inputs(rows, schema), request_outputs=[RequestedOutput("score")]
        ),
    }
    with pytest.raises(InvalidInput) as raised:
        predictor.predict(cases[case])
    assert message in str(raised.value)


def test_a_null_in_a_feature_trained_without_nulls_is_answered_and_counted(
    predictor, trained, rows
):
    from prometheus_client import REGISTRY

    schema = predictor.served.model.schema
    assert schema.column("amount").trained_with_nulls is False
    amount = [None, None] + rows["amount"].tolist()[2:]
    sample = dict(
        name="shipyard_predictor_null_values_total",
        labels={
            "model": "fraud",
            "version": predictor.version or "",
            "role": predictor.settings.role,
            "feature": "amount",
            "trained_with_nulls": "false",
        },
    )
    before = REGISTRY.get_sample_value(**sample) or 0.0
    response = predictor.predict(
        request(
            column_inputs(rows, schema, amount=InferInput("amount", [len(rows)], "FP64", amount))
        )
    )
    expected = load_bundle(trained.bundle_dir).predict_proba(rows.assign(amount=amount))
    np.testing.assert_allclose(
        response.get_output_by_name("predict_proba").as_numpy(), expected, rtol=1e-6
    )
    assert REGISTRY.get_sample_value(**sample) == before + 2


def test_a_date_that_is_not_one_is_invalid_input_naming_it():
    from shipyard.data.schema import DATETIME, Column, Schema
    from shipyard.serving.v2_inputs import to_columns

    schema = Schema(
        [Column("when", DATETIME, "string", True, parts=["year"]), Column("y", "target", "int")],
        "y",
    )
    good = request([InferInput("when", [2], "BYTES", ["2024-03-14", None])])
    assert np.isnan(to_columns(good, schema)["when"][1])
    with pytest.raises(InvalidInput, match="input 'when': 'soon' is not a date or time"):
        to_columns(request([InferInput("when", [1], "BYTES", ["soon"])]), schema)
    with pytest.raises(InvalidInput, match="input 'when' has datatype FP64; expected BYTES"):
        to_columns(request([InferInput("when", [1], "FP64", [1.0])]), schema)


def test_single_tensor_for_an_all_numeric_model(tmp_path):
    from sklearn.datasets import load_breast_cancer

    from shipyard.data.schema import infer_schema
    from shipyard.model.bundle import save_bundle
    from shipyard.model.families import make_pipeline

    frame = load_breast_cancer(as_frame=True).frame
    schema = infer_schema(frame, "target")
    pipeline = make_pipeline(schema, "logistic_regression").fit(
        frame[schema.features], frame["target"]
    )
    save_bundle(pipeline, tmp_path, schema, "logistic_regression", "sklearn", 0.5)
    model = ShipyardPredictor("cancer", str(tmp_path))
    model.load()
    x = frame[schema.features].head(10).to_numpy()
    response = model.predict(
        request(
            [InferInput("input-0", list(x.shape), "FP32", x.astype(np.float32).ravel().tolist())]
        )
    )
    expected = pipeline.predict_proba(
        pd.DataFrame(x.astype(np.float32).astype(np.float64), columns=schema.features)
    )
    np.testing.assert_allclose(
        response.get_output_by_name("predict_proba").as_numpy(), expected, rtol=1e-5
    )
    with pytest.raises(InvalidInput, match=r"shape \[10, 3\] must be \[rows, 30\]"):
        model.predict(request([InferInput("input-0", [10, 3], "FP32", [0.0] * 30)]))
