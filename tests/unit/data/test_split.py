import pandas as pd
import pytest

from shipyard.data.split import split_frame
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
    with pytest.raises(ConfigError, match="unknown split method 'random'"):
        split_frame(frame, "is_fraud", method="random")
