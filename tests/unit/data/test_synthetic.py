import numpy as np
import pytest

from shipyard.data.synthetic import CHANNELS, MERCHANT_CATEGORIES, TARGET, generate_transactions


def test_same_seed_same_rows_and_different_seed_differs():
    a, b = generate_transactions(500, seed=3), generate_transactions(500, seed=3)
    assert a.equals(b)
    assert not a.equals(generate_transactions(500, seed=4))


@pytest.mark.parametrize("rows", [1, 37, 20_000])
def test_any_row_count(rows):
    assert len(generate_transactions(rows)) == rows


def test_positive_rate_between_one_and_three_percent():
    rate = generate_transactions(50_000, seed=11)[TARGET].mean()
    assert 0.01 <= rate <= 0.03


def test_feature_kinds_numeric_categorical_and_timestamp_derived():
    frame = generate_transactions(2000)
    assert set(frame["merchant_category"]) <= set(MERCHANT_CATEGORIES)
    assert set(frame["channel"]) <= set(CHANNELS)
    assert (frame["hour"] == frame["timestamp"].dt.hour).all()
    assert (frame["day_of_week"] == frame["timestamp"].dt.dayofweek).all()
    assert frame["timestamp"].is_monotonic_increasing


def test_shift_triples_amounts_and_moves_the_category_mix():
    base = generate_transactions(20_000, seed=5)
    shifted = generate_transactions(20_000, seed=5, shift=1.0)
    assert shifted["amount"].median() / base["amount"].median() == pytest.approx(3.0, rel=0.02)
    online = lambda f: np.mean(f["channel"] == "online")  # noqa: E731
    assert online(shifted) > online(base) + 0.2


@pytest.mark.parametrize("kwargs", [{"rows": 0}, {"shift": 1.5}, {"shift": -0.1}])
def test_bad_arguments_are_refused(kwargs):
    with pytest.raises(ValueError):
        generate_transactions(**{"rows": 10, **kwargs})
