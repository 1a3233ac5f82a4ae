"""Killing the events service with SIGKILL in the middle of a registration rush loses nothing and
repeats nothing: after its restart every request has exactly one answer, the seats held are
exactly the capacity, and no seat is held twice."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from clients.commands import CommandClient
from contracts.program import (
    CreateProgram,
    Frame,
    FramePlan,
    ProgramEventT,
    ProgramKind,
    PublishProgram,
    RegistrationConfirmed,
    RequestRegistration,
    SessionPlan,
    Venue,
    program_event_adapter,
)
from contracts.topics import PROGRAM_COMMANDS, PROGRAM_EVENTS
from tests import identity_support
from tests.support import System, as_admin, credentials

pytestmark = pytest.mark.stack

REQUESTS = 600
ONSITE, ONLINE = 20, 80


async def answers_on_topic(bootstrap: str, request_ids: set[UUID]) -> dict[UUID, set[UUID]]:
    """Every distinct answer (by its message_id) of each request, read from the whole topic."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **as_admin())
    found: dict[UUID, set[UUID]] = defaultdict(set)
    await consumer.start()
    try:
        tps = [TopicPartition(PROGRAM_EVENTS.name, p) for p in range(PROGRAM_EVENTS.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        while any([await consumer.position(tp) < offset for tp, offset in end.items()]):
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    try:
                        event = program_event_adapter.validate_json(record.value or b"")
                    except ValueError:
                        continue  # a record another test wrote to try the consumers
                    request_id = getattr(event, "request_id", None)
                    if request_id in request_ids:
                        found[request_id].add(event.message_id)
    finally:
        await consumer.stop()
    return found


def rush(session_id: UUID, program_id: UUID) -> list[RequestRegistration]:
    return [
        RequestRegistration(
            message_id=uuid4(), program_id=program_id, session_ids=[session_id],
            frame=Frame.ONSITE if i % 3 == 0 else Frame.ONLINE, party_size=1 + i % 2,
            name="参加 希望", email=f"crash-{uuid4().hex[:8]}@example.org",
        )
        for i in range(REQUESTS)
    ]  # fmt: skip


async def test_sigkill_mid_rush_then_restart_gives_each_request_exactly_one_answer(
    system: System,
) -> None:
    start = datetime.now(UTC) + timedelta(days=20)
    session = SessionPlan(session_id=uuid4(), starts_at=start, ends_at=start + timedelta(hours=2),
                          venue=Venue.OUTSIDE,
                          frames=[FramePlan(frame=Frame.ONSITE, capacity=ONSITE),
                                  FramePlan(frame=Frame.ONLINE, capacity=ONLINE)])  # fmt: skip
    plan = CreateProgram(
        message_id=uuid4(),
        kind=ProgramKind.FORUM,
        title="みらいリンクフォーラム",
        sessions=[session],
        registration_opens_at=datetime.now(UTC) - timedelta(days=1),
    )
    client: CommandClient[ProgramEventT] = CommandClient(
        system.stack.kafka_bootstrap, PROGRAM_COMMANDS, PROGRAM_EVENTS, program_event_adapter,
        sender=credentials("web"), reader=credentials("admin"),
        proof=identity_support.token_for,
    )  # fmt: skip
    async with client:
        assert await client.request(plan, 30) is not None
        published = PublishProgram(message_id=uuid4(), program_id=plan.message_id)
        assert await client.request(published, 30) is not None
        commands = rush(session.session_id, plan.message_id)
        futures = []
        for i, cmd in enumerate(commands):
            futures.append(await client.send(cmd))
            if i == REQUESTS // 3:
                await asyncio.wait_for(asyncio.gather(*futures[:30]), 60)  # it is working
                pid = system.stack.pid("events")
                assert pid is not None
                os.kill(pid, signal.SIGKILL)
            if i == 2 * REQUESTS // 3:
                system.stack.stop_component("events")  # clears the dead process's pid file
                await asyncio.to_thread(system.start, "events")
        answers = await asyncio.wait_for(asyncio.gather(*futures), 180)

    confirmed = [a for a in answers if isinstance(a, RegistrationConfirmed)]
    seats = {f: sum(a.party_size for a in confirmed if a.frame is f) for f in Frame}
    assert seats == {Frame.ONSITE: ONSITE, Frame.ONLINE: ONLINE}
    per_request = await answers_on_topic(system.stack.kafka_bootstrap,
                                         {c.message_id for c in commands})  # fmt: skip
    assert len(per_request) == REQUESTS
    assert all(len(ids) == 1 for ids in per_request.values())
    conn = await asyncpg.connect(system.dsn("events"))
    try:
        held = await conn.fetch("SELECT frame, held, capacity FROM places WHERE session_id = $1",
                                session.session_id)  # fmt: skip
        stored = await conn.fetchval(
            "SELECT count(*) FROM registrations WHERE request_id = ANY($1::uuid[])",
            [c.message_id for c in commands],
        )
    finally:
        await conn.close()
    assert all(r["held"] == r["capacity"] for r in held)
    assert stored == REQUESTS, "one registration (confirmed or waiting) per request"
