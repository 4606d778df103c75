import numpy as np
import pytest

from shipyard.data.synthetic import generate_transactions
from shipyard.errors import SchemaError, ValidationFailed
from shipyard.schema import infer_schema
from shipyard.validation import population_stability_index, validate, validate_frames


@pytest.fixture(scope="module")
def reference():
    train = generate_transactions(4000, seed=1)
    return train, generate_transactions(1000, seed=2), infer_schema(train, "is_fraud")


def rules(report):
    return {(v.dataset, v.column, v.rule) for v in report.violations}


def test_clean_data_passes(reference):
    train, test, schema = reference
    report = validate_frames({"train": train, "test": test}, schema)
    assert report.ok, report.violations
    assert report.checks > 100
    assert report.metrics()["violations"] == 0.0


def test_every_violation_is_listed_at_once(reference):
    train, test, schema = reference
    bad = test.drop(columns=["channel"]).assign(extra=1)
    bad.loc[:5, "amount"] = np.nan
    bad.loc[6, "amount"] = -5.0
    bad.loc[7, "merchant_category"] = "casino"
    bad["customer_age"] = bad["customer_age"].astype(str)
    report = validate_frames({"train": train, "test": bad}, schema)
    assert {("test", "channel", "column present"), ("test", "extra", "unexpected columns"),
            ("test", "amount", "no nulls"), ("test", "amount", "minimum"),
            ("test", "merchant_category", "categories"),
            ("test", "customer_age", "dtype")} <= rules(report)
    casino = next(v for v in report.violations if v.rule == "categories")
    assert casino.observed == "casino"


def test_single_class_label_and_empty_frame(reference):
    train, test, schema = reference
    report = validate_frames({"train": train, "test": test[test["is_fraud"] == 0],
                              "empty": test.iloc[:0]}, schema)
    assert ("test", "is_fraud", "label has at least two classes") in rules(report)
    assert ("empty", "*", "rows") in rules(report)


def test_shifted_test_set_is_skewed(reference):
    train, _, schema = reference
    shifted = generate_transactions(1000, seed=3, shift=1.0)
    report = validate_frames({"train": train, "test": shifted}, schema)
    skewed = {v.column for v in report.violations if v.rule.startswith("train/test skew")}
    assert {"amount", "channel", "merchant_category"} <= skewed
    assert report.skew["amount"] > 0.25


def test_psi_is_zero_for_the_same_sample_and_grows_with_shift():
    rng = np.random.default_rng(0)
    import pandas as pd

    a = pd.Series(rng.normal(size=5000))
    assert population_stability_index(a, a, False) == pytest.approx(0.0, abs=1e-9)
    small = population_stability_index(a, a + 0.1, False)
    large = population_stability_index(a, a + 1.0, False)
    assert 0 < small < large


def test_validate_writes_schema_and_report_then_raises(tmp_path, reference):
    train, test, _ = reference
    train.to_parquet(tmp_path / "train.parquet")
    test.assign(amount=-1.0).to_parquet(tmp_path / "test.parquet")
    with pytest.raises(ValidationFailed) as failed:
        validate(str(tmp_path / "train.parquet"), str(tmp_path / "test.parquet"), "is_fraud",
                 str(tmp_path / "schema.json"), str(tmp_path / "report.md"),
                 settings=_fresh_settings(tmp_path))
    assert "test.amount: minimum" in str(failed.value)
    report = (tmp_path / "report.md").read_text()
    assert "FAILED" in report and "| test | amount | minimum |" in report
    assert (tmp_path / "schema.json").is_file()


def test_declared_schema_with_other_target_is_refused(tmp_path, reference):
    train, test, schema = reference
    train.to_parquet(tmp_path / "train.parquet")
    test.to_parquet(tmp_path / "test.parquet")
    schema.save(tmp_path / "declared.json")
    with pytest.raises(SchemaError, match="target is 'is_fraud', the pipeline's is 'label'"):
        validate(str(tmp_path / "train.parquet"), str(tmp_path / "test.parquet"), "label",
                 str(tmp_path / "s.json"), str(tmp_path / "r.md"),
                 schema_uri=str(tmp_path / "declared.json"))


def _fresh_settings(tmp_path):
    from shipyard.settings import settings_for

    return settings_for(f"validation-{tmp_path.name}")  # no champion under this name
