"""Killing a booking instance with SIGKILL in the middle of 1,000 requests loses nothing and
repeats nothing: after its restart every request has exactly one outcome."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import defaultdict
from uuid import UUID

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from clients.kiosk.client import BookingClient
from contracts.booking import (
    RequestReservation,
    ReservationConfirmed,
    SpaceId,
    booking_event_adapter,
)
from contracts.topics import BOOKING_EVENTS
from tests.support import DAYS, TEST_QUOTA, Days, System, as_admin, at, register, reservation

pytestmark = pytest.mark.stack

REQUESTS = 1000


def distinct_slots(
    org_ids: list[UUID], count: int, days: Days = DAYS
) -> list[RequestReservation]:
    """`count` requests for free half hours of Space A and B, on days of `days` (by default the
    test run's shared calendar; a test on a stack of its own passes its own, so it takes no
    days from the other tests)."""
    commands: list[RequestReservation] = []
    while len(commands) < count:
        day = days.next()
        for half_hour in range(22):  # 9:00-20:00 on a weekday
            hh, mm = divmod(9 * 60 + 30 * half_hour, 60)
            for space in (SpaceId.A, SpaceId.B):
                org = org_ids[len(commands) % len(org_ids)]
                start = at(day, hh, mm)
                end = at(day, *divmod(hh * 60 + mm + 30, 60))
                commands.append(reservation(org, space, start, end))
    return commands[:count]


async def outcomes_on_topic(bootstrap: str, request_ids: set[UUID]) -> dict[UUID, set[UUID]]:
    """Every distinct outcome (by its message_id) of each request, read from the whole topic."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **as_admin())
    found: dict[UUID, set[UUID]] = defaultdict(set)
    await consumer.start()
    try:
        tps = [TopicPartition(BOOKING_EVENTS.name, p) for p in range(BOOKING_EVENTS.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)

        async def behind() -> bool:
            return any([await consumer.position(tp) < offset for tp, offset in end.items()])

        while await behind():
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    try:
                        event = booking_event_adapter.validate_json(record.value or b"")
                    except ValueError:
                        continue  # a record another test wrote to try the consumers
                    if event.request_id in request_ids:
                        found[event.request_id].add(event.message_id)
    finally:
        await consumer.stop()
    return found


async def assert_one_outcome_and_one_reservation_each(
    system: System, commands: list[RequestReservation]
) -> None:
    """On the topic, exactly one distinct outcome per request; in the database, one
    reservation per request: nothing lost, nothing doubled."""
    per_request = await outcomes_on_topic(
        system.stack.kafka_bootstrap, {c.message_id for c in commands}
    )
    assert len(per_request) == len(commands)
    assert all(len(ids) == 1 for ids in per_request.values())
    conn = await asyncpg.connect(system.dsn("booking"))
    try:
        stored = await conn.fetchval(
            "SELECT count(*) FROM reservations WHERE request_id = ANY($1::uuid[])",
            [c.message_id for c in commands],
        )
    finally:
        await conn.close()
    assert stored == len(commands)


async def test_sigkill_mid_stream_then_restart_gives_each_request_exactly_one_outcome(
    system: System, client: BookingClient
) -> None:
    # enough organisations that none reaches its quota of future reservations
    orgs = list(
        await asyncio.gather(*(register(client) for _ in range(REQUESTS // TEST_QUOTA + 1)))
    )
    commands = distinct_slots(orgs, REQUESTS)
    futures = []
    for i, cmd in enumerate(commands):
        futures.append(await client.send(cmd))
        if i == REQUESTS // 3:
            await asyncio.wait_for(asyncio.gather(*futures[:50]), 60)  # it is working
            pid = system.stack.pid("booking-1")
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
        if i == 2 * REQUESTS // 3:
            system.stack.stop_component("booking-1")  # clears the dead instance's pid file
            await asyncio.to_thread(system.start, "booking-1")
    outcomes = await asyncio.wait_for(asyncio.gather(*futures), 180)

    assert len(outcomes) == REQUESTS
    confirmed = {o.request_id for o in outcomes if isinstance(o, ReservationConfirmed)}
    assert len(confirmed) == REQUESTS  # distinct slots: every one of them is free
    await assert_one_outcome_and_one_reservation_each(system, commands)
