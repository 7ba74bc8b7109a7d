"""Fixtures of the package's tests: the sample base on 127.0.0.1."""

from collections.abc import Iterator

import pytest

import etl


@pytest.fixture
def sample() -> Iterator[etl.SampleAirtable]:
    """The sample base, served with no rate limit (tests need no waiting)."""
    with etl.SampleAirtable(rate_limit=None) as server:
        yield server
