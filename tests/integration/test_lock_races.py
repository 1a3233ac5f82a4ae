"""Two booking instances taking overlapping rooms under different keys ('ab' and 'a' are on
different partitions, so two instances decide them at the same moment) deadlock on the rooms'
exclusion constraint. A deadlock is a race, not a poison message: the batch that lost is handed
back to be redelivered (never dead-lettered), and once retried every request has exactly one
answer and no room is held twice. Two real batch handlers on one PostgreSQL, no Kafka needed.

Deciding message by message, the two batches interleave a round trip at a time and deadlock for
certain once both are under way (`both_under_way`: on a loaded machine one could otherwise finish
before the other began). Deciding a batch's requests together (the bulk handler), each batch
claims its rooms in one statement: they deadlock when the statements overlap, or one waits for
the other's commit and learns the rooms are taken; either way the same holds in the end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any
from uuid import uuid4

import asyncpg
import pytest

from contracts.booking import Channel, RequestReservation, SpaceId
from services.booking import store
from services.booking.app import build_spec
from services.booking.domain import DEFAULT_POLICY
from services.booking.settings import BookingSettings
from services.runtime.clock import Clock
from services.runtime.consumer import TRANSIENT_ERRORS, BatchHandler, Routes, Subscription
from services.runtime.db import ensure_database, migrate
from services.runtime.metrics import Metrics
from tests import identity_support
from tests.harness import proven_headers
from tests.support import CLOCK_SHIFT, DAYS, System, at

pytestmark = pytest.mark.stack

MIGRATIONS = Path(__file__).parents[2] / "services" / "booking" / "migrations"


@dataclass
class Record:
    value: bytes
    key: bytes
    offset: int
    topic: str = "booking.commands"
    partition: int = 0
    headers: Sequence[tuple[str, bytes | None]] = ()
    timestamp: int = 0
    timestamp_type: int = 0  # the producer's time: judged at the time of handling


@pytest.fixture
async def pool(system: System) -> AsyncIterator[asyncpg.Pool]:
    dsn = system.dsn(f"races_{uuid4().hex[:8]}")
    await ensure_database(dsn)
    # connections open beforehand: both handlers start at once, neither waits for a connect
    pool = await asyncpg.create_pool(dsn, min_size=4, max_size=4)
    await migrate(pool, MIGRATIONS)
    yield pool
    await pool.close()


def staff_booking(space: SpaceId, day: object, hour: int) -> RequestReservation:
    assert isinstance(day, date)
    return RequestReservation(
        message_id=uuid4(), organisation_id=uuid4(), space=space, starts_at=at(day, hour),
        ends_at=at(day, hour + 1), attendees=10, channel=Channel.STAFF, purpose="協働フォーラム",
    )  # fmt: skip


def records(commands: list[RequestReservation]) -> list[Record]:
    return [Record(c.model_dump_json().encode(), c.partition_key().encode(), i,
                   headers=[(k, v.encode()) for k, v in proven_headers(c).items()])
            for i, c in enumerate(commands)]  # fmt: skip


def one_by_one(subscription: Subscription) -> Subscription:
    """The subscription with its one-message handlers only (no bulk handler)."""
    routes = Routes()
    routes.handlers = dict(subscription.routes.handlers)
    routes.rules = dict(subscription.routes.rules)
    return replace(subscription, routes=routes)


def both_under_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first claim of each of the two transactions waits until the other's has come too,
    so that they overlap (the retry of the one that loses is not held back)."""
    barrier = asyncio.Barrier(2)
    started: set[int] = set()
    claim = store.claim_with_context

    async def claim_once_both_started(conn: asyncpg.Connection, *args: Any) -> Any:
        if len(started) < 2 and id(conn) not in started:
            started.add(id(conn))
            async with asyncio.timeout(30):
                await barrier.wait()
        return await claim(conn, *args)

    monkeypatch.setattr(store, "claim_with_context", claim_once_both_started)


@pytest.mark.parametrize("bulk", [False, True], ids=["one by one", "together"])
async def test_a_deadlock_between_two_instances_is_retried_not_dead_lettered(
    pool: asyncpg.Pool, bulk: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the test services' horizon: the session's days may lie further ahead than three months
    settings = BookingSettings(replace(DEFAULT_POLICY, horizon_months=12), Clock(CLOCK_SHIFT))
    (subscription,) = build_spec(settings).subscriptions
    if not bulk:
        subscription = one_by_one(subscription)
        both_under_way(monkeypatch)
    keyring = identity_support.keyring()
    first, second = (BatchHandler(subscription, pool, Metrics(), keyring) for _ in range(2))
    slots = [(day, hour) for day in [DAYS.next() for _ in range(4)] for hour in range(9, 20)]
    # A+B walks the slots backwards while A walks them forwards: each transaction ends up
    # holding a room the other one wants next
    both = [staff_booking(SpaceId.AB, d, h) for d, h in reversed(slots)]
    space_a = [staff_booking(SpaceId.A, d, h) for d, h in slots]

    results = await asyncio.gather(first.handle(records(both)), second.handle(records(space_a)),
                                   return_exceptions=True)  # fmt: skip
    races = [r for r in results if isinstance(r, BaseException)]
    held = await pool.fetchval("SELECT count(*) FROM reservations")
    assert len(races) in ({0, 1} if bulk else {1}), (results, held)
    for race in races:
        assert isinstance(race, asyncpg.exceptions.DeadlockDetectedError)
        assert isinstance(race, TRANSIENT_ERRORS)

    # a losing batch is redelivered (here: handed again) and decided now
    for handler, batch, result in ((first, both, results[0]), (second, space_a, results[1])):
        if isinstance(result, BaseException):
            await handler.handle(records(batch))

    answered = await pool.fetchval("SELECT count(*) FROM inbox")
    dead_letters = await pool.fetchval("SELECT count(*) FROM outbox WHERE topic LIKE '%.dlq'")
    answers = await pool.fetchval("SELECT count(*) FROM outbox WHERE topic = 'booking.events'")
    overlaps = await pool.fetchval(
        "SELECT count(*) FROM reservation_rooms x JOIN reservation_rooms y"
        " ON x.room = y.room AND x.during && y.during AND x.reservation_id < y.reservation_id"
    )
    assert (answered, answers, dead_letters, overlaps) == (2 * len(slots), 2 * len(slots), 0, 0)
    # every slot is held by A+B or by A: the requests were decided, not refused for their date
    assert await pool.fetchval("SELECT count(*) FROM reservations") == len(slots)
