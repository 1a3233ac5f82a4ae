"""`meanwhile`: the service's CPU work runs while its statement is on the database."""

from __future__ import annotations

import asyncio

import pytest

from services.runtime.db import meanwhile


async def test_the_work_is_done_after_the_statement_left_and_before_its_result_is_taken() -> None:
    events: list[str] = []

    async def statement() -> str:
        events.append("sent")
        await asyncio.sleep(0.01)  # the database at work
        events.append("answered")
        return "rows"

    def work() -> int:
        events.append("work")
        return 7

    assert await meanwhile(statement(), work) == ("rows", 7)
    assert events == ["sent", "work", "answered"]


async def test_when_the_work_fails_the_statement_is_still_waited_for() -> None:
    """Its connection must be free again before the transaction is rolled back."""
    finished = asyncio.Event()

    async def statement() -> None:
        await asyncio.sleep(0.01)
        finished.set()

    def work() -> None:
        raise ValueError("a bug in the work")

    with pytest.raises(ValueError, match="a bug"):
        await meanwhile(statement(), work)
    assert finished.is_set()


async def test_cancelled_as_the_statement_leaves_it_still_waits_for_the_statement() -> None:
    finished = asyncio.Event()
    task: asyncio.Task[object] | None = None

    async def statement() -> None:
        assert task is not None
        task.cancel()  # the service stops while the statement is on its way
        await asyncio.sleep(0.01)
        finished.set()

    task = asyncio.create_task(meanwhile(statement(), lambda: None))
    with pytest.raises(asyncio.CancelledError):
        await task
    assert finished.is_set()
