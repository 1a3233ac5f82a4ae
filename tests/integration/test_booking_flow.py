"""The first slice on the real stack:
kiosk → Kafka → booking → PostgreSQL → Kafka → notify → SMTP."""

from __future__ import annotations

import asyncio
import json
from uuid import uuid4

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from clients.kiosk.client import BookingClient
from contracts.booking import (
    RejectionReason,
    ReservationConfirmed,
    ReservationRejected,
    SpaceId,
)
from tests.harness import proven_headers
from tests.support import (
    DAYS,
    System,
    as_admin,
    at,
    login,
    register,
    reservation,
    unique_email,
)

pytestmark = pytest.mark.stack


async def test_a_valid_request_is_confirmed_and_the_organisation_is_emailed(
    system: System, client: BookingClient
) -> None:
    contact = unique_email()
    org = await register(client, contact)
    day = DAYS.next()
    outcome = await client.request(reservation(org, SpaceId.AB, at(day, 10), at(day, 12)), 30)
    assert isinstance(outcome, ReservationConfirmed)
    assert outcome.reservation.space is SpaceId.AB
    mails = await system.wait_for_mails(contact, 2)
    subjects = sorted(str(m["Subject"]) for m in mails)
    assert len(mails) == 2, subjects
    assert any("団体登録" in s for s in subjects) and any("予約確定" in s for s in subjects)


@pytest.mark.parametrize(
    ("space", "start", "end", "attendees", "atrium", "reason"),
    [
        (SpaceId.A, (7, 30), (9, 0), 5, False, RejectionReason.CLOSED),
        (SpaceId.A, (10, 0), (11, 0), 25, False, RejectionReason.CAPACITY),
        (SpaceId.A, (10, 0), (10, 45), 5, False, RejectionReason.INVALID),
        (SpaceId.B, (10, 0), (11, 0), 5, True, RejectionReason.INVALID),
    ],
)
async def test_each_rule_rejects_with_its_reason(
    client: BookingClient,
    space: SpaceId,
    start: tuple[int, int],
    end: tuple[int, int],
    attendees: int,
    atrium: bool,
    reason: RejectionReason,
) -> None:
    org = await register(client)
    day = DAYS.next()
    cmd = reservation(org, space, at(day, *start), at(day, *end), attendees, atrium)
    outcome = await client.request(cmd, 30)
    assert isinstance(outcome, ReservationRejected)
    assert outcome.reason is reason
    assert outcome.request_id == cmd.message_id


async def test_unregistered_organisation_is_rejected(client: BookingClient) -> None:
    day = DAYS.next()
    outcome = await client.request(reservation(uuid4(), SpaceId.A, at(day, 10), at(day, 11)), 30)
    assert isinstance(outcome, ReservationRejected)
    assert outcome.reason is RejectionReason.NOT_REGISTERED


async def test_ab_conflicts_with_a_and_with_b_but_a_and_b_coexist(
    system: System, client: BookingClient
) -> None:
    org = await register(client)
    day = DAYS.next()
    a = await client.request(reservation(org, SpaceId.A, at(day, 10), at(day, 12)), 30)
    b = await client.request(reservation(org, SpaceId.B, at(day, 11), at(day, 13)), 30)
    over_a = await client.request(reservation(org, SpaceId.AB, at(day, 9), at(day, 10, 30)), 30)
    over_b = await client.request(reservation(org, SpaceId.AB, at(day, 12, 30), at(day, 15)), 30)
    after = await client.request(reservation(org, SpaceId.AB, at(day, 13), at(day, 15)), 30)
    assert isinstance(a, ReservationConfirmed) and isinstance(b, ReservationConfirmed)
    assert isinstance(over_a, ReservationRejected) and over_a.reason is RejectionReason.CONFLICT
    assert isinstance(over_b, ReservationRejected) and over_b.reason is RejectionReason.CONFLICT
    assert isinstance(after, ReservationConfirmed)  # end times are exclusive


async def test_atrium_use_conflicts_with_other_atrium_use(client: BookingClient) -> None:
    org = await register(client)
    day = DAYS.next()
    first = await client.request(
        reservation(org, SpaceId.AB, at(day, 10), at(day, 12), atrium=True), 30
    )
    second = await client.request(
        reservation(org, SpaceId.AB, at(day, 11), at(day, 13), atrium=True), 30
    )
    assert isinstance(first, ReservationConfirmed)
    assert isinstance(second, ReservationRejected) and second.reason is RejectionReason.CONFLICT


async def test_fifty_concurrent_overlapping_requests_confirm_exactly_one(
    system: System, client: BookingClient
) -> None:
    orgs = [await register(client) for _ in range(5)]
    day = DAYS.next()
    # every request holds Space A over 11:00-11:30, through A alone or A+B, from several
    # organisations, keyed to different partitions and so spread over both booking instances
    commands = [
        reservation(
            orgs[i % 5],
            SpaceId.A if i % 2 else SpaceId.AB,
            at(day, 10 + (i % 2), 0 if i % 3 else 30),
            at(day, 12 + (i % 3)),
        )
        for i in range(50)
    ]
    outcomes = await asyncio.gather(*(client.request(c, 60) for c in commands))
    confirmed = [o for o in outcomes if isinstance(o, ReservationConfirmed)]
    rejected = [o for o in outcomes if isinstance(o, ReservationRejected)]
    assert len(confirmed) == 1
    assert len(rejected) == 49 and {r.reason for r in rejected} == {RejectionReason.CONFLICT}


