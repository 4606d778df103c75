import numpy as np
import pandas as pd
import pytest

from shipyard.data.split import split_frame, split_with_report
from shipyard.data.synthetic import generate_transactions
from shipyard.errors import ConfigError, SchemaError


def test_stratified_split_keeps_the_positive_rate_and_every_row():
    frame = generate_transactions(10_000, seed=2)
    train, test = split_frame(frame, "is_fraud", 0.25)
    assert len(train) + len(test) == len(frame)
    assert len(test) == pytest.approx(2500, abs=2)
    assert test["is_fraud"].mean() == pytest.approx(frame["is_fraud"].mean(), abs=0.002)
    merged = pd.concat([train, test]).sort_values("timestamp").reset_index(drop=True)
    pd.testing.assert_frame_equal(merged, frame.sort_values("timestamp").reset_index(drop=True))


def test_time_split_puts_the_newest_rows_in_test():
    frame = generate_transactions(1000).sample(frac=1.0, random_state=1)
    train, test = split_frame(frame, "is_fraud", 0.2, "time", "timestamp")
    assert train["timestamp"].max() <= test["timestamp"].min()
    assert len(test) == 200


def test_errors_name_the_problem():
    frame = generate_transactions(100)
    with pytest.raises(SchemaError, match="'label' is missing"):
        split_frame(frame, "label")
    with pytest.raises(ConfigError, match="test_fraction"):
        split_frame(frame, "is_fraud", 1.5)
    with pytest.raises(ConfigError, match="unknown split method 'by-day'"):
        split_frame(frame, "is_fraud", method="by-day")
    with pytest.raises(ConfigError, match="group split needs a group column"):
        split_frame(frame, "is_fraud", method="group")


def test_regression_with_unique_labels_gets_the_fraction_and_every_row_can_be_tested():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=506), "y": rng.lognormal(size=506)})
    seen_in_test = np.zeros(len(frame), dtype=bool)
    for seed in range(30):
        train, test = split_frame(frame, "y", 0.2, seed=seed)
        assert len(test) / len(frame) == pytest.approx(0.2, abs=0.01)
        seen_in_test |= frame["y"].isin(test["y"]).to_numpy()
    assert seen_in_test.mean() > 0.99  # with exact-value strata no unique label ever was
    # stratified on quantile bins: the test label spans the whole range
    train, test = split_frame(frame, "y", 0.2)
    assert test["y"].max() > frame["y"].quantile(0.9)
    assert test["y"].min() < frame["y"].quantile(0.1)


def test_integer_regression_label_with_many_values_is_not_split_by_value():
    frame = pd.DataFrame({"x": range(400), "y": [i * 7 % 391 for i in range(400)]})
    train, test, report = split_with_report(frame, "y", 0.2)
    assert len(test) == 80
    assert report.train_only == {}


def test_a_tiny_class_stays_in_train_and_is_reported():
    frame = pd.DataFrame({"x": range(62), "y": ["a"] * 40 + ["b"] * 20 + ["c"] * 2})
    train, test, report = split_with_report(frame, "y", 0.2, classification=True)
    assert report.train_only == {"c": 2}
    assert (train["y"] == "c").sum() == 2
    assert len(test) == 12  # 20 % of the 60 rows of classes that can give a share
    assert set(test["y"]) == {"a", "b"}


def test_every_class_keeps_two_training_rows():
    frame = pd.DataFrame({"x": range(23), "y": ["a"] * 20 + ["b"] * 3})
    train, test = split_frame(frame, "y", 0.5, classification=True)
    assert (train["y"] == "b").sum() >= 2


def test_random_split_has_the_fraction():
    frame = generate_transactions(1000, seed=3)
    train, test = split_frame(frame, "is_fraud", 0.3, "random")
    assert len(test) == 300 and len(train) == 700


def test_group_split_keeps_each_group_on_one_side():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "customer": rng.integers(0, 60, 1000),
            "x": rng.normal(size=1000),
            "y": rng.integers(0, 2, 1000),
        }
    )
    train, test = split_frame(frame, "y", 0.2, "group", group_column="customer")
    assert not set(train["customer"]) & set(test["customer"])
    assert len(test) / len(frame) == pytest.approx(0.2, abs=0.05)
