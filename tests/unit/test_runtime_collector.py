"""A started service leaves what it holds out of garbage collections and collects the young
generation less often (services/runtime/collector.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from services.runtime import collector


@pytest.fixture
def restored() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored")
def test_what_exists_at_start_is_frozen_and_the_young_are_collected_less_often() -> None:
    gc.unfreeze()
    held = [[n] for n in range(1000)]  # tracked objects alive when the service has started

    collector.settle()

    assert gc.get_freeze_count() >= len(held)
    assert gc.get_threshold()[0] == collector.YOUNGEST_THRESHOLD
