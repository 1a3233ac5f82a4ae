"""Reservation requests delivered together are decided together (the bulk handler), and answered
exactly as if they had come one by one: the same outcomes, retries answered from the inbox, and
other commands of the batch keeping their place in its order."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from typing import Any
from uuid import UUID, uuid4

import pytest

from contracts.booking import (
    Channel,
    OrganisationRegistered,
    RequestReservation,
    ReservationConfirmed,
    ReservationRejected,
    SetBlackout,
    SpaceId,
)
from contracts.envelope import Message
from contracts.identity import PrincipalKind
from services.booking import app, handlers, store
from services.booking.domain import ATRIUM, DEFAULT_SPACES, SLOT
from services.booking.settings import BookingSettings
from services.runtime.identity import Caller
from tests.harness import HarnessFactory, ServiceHarness
from tests.support import (
    BOOKING_TEST_ENV,
    DAYS,
    at,
    register_command,
    reservation,
    service_now,
)

pytestmark = pytest.mark.middle

QUOTA = 4  # small, so that a batch reaches it


@pytest.fixture
async def two(
    harnesses: HarnessFactory, monkeypatch: pytest.MonkeyPatch
) -> tuple[ServiceHarness, ServiceHarness]:
    """Two booking services on databases of their own, with the test stack's settings and a
    small quota: one is sent requests one by one, the other the same requests in a batch."""
    for name, value in (*BOOKING_TEST_ENV, ("BOOKING_MAX_ACTIVE_RESERVATIONS", str(QUOTA))):
        monkeypatch.setenv(name, value)
    return await harnesses(app.build_spec()), await harnesses(app.build_spec())


async def organisations(booking: ServiceHarness, count: int) -> list[UUID]:
    found = []
    for _ in range(count):
        outcome = await booking.request(register_command())
        assert isinstance(outcome, OrganisationRegistered)
        found.append(outcome.organisation_id)
    return [*found, uuid4()]  # and one that never registered


# organisation, space, atrium, first half-hour, half-hours, attendees, channel
Plan = tuple[int, SpaceId, bool, int, int, int, Channel]


def random_plans(seed: int, count: int) -> list[Plan]:
    """Requests over one day that meet each other: Space A, B and A+B (with the atrium or not)
    over the same hours, the Lab filling up, hours beyond opening, organisations at the quota,
    one unregistered, staff booking for the city."""
    rng = random.Random(seed)
    return [
        (rng.randrange(4), rng.choice(list(SpaceId)), rng.random() < 0.2, rng.randrange(15, 41),
         rng.randrange(1, 5), rng.choice([5, 10, 20, 30]),
         Channel.STAFF if rng.random() < 0.1 else Channel.WEB)
        for _ in range(count)
    ]  # fmt: skip


def commands(
    plans: Sequence[Plan], orgs: Sequence[UUID], day_index: int
) -> list[RequestReservation]:
    day = DAYS_USED[day_index]
    made = []
    for org, space, atrium, start, length, people, channel in plans:
        begin = at(day, start // 2, 30 * (start % 2))
        cmd = reservation(orgs[org], space, begin, begin + length * SLOT, people,
                          atrium=atrium and space is SpaceId.AB)  # fmt: skip
        made.append(cmd.model_copy(update={"channel": channel}))
    return made


DAYS_USED = [DAYS.next() for _ in range(5)]


def outcome(answers: Sequence[Message], cmd: Message) -> tuple[str, str | None]:
    mine = [a for a in answers if getattr(a, "request_id", None) == cmd.message_id]
    assert len(mine) == 1, mine
    answer = mine[0]
    assert isinstance(answer, ReservationConfirmed | ReservationRejected)
    return answer.type, answer.reason.value if isinstance(answer, ReservationRejected) else None


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_a_batch_is_answered_as_if_its_requests_came_one_by_one(
    two: tuple[ServiceHarness, ServiceHarness], seed: int
) -> None:
    one_by_one, together = two
    orgs_one, orgs_together = await organisations(one_by_one, 3), await organisations(together, 3)
    earlier = random_plans(seed + 100, 8)  # stored before the batch: rooms taken, quota used
    for day in range(2):
        for cmd in commands(earlier, orgs_one, day):
            await one_by_one.request(cmd)
        await together.send_batch(commands(earlier, orgs_together, day))
    plans = random_plans(seed, 80)
    singles = [cmd for day in range(2) for cmd in commands(plans, orgs_one, day)]
    batch = [cmd for day in range(2) for cmd in commands(plans, orgs_together, day)]

    expected = [outcome(await one_by_one.send(cmd), cmd) for cmd in singles]
    answers = await together.send_batch(batch)

    assert [outcome(answers, cmd) for cmd in batch] == expected
    assert {e for e in expected if e[1] is None} and {e for e in expected if e[1] == "conflict"}
    assert {e[1] for e in expected} >= {"quota", "capacity", "not_registered", "closed"}


async def test_a_batch_delivered_again_is_answered_again_and_books_nothing_more(
    two: tuple[ServiceHarness, ServiceHarness],
) -> None:
    booking = two[0]
    orgs = await organisations(booking, 3)
    batch = commands(random_plans(7, 40), orgs, 2)
    first = await booking.send_batch(batch)
    held = await booking.pool.fetchval("SELECT count(*) FROM reservations")

    again = await booking.send_batch(batch)

    assert [a.message_id for a in again] == [a.message_id for a in first]
    assert await booking.pool.fetchval("SELECT count(*) FROM reservations") == held


async def test_a_command_amid_requests_takes_effect_in_its_place(
    two: tuple[ServiceHarness, ServiceHarness],
) -> None:
    booking = two[0]
    org = (await organisations(booking, 1))[0]
    day = DAYS_USED[3]
    before = reservation(org, SpaceId.A, at(day, 10), at(day, 11))
    after = reservation(org, SpaceId.B, at(day, 10), at(day, 11))

    answers = await booking.send_batch([before, SetBlackout(message_id=uuid4(), day=day), after])

    assert outcome(answers, before) == ("reservation.confirmed", None)
    assert outcome(answers, after) == ("reservation.rejected", "closed")


async def test_a_room_another_instance_took_after_the_facts_were_read_is_decided_again(
    two: tuple[ServiceHarness, ServiceHarness], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another instance stores a reservation of Space A between the batch's reading of the facts
    and its storing: the batch's plain insert fails, and the run is decided again from facts
    read anew, its rooms claimed race-safe. The request that lost Space A to an earlier one of
    the batch is refused too, and no room is held twice."""
    booking = two[0]
    race_safe = storing_watched(monkeypatch)
    org, other_org = (await organisations(booking, 2))[:2]
    day = DAYS_USED[4]
    first = reservation(org, SpaceId.A, at(day, 14), at(day, 15))
    second = reservation(other_org, SpaceId.A, at(day, 14), at(day, 15))
    elsewhere = reservation(org, SpaceId.B, at(day, 14), at(day, 15))
    outsider = reservation(other_org, SpaceId.A, at(day, 14), at(day, 15))
    read_facts = store.contexts_of

    async def facts_then_a_rival_commits(*args: Any) -> Any:
        facts = await read_facts(*args)
        monkeypatch.setattr(store, "contexts_of", read_facts)
        async with booking.pool.acquire() as conn, conn.transaction():
            _, stored = await store.claim_with_context(
                conn, uuid4(), outsider, {"a"}, day, service_now(), QUOTA
            )
        assert stored
        return facts

    monkeypatch.setattr(store, "contexts_of", facts_then_a_rival_commits)
    answers = await booking.send_batch([first, second, elsewhere])

    assert [outcome(answers, c) for c in (first, second, elsewhere)] == [
        ("reservation.rejected", "conflict"),
        ("reservation.rejected", "conflict"),
        ("reservation.confirmed", None),
    ]
    held = await booking.pool.fetch("SELECT request_id FROM reservations")
    assert {r["request_id"] for r in held} == {outsider.message_id, elsewhere.message_id}
    assert race_safe == [False, True]


