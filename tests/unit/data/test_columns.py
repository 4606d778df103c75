"""Which columns can be features (``shipyard.data.columns``)."""

import pytest

from shipyard.data.columns import identifier_name


@pytest.mark.parametrize(
    ("name", "identifier"),
    [
        ("customer_id", True),
        ("customerID", True),
        ("Unnamed: 0", True),
        ("rownames", True),
        ("Row Number", True),
        ("rank", False),
        ("year", False),
        ("video_views", False),
        ("width", False),
    ],
)
def test_identifier_names(name, identifier):
    assert identifier_name(name) is identifier
