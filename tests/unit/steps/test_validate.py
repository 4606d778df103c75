import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom

from shipyard.data.schema import infer_schema
from shipyard.data.split import split_frame
from shipyard.data.synthetic import generate_transactions
from shipyard.errors import SchemaError, ValidationFailed
from shipyard.steps.checks import validate_frames
from shipyard.steps.validate import validate
from shipyard.steps.validation_report import SKEW_ALPHA


@pytest.fixture(scope="module")
def reference():
    train = generate_transactions(4000, seed=1)
    return train, generate_transactions(1000, seed=2), infer_schema(train, "is_fraud")


def rules(report):
    return {(v.dataset, v.column, v.rule) for v in report.violations}


def warned(report):
    return {(v.dataset, v.column, v.rule) for v in report.warnings}


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
    # what breaks serving stops the run ...
    assert rules(report) == {
        ("test", "channel", "column present"),
        ("test", "customer_age", "dtype"),
    }
    # ... what the inferred schema only observed is a warning with counts and examples
    assert {
        ("test", "extra", "unexpected columns"),
        ("test", "amount", "nulls"),
        ("test", "amount", "minimum"),
        ("test", "merchant_category", "categories"),
    } <= warned(report)
    casino = next(v for v in report.warnings if v.rule == "categories")
    assert casino.observed == "1 row(s) with 1 unseen value(s): casino"
    below = next(v for v in report.warnings if v.rule == "minimum")
    assert below.observed == "1 value(s) below, e.g. -5"
    nulls = next(v for v in report.warnings if v.rule == "nulls")
    assert nulls.observed.startswith("6 null(s)")


def test_single_class_label_and_empty_frame(reference):
    train, test, schema = reference
    report = validate_frames(
        {"train": train, "test": test[test["is_fraud"] == 0], "empty": test.iloc[:0]}, schema
    )
    assert ("test", "is_fraud", "label has at least two classes") in rules(report)
    assert ("empty", "*", "rows") in rules(report)


def skewed(report):
    return {v.column for v in report.violations + report.warnings if v.rule == "train/test skew"}


def test_shifted_test_set_is_skewed(reference):
    train, _, schema = reference
    shifted = generate_transactions(1000, seed=3, shift=1.0)
    report = validate_frames({"train": train, "test": shifted}, schema)
    assert {"amount", "channel", "merchant_category"} <= skewed(report)
    assert report.skew["amount"] < report.skew_threshold
    assert report.metrics()["min_skew_p_value"] < SKEW_ALPHA / len(schema.features)
    assert report.ok  # reported, not a stop ...
    assert not validate_frames({"train": train, "test": shifted}, schema, skew_action="fail").ok
    amount = next(v for v in report.warnings if v.column == "amount")
    assert (amount.dataset, amount.observed[:2], amount.expected) == (
        "test",
        "p=",
        "p >= corrected threshold",
    )


def test_moderate_shift_is_caught_and_named(reference):
    train, test, schema = reference
    assert skewed(
        validate_frames({"train": train, "test": test.assign(amount=test["amount"] * 1.5)}, schema)
    ) == {"amount"}
    assert {"amount", "merchant_category", "channel"} <= skewed(
        validate_frames(
            {"train": train, "test": generate_transactions(1000, seed=3, shift=0.5)}, schema
        )
    )


def _false_alarms(frame, target, seeds):
    flagged = []
    for seed in seeds:
        train, test = split_frame(frame, target, method="stratified", seed=seed)
        if skewed(validate_frames({"train": train, "test": test}, infer_schema(train, target))):
            flagged.append(seed)
    return flagged


def _allowed(n):
    """False alarms a correct SKEW_ALPHA test exceeds with probability below 0.1 %."""
    return int(binom.ppf(0.999, n, SKEW_ALPHA))


def test_random_splits_of_a_small_table_rarely_look_skewed(tmp_path):
    """PSI > 0.25 flagged about a quarter of these splits (seed 7 among them)."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame.rename(columns={"target": "label"})
    frame.to_csv(tmp_path / "cancer.csv", index=False)
    frame = pd.read_csv(tmp_path / "cancer.csv")
    assert _false_alarms(frame, "label", [7]) == []
    flagged = _false_alarms(frame, "label", range(200))
    assert len(flagged) <= _allowed(200), flagged


def test_random_splits_of_a_large_table_rarely_look_skewed():
    flagged = _false_alarms(generate_transactions(20_000, seed=0), "is_fraud", range(100))
    assert len(flagged) <= _allowed(100), flagged


def test_all_null_or_missing_columns_are_not_tested_for_skew(reference):
    train, test, schema = reference
    report = validate_frames(
        {"train": train, "test": test.assign(amount=np.nan).drop(columns=["channel"])}, schema
    )
    assert "amount" not in report.skew and "channel" not in report.skew
    assert not skewed(report)
    assert report.skew_threshold == pytest.approx(SKEW_ALPHA / (len(schema.features) - 2))


def test_validate_writes_schema_and_report_then_raises(tmp_path, reference):
    train, test, _ = reference
    train.to_parquet(tmp_path / "train.parquet")
    test.assign(amount=-1.0).drop(columns=["channel"]).to_parquet(tmp_path / "test.parquet")
    with pytest.raises(ValidationFailed) as failed:
        validate(
            str(tmp_path / "train.parquet"),
            str(tmp_path / "test.parquet"),
            "is_fraud",
            str(tmp_path / "schema.json"),
            str(tmp_path / "report.md"),
            settings=_fresh_settings(tmp_path),
        )
    assert "test.channel: column present" in str(failed.value)
    assert "minimum" not in str(failed.value)  # a warning, not a reason to stop
    report = (tmp_path / "report.md").read_text()
    assert "FAILED" in report and "| test | amount | minimum |" in report
    assert report.index("## Stops") < report.index("## Warnings") < report.index("| test | amount")
    assert "## Train/test skew (KS / Chi² with Bonferroni, family-wise α=0.01)" in report
    assert "| amount | KS |" in report and "| merchant_category | Chi² |" in report
    assert (tmp_path / "schema.json").is_file()


def test_declared_schema_with_other_target_is_refused(tmp_path, reference):
    train, test, schema = reference
    train.to_parquet(tmp_path / "train.parquet")
    test.to_parquet(tmp_path / "test.parquet")
    schema.save(tmp_path / "declared.json")
    with pytest.raises(SchemaError, match="target is 'is_fraud', the pipeline's is 'label'"):
        validate(
            str(tmp_path / "train.parquet"),
            str(tmp_path / "test.parquet"),
            "label",
            str(tmp_path / "s.json"),
            str(tmp_path / "r.md"),
            schema_uri=str(tmp_path / "declared.json"),
        )


def _fresh_settings(tmp_path):
    from shipyard.settings import settings_for

    return settings_for(f"validation-{tmp_path.name}")  # no champion under this name