async def test_a_batch_no_rival_meets_stores_its_rooms_with_the_plain_insert(
    booking: ServiceHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race-safe insert checks each room twice; a batch whose rooms nobody took meanwhile
    is stored once, with the plain one, and holds what it was answered."""
    race_safe = storing_watched(monkeypatch)
    org = (await organisations(booking, 1))[0]
    day = DAYS_USED[2]
    cmds = [reservation(org, space, at(day, 16), at(day, 17)) for space in (SpaceId.A, SpaceId.B)]
    answers = await booking.send_batch(cmds)

    assert [outcome(answers, c) for c in cmds] == [("reservation.confirmed", None)] * 2
    assert race_safe == [False]
    held = await booking.pool.fetchval(
        "SELECT count(*) FROM reservation_rooms JOIN reservations r ON r.id = reservation_id"
        " WHERE r.request_id = ANY($1::uuid[])",
        [c.message_id for c in cmds],
    )
    assert held == 2


def storing_watched(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """How each run's rooms are stored, in order: race-safe or not."""
    calls: list[bool] = []
    store_many = store.store_many

    async def watched(*args: Any, race_safe: bool) -> Any:
        calls.append(race_safe)
        return await store_many(*args, race_safe=race_safe)

    monkeypatch.setattr(store, "store_many", watched)
    return calls


async def test_a_batchs_answers_are_made_while_its_rooms_are_stored(
    booking: ServiceHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The statement storing a run's reservations leaves before the run's answers are made,
    and its result is awaited after them: the service's CPU and the database's overlap. The
    answers are the same as ever."""
    org = (await organisations(booking, 1))[0]
    day = DAYS_USED[3]
    cmds = [reservation(org, space, at(day, 10), at(day, 11)) for space in (SpaceId.A, SpaceId.B)]
    events: list[str] = []
    store_many, confirmed = store.store_many, handlers.confirmed

    async def storing(*args: Any, **kwargs: Any) -> Any:
        events.append("store sent")
        stored = await store_many(*args, **kwargs)
        events.append("store done")
        return stored

    def answering(*args: Any) -> Any:
        events.append("answer made")
        return confirmed(*args)

    monkeypatch.setattr(store, "store_many", storing)
    monkeypatch.setattr(handlers, "confirmed", answering)
    answers = await booking.send_batch(cmds)

    assert [outcome(answers, c) for c in cmds] == [("reservation.confirmed", None)] * 2
    assert events == ["store sent", "answer made", "answer made", "store done"]


async def test_a_run_cancelled_as_its_rooms_are_stored_leaves_its_connection_free(
    booking: ServiceHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A consumer stopped while a run's store statement is under way: the statement is waited
    for, so the transaction can still be rolled back on that connection, and nothing is kept."""
    org = (await organisations(booking, 1))[0]
    day = DAYS_USED[3]
    cmds = [reservation(org, space, at(day, 12), at(day, 13)) for space in (SpaceId.A, SpaceId.B)]
    caller = Caller(kind=PrincipalKind.ORGANISATION, subject=str(org))
    deciding = handlers.BookingHandlers(BookingSettings.from_env())
    store_many = store.store_many
    run: asyncio.Task[Any] | None = None

    async def stopped_as_it_leaves(*args: Any, **kwargs: Any) -> Any:
        assert run is not None
        run.cancel()  # the consumer stops while the statement is on its way
        return await store_many(*args, **kwargs)

    monkeypatch.setattr(store, "store_many", stopped_as_it_leaves)
    async with booking.pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        run = asyncio.create_task(deciding.request_reservations(conn, [(c, caller) for c in cmds]))
        with pytest.raises(asyncio.CancelledError):
            await run
        await transaction.rollback()
        assert await conn.fetchval("SELECT count(*) FROM reservations") == 0


async def test_every_room_the_rules_name_can_be_claimed(booking: ServiceHarness) -> None:
    """The database holds a claimed room as an enum (migrations/004): a room the rules come to
    name must be added there too, or claiming it would fail."""
    named = {ATRIUM}.union(*(space.rooms for space in DEFAULT_SPACES.values()))
    held = await booking.pool.fetchval("SELECT enum_range(NULL::room)::text[]")
    assert set(held) == named