async def test_a_retried_command_is_answered_again_and_acts_once(
    system: System, client: BookingClient
) -> None:
    contact = unique_email()
    org = await register(client, contact)
    day = DAYS.next()
    cmd = reservation(org, SpaceId.B, at(day, 14), at(day, 16))
    first = await client.request(cmd, 30)
    again = await client.request(cmd, 30)  # same message_id, as a kiosk retry sends it
    assert isinstance(first, ReservationConfirmed) and isinstance(again, ReservationConfirmed)
    assert again.reservation_id == first.reservation_id
    assert again.message_id == first.message_id
    conn = await asyncpg.connect(system.dsn("booking"))
    try:
        count = await conn.fetchval(
            "SELECT count(*) FROM reservations WHERE request_id = $1", cmd.message_id
        )
    finally:
        await conn.close()
    assert count == 1
    mails = await system.wait_for_mails(contact, 2)
    assert len(mails) == 2  # the registration and one confirmation, not two


async def test_a_redelivered_event_sends_one_email(system: System, client: BookingClient) -> None:
    contact = unique_email()
    org = await register(client, contact)
    day = DAYS.next()
    outcome = await client.request(reservation(org, SpaceId.A, at(day, 15), at(day, 16)), 30)
    assert isinstance(outcome, ReservationConfirmed)
    await system.wait_for_mails(contact, 2)
    # admin plays booking's relay: only booking's principal may write booking.events
    producer = AIOKafkaProducer(bootstrap_servers=system.stack.kafka_bootstrap, **as_admin())
    await producer.start()
    try:  # Kafka's at-least-once: the same event arrives at notify once more
        await producer.send_and_wait("booking.events", outcome.model_dump_json().encode(), key=b"a")
    finally:
        await producer.stop()
    mails = await system.wait_for_mails(contact, 2)  # once notify has read the repeat too
    assert len(mails) == 2


async def dlq_records_with(
    bootstrap: str, marker: bytes, expected: int, timeout: float
) -> list[dict[str, str]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **as_admin())
    await consumer.start()
    found: list[dict[str, str]] = []
    try:
        tp = TopicPartition("booking.commands.dlq", 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline and len(found) < expected:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for r in records:
                    if r.value and marker in r.value:
                        found.append({k: v.decode() for k, v in r.headers})
    finally:
        await consumer.stop()
    return found


async def test_a_malformed_message_goes_to_the_dlq_and_the_partition_keeps_flowing(
    system: System, client: BookingClient
) -> None:
    org = await register(client)
    day = DAYS.next()
    marker = uuid4().hex.encode()
    producer = AIOKafkaProducer(bootstrap_servers=system.stack.kafka_bootstrap, **login("kiosk"))
    await producer.start()
    try:  # same key as the good request after it: same partition, right before it
        await producer.send_and_wait("booking.commands", b"{not json " + marker, key=b"a")
        bad_schema = {
            "type": "reservation.requested",
            "message_id": str(uuid4()),
            "m": marker.decode(),
        }
        await producer.send_and_wait("booking.commands", json.dumps(bad_schema).encode(), key=b"a")
    finally:
        await producer.stop()
    outcome = await client.request(reservation(org, SpaceId.A, at(day, 9), at(day, 10)), 30)
    assert isinstance(outcome, ReservationConfirmed)
    records = await dlq_records_with(system.stack.kafka_bootstrap, marker, 2, timeout=20)
    assert len(records) == 2
    reasons = sorted(r["error"] for r in records)
    assert reasons[0].startswith("invalid message") and "organisation_id" in reasons[0]
    assert reasons[1].startswith("not JSON")
    assert all(r["original_topic"] == "booking.commands" for r in records)


async def test_a_command_with_binary_or_empty_headers_is_still_handled(
    system: System, client: BookingClient
) -> None:
    """Headers are free-form bytes in Kafka; a client's odd header must not stall a partition."""
    org = await register(client)
    day = DAYS.next()
    cmd = reservation(org, SpaceId.B, at(day, 16), at(day, 17))
    future = client.waiting.setdefault(cmd.message_id, asyncio.get_running_loop().create_future())
    producer = AIOKafkaProducer(bootstrap_servers=system.stack.kafka_bootstrap, **login("kiosk"))
    await producer.start()
    try:
        await producer.send_and_wait(
            "booking.commands",
            cmd.model_dump_json().encode(),
            key=b"b",
            headers=[
                ("trace", b"\xff\xfe\x00binary"),
                ("empty", None),
                *[(k, v.encode()) for k, v in proven_headers(cmd).items()],
            ],
        )
    finally:
        await producer.stop()
    outcome = await asyncio.wait_for(future, 30)
    assert isinstance(outcome, ReservationConfirmed)
