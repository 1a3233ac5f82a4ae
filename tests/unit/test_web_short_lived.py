"""Availability shared for a moment between the pages that ask for it at once."""

from __future__ import annotations

import asyncio

import pytest

from clients.web.short_lived import ShortLived


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_pages_asking_at_once_share_one_fetch() -> None:
    calls = 0
    release = asyncio.Event()

    async def fetch() -> str:
        nonlocal calls
        calls += 1
        await release.wait()
        return "days"

    shared: ShortLived[str, str] = ShortLived(1.0)
    waiting = [asyncio.create_task(shared.get("week", fetch)) for _ in range(50)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*waiting) == ["days"] * 50
    assert calls == 1


async def test_an_answer_older_than_its_life_is_fetched_again() -> None:
    clock, answers = Clock(), iter(["first", "second"])

    async def fetch() -> str:
        return next(answers)

    shared: ShortLived[str, str] = ShortLived(1.0, clock=clock)
    assert await shared.get("day", fetch) == "first"
    clock.now += 0.9
    assert await shared.get("day", fetch) == "first"
    clock.now += 0.2
    assert await shared.get("day", fetch) == "second"


async def test_a_failed_fetch_is_not_kept() -> None:
    outcomes: list[Exception | str] = [RuntimeError("booking away"), "days"]

    async def fetch() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    shared: ShortLived[str, str] = ShortLived(1.0)
    with pytest.raises(RuntimeError):
        await shared.get("day", fetch)
    assert await shared.get("day", fetch) == "days"


async def test_different_questions_get_their_own_answers_and_old_ones_are_let_go() -> None:
    clock = Clock()

    async def fetch_for(key: int) -> int:
        return key * 10

    shared: ShortLived[int, int] = ShortLived(1.0, clock=clock, most=8)
    for key in range(8):
        assert await shared.get(key, lambda k=key: fetch_for(k)) == key * 10
    clock.now += 2
    assert await shared.get(99, lambda: fetch_for(99)) == 990
    assert len(shared) == 1


async def test_no_more_answers_are_kept_than_the_limit() -> None:
    calls = 0

    async def fetch() -> int:
        nonlocal calls
        calls += 1
        return calls

    shared: ShortLived[int, int] = ShortLived(60.0, most=4)
    for key in range(10):
        await shared.get(key, fetch)
    assert len(shared) == 4
    assert await shared.get(9, fetch) == 11  # not kept: fetched again
