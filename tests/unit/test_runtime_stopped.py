"""`stopped`: a Kafka client's stop that re-raises a cancellation of its own (aiokafka's consumer
does, when it stops while a fetch waits out a retry after a broker went away) does not cut short
what the caller does after it; a cancellation of the caller still ends the caller."""

from __future__ import annotations

import asyncio

import pytest

from services.runtime.errors import stopped


async def test_a_cancellation_the_client_raises_of_its_own_is_not_the_callers() -> None:
    async def stop_with_a_stray_cancel() -> None:
        fetch = asyncio.create_task(asyncio.sleep(10))
        await asyncio.sleep(0)
        fetch.cancel()
        await fetch  # as aiokafka's fetcher awaits its cancelled fetches

    await stopped(stop_with_a_stray_cancel())  # returns; a stray CancelledError would fail here


async def test_the_callers_own_cancellation_still_ends_it() -> None:
    async def slow_stop() -> None:
        await asyncio.sleep(10)

    caller = asyncio.create_task(stopped(slow_stop()))
    await asyncio.sleep(0)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
