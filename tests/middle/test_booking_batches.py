"""Reservation requests delivered together are decided together (the bulk handler), and answered
exactly as if they had come one by one: the same outcomes, retries answered from the inbox, and
other commands of the batch keeping their place in its order."""

from __future__ import annotations

import random
from collections.abc import Sequence
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
from services.booking import app
from services.booking.domain import SLOT
from tests.harness import HarnessFactory, ServiceHarness
from tests.support import BOOKING_TEST_ENV, DAYS, at, register_command, reservation

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


DAYS_USED = [DAYS.next() for _ in range(4)]


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
