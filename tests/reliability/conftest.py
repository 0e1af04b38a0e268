"""Tests marked ``slow`` are skipped unless ``CHATSPAN_LONG_TESTS=1`` (see ``sizes.py``)."""

from __future__ import annotations

import pytest

from tests.reliability.sizes import LONG


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if LONG:
        return
    skip = pytest.mark.skip(reason="long run: set CHATSPAN_LONG_TESTS=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
