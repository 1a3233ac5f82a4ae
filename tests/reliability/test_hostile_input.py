"""A catalogue of hostile records thrown at every topic the services consume, on the real stack.

Whatever a record holds (bad JSON, deep nesting, huge values, NUL and lone surrogates, binary
keys and headers, unknown types, overflowing dates), it must end up answered or dead-lettered and
counted, and a valid command sent afterwards must be answered within seconds: no record may stall
a partition. The relay must set aside a row Kafka can never take and keep publishing the rest.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord

from clients.kiosk.client import BookingClient
from contracts.booking import (
    OrganisationCommandRejected,
    OrganisationRegistered,
    RejectionReason,
    ReservationRejected,
)
from contracts.envelope import Message
from contracts.identity import Role
from contracts.topics import (
    BOOKING_COMMANDS,
    BOOKING_EVENTS,
    CONSULTATION_COMMANDS,
    CONSULTATION_EVENTS,
    NOTIFY_COMMANDS,
    NOTIFY_EVENTS,
    PROGRAM_COMMANDS,
    PROGRAM_EVENTS,
    Topic,
)
from tests.harness import proven_headers
from tests.identity_support import DESK_ROLES, kafka_headers, staff_token
from tests.support import (
    System,
    as_admin,
    as_sender,
    kcat_login,
    register_command,
    topic_records,
)

pytestmark = pytest.mark.stack

FIXTURES = Path(__file__).parents[1] / "contract" / "fixtures"
ANSWER_WITHIN_S = 30.0


def fixture(fixture_name: str, /, **changes: object) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{fixture_name}.v1.json").read_text("utf-8"))
    return {**data, "message_id": str(uuid4()), **changes}


def encode(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode("utf-8", "surrogatepass")


@dataclass(frozen=True)
class Bad:
    """A hostile record, and whether the service can answer it (it names its message_id)."""

    name: str
    value: bytes | None
    key: bytes | None = b"a"
    headers: tuple[tuple[str, bytes], ...] = ()
    answered_id: UUID | None = None
    skipped: bool = False  # an unknown type on an events topic: skipped and counted


def answered(name: str, data: dict[str, Any], key: bytes | None = b"a") -> Bad:
    return Bad(name, encode(data), key, answered_id=UUID(data["message_id"]))


def unreadable(topic_type: str) -> list[Bad]:
    """Records nobody can read, whatever the topic: each must reach the DLQ as it came."""
    return [
        Bad("empty", b""),
        Bad("tombstone", None),
        Bad("not json", b"{oops"),
        Bad("deep nesting", b"[" * 20_000),
        Bad("deep nesting in a field", b'{"type": "x", "a": ' + b"[" * 5_000 + b"]" * 5_000 + b"}"),
        Bad("600 KB type", encode({"type": "x" * 600_000, "message_id": str(uuid4())})),
        Bad("NUL in the key", b"garbage", key=b"a\x00b"),
        Bad(
            "binary key and headers",
            b"\xff\xfe\x00\x01",
            key=b"\xff\xfe\x00",
            headers=(("type", b"\xff\xfe"), ("x-empty", b"")),
        ),
        Bad("lone surrogate", b'{"type": "' + topic_type.encode() + b'", "x": "\\ud800"}'),
        Bad("900 KB value without an id", encode({"type": topic_type, "purpose": "a" * 900_000})),
        Bad("a JSON string", b'"reservation.requested"'),
    ]


def booking_catalogue() -> list[Bad]:
    request = "reservation.requested"
    return [
        *unreadable(request),
        Bad("unknown command type", encode(fixture(request, type="reservation.teleport"))),
        answered("attendees true", fixture(request, attendees=True)),
        answered("attendees as text", fixture(request, attendees="5")),
        answered("year 0001", fixture(request, starts_at="0001-01-01T00:00:00+09:00")),
        answered("year 9999", fixture(request, ends_at="9999-12-31T23:59:59-09:00")),
        answered("a bare number as a day", fixture("day.blackout", day=20270108)),
        answered("naive time", fixture(request, starts_at="2027-01-08T10:00:00")),
        answered("NUL in a field", fixture(request, purpose="a\u0000b")),
        answered("NUL in the key too", fixture(request, purpose="a\u0000b"), key=b"a\x00"),
        answered("not a uuid", fixture(request, organisation_id="not-a-uuid")),
        answered("missing field", {k: v for k, v in fixture(request).items() if k != "space"}),
        answered("CR LF in a name", fixture("organisation.register", name="x\r\nBcc: a@b.c")),
        answered("NEL in a name", fixture("organisation.register", name="x\u0085Bcc: a@b.c")),
        answered(
            "nested object for a string",
            fixture("organisation.register", name={"a": [1, {"b": 2}]}),
        ),
    ]


def notify_catalogue() -> list[Bad]:
    publish = "newsletter.publish"
    return [
        *unreadable(publish),
        Bad("unknown command type", encode(fixture(publish, type="newsletter.burn"))),
        answered("CR LF in the subject", fixture(publish, subject="Hi\r\nBcc: all@example.org")),
        answered("line separator in the subject", fixture(publish, subject="Hi\u2028Bcc: x")),
        answered("year 0001 send_at", fixture(publish, send_at="0001-01-01T00:00:00+09:00")),
        answered("NUL in the body", fixture(publish, body_markdown="a\u0000b")),
        answered("address not an address", fixture("subscription.requested", email="no")),
    ]


def program_catalogue() -> list[Bad]:
    register = "registration.requested"
    return [
        *unreadable(register),
        Bad("unknown command type", encode(fixture(register, type="registration.steal"))),
        answered("party of a thousand", fixture(register, party_size=1000)),
        answered("party as text", fixture(register, party_size="2")),
        answered("NUL in a name", fixture(register, name="a\u0000b")),
        answered("CR LF in a name", fixture(register, name="x\r\nBcc: a@b.c")),
        answered("not a uuid", fixture(register, program_id="not-a-uuid")),
        answered("year 0001", fixture("session.change", starts_at="0001-01-01T00:00:00+09:00")),
        answered("nested object for a code", fixture("attendance.check_in", code={"a": [1]})),
    ]


def consultation_catalogue() -> list[Bad]:
    close = "case.close"
    return [
        *unreadable(close),
        Bad("unknown command type", encode(fixture(close, type="case.shred"))),
        answered("an outcome nobody has", fixture(close, outcome="vanished")),
        answered("not a uuid", fixture(close, case_id="not-a-uuid")),
        answered("NUL in an assignee", fixture("case.assign", assignee="a\u0000b")),
        answered("CR LF in an assignee", fixture("case.assign", assignee="x\r\nBcc: a@b.c")),
        answered("a topic listed twice", fixture("case.classify", topics=["tax", "tax"])),
        answered("a thousand topics", fixture("case.classify", topics=["tax"] * 1000)),
    ]


def events_catalogue() -> list[Bad]:
    """On booking.events, which notify reads: events are not answered, only dead-lettered."""
    registered = "organisation.registered"
    return [
        *(
            replace(b, skipped=True) if b.name == "600 KB type" else b
            for b in unreadable(registered)
        ),
        Bad("invalid event", encode(fixture(registered, contact={"name": "x", "email": 5}))),
        Bad("NUL in an event", encode(fixture(registered, name="a\u0000b"))),
    ]


async def throw(bootstrap: str, topic: str, records: list[Bad]) -> dict[str, tuple[int, int]]:
    """Produce the records; (partition, offset) of each by name."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, max_request_size=2 * 1024 * 1024, **as_sender(topic)
    )
    await producer.start()
    where = {}
    try:
        for bad in records:
            meta = await producer.send_and_wait(topic, bad.value, key=bad.key,
                                                headers=list(bad.headers))  # fmt: skip
            where[bad.name] = (meta.partition, meta.offset)
    finally:
        await producer.stop()
    return where


async def wait_until(check: Callable[[], Any], timeout: float = ANSWER_WITHIN_S) -> Any:
    """Poll an async check until it returns something truthy (or the time is up)."""
    deadline = time.monotonic() + timeout
    while True:
        found = await check()
        if found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.5)


async def dead_lettered(bootstrap: str, topic: Topic) -> set[tuple[int, int]]:
    """(partition, offset) of the originals of the dead letters of `topic`."""
    found = set()
    for record in await topic_records(bootstrap, topic.dlq):
        headers = {k: v.decode() for k, v in record.headers}
        if headers.get("original_topic") == topic.name:
            found.add((int(headers["original_partition"]), int(headers["original_offset"])))
    return found


async def answers(bootstrap: str, topic: Topic, ids: set[UUID]) -> dict[UUID, dict[str, Any]]:
    found = {}
    for record in await topic_records(bootstrap, topic):
        try:
            data = json.loads(record.value or b"")
            request_id = UUID(data["request_id"])
        except (ValueError, KeyError, TypeError):
            continue
        if request_id in ids:
            found[request_id] = data
    return found


def metric(port: int, name: str, **labels: str) -> float:
    """The sum of a metric's samples with these labels on one service's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def dead_letter_count(system: System, names: list[str], topic: str) -> float:
    ports = [system.by_name[n].http_port for n in names]
    return sum(metric(p, "dead_letters_total", topic=topic) for p in ports)


async def check_accounted(
    system: System, topic: Topic, answers_on: Topic, records: list[Bad], where: dict[str, Any],
    services: list[str], counted_before: float,
) -> None:  # fmt: skip
    bootstrap = system.stack.kafka_bootstrap
    expected = {where[b.name] for b in records if not b.skipped}

    async def all_dead_lettered() -> bool:
        return expected <= await dead_lettered(bootstrap, topic)

    await wait_until(all_dead_lettered)
    missing = expected - await dead_lettered(bootstrap, topic)
    assert not missing, [name for name, at in where.items() if at in missing]

    ids = {b.answered_id for b in records if b.answered_id is not None}
    got = await answers(bootstrap, answers_on, ids)
    assert set(got) == ids, [b.name for b in records if b.answered_id not in got]
    assert all(a["reason"] == "invalid" for a in got.values())
    for bad in records:
        if bad.answered_id is not None:
            detail = got[bad.answered_id].get("detail", "")  # consultation's carry none
            assert "\x00" not in detail and "Bcc" not in detail and "\r" not in detail

    counted = dead_letter_count(system, services, topic.name) - counted_before
    assert counted >= len(expected), (counted, len(expected))


async def test_hostile_booking_commands_are_answered_or_dead_lettered_and_the_topic_flows(
    system: System, client: BookingClient
) -> None:
    services = ["booking-1", "booking-2"]
    before = dead_letter_count(system, services, BOOKING_COMMANDS.name)
    records = booking_catalogue()
    where = await throw(system.stack.kafka_bootstrap, BOOKING_COMMANDS.name, records)

    started = time.monotonic()
    outcome = await client.request(register_command(), timeout=ANSWER_WITHIN_S)
    assert isinstance(outcome, OrganisationRegistered)
    print(f"valid command after {len(records)} hostile records answered in "
          f"{time.monotonic() - started:.2f} s")  # fmt: skip

    await check_accounted(system, BOOKING_COMMANDS, BOOKING_EVENTS, records, where,
                          services, before)  # fmt: skip


async def test_an_invalid_command_is_answered_with_its_own_rejection_event(
    client: BookingClient,
) -> None:
    data = fixture("reservation.requested", attendees=True)
    producer_answer = await send_raw_and_wait(client, data)
    assert isinstance(producer_answer, ReservationRejected)
    assert producer_answer.reason is RejectionReason.INVALID
    assert "attendees" in producer_answer.detail


def proof(message: Message) -> list[tuple[str, bytes]]:
    return [(k, v.encode()) for k, v in proven_headers(message).items()]


async def send_raw_and_wait(client: BookingClient, data: dict[str, Any]) -> Any:
    """Publish hand-made JSON (no model could build it) and await its answer by request_id."""
    request_id = UUID(data["message_id"])
    future = asyncio.get_running_loop().create_future()
    client.waiting[request_id] = future
    proof = [(k, v.encode()) for k, v in kafka_headers(staff_token(*DESK_ROLES)).items()]
    await client.producer.send_and_wait(BOOKING_COMMANDS.name, encode(data), key=b"a",
                                        headers=proof)  # fmt: skip
    return await asyncio.wait_for(future, ANSWER_WITHIN_S)


async def test_a_reused_message_id_with_other_content_is_answered_id_reused(
    client: BookingClient,
) -> None:
    first = register_command()
    outcome = await client.request(first, timeout=ANSWER_WITHIN_S)
    assert isinstance(outcome, OrganisationRegistered)

    again = await client.request(first, timeout=ANSWER_WITHIN_S)  # a faithful retry
    assert again == outcome

    other = first.model_copy(update={"name": "別の団体"})
    refused = await client.request(other, timeout=ANSWER_WITHIN_S)
    assert isinstance(refused, OrganisationCommandRejected)
    assert refused.reason is RejectionReason.ID_REUSED and refused.request_id == first.message_id


async def test_hostile_notify_commands_are_answered_or_dead_lettered_and_the_topic_flows(
    system: System,
) -> None:
    bootstrap = system.stack.kafka_bootstrap
    before = dead_letter_count(system, ["notify"], NOTIFY_COMMANDS.name)
    records = notify_catalogue()
    where = await throw(bootstrap, NOTIFY_COMMANDS.name, records)

    # a valid command afterwards: an issue for far in the future (nobody gets it now)
    valid = fixture("newsletter.publish", send_at="2999-01-01T00:00:00+00:00")
    editor = kafka_headers(staff_token(Role.NEWSLETTER_EDITOR, subject="editor-1"))
    proven = replace(answered("valid", valid),
                     headers=tuple((k, v.encode()) for k, v in editor.items()))  # fmt: skip
    await throw(bootstrap, NOTIFY_COMMANDS.name, [proven])

    async def scheduled() -> dict[UUID, dict[str, Any]]:
        return await answers(bootstrap, NOTIFY_EVENTS, {UUID(valid["message_id"])})

    assert (await wait_until(scheduled))[UUID(valid["message_id"])]["type"] == (
        "newsletter.scheduled"
    )
    await check_accounted(system, NOTIFY_COMMANDS, NOTIFY_EVENTS, records, where,
                          ["notify"], before)  # fmt: skip


@pytest.mark.parametrize(
    ("topic", "answers_on", "service", "catalogue", "valid"),
    [
        (PROGRAM_COMMANDS, PROGRAM_EVENTS, "events", program_catalogue, "registration.cancel"),
        (CONSULTATION_COMMANDS, CONSULTATION_EVENTS, "consultation", consultation_catalogue,
         "case.close"),
    ],
)  # fmt: skip
async def test_hostile_program_and_consultation_commands_are_accounted_and_the_topic_flows(
    system: System,
    topic: Topic,
    answers_on: Topic,
    service: str,
    catalogue: Callable[[], list[Bad]],
    valid: str,
) -> None:
    """The events and consultation services read their command topics with the same runtime:
    every hostile record is answered as invalid or dead-lettered as it came, and a command
    sent afterwards is answered (here refused: it names nothing that exists)."""
    bootstrap = system.stack.kafka_bootstrap
    before = dead_letter_count(system, [service], topic.name)
    records = catalogue()
    where = await throw(bootstrap, topic.name, records)
    after = answered("afterwards", fixture(valid))
    await throw(bootstrap, topic.name, [after])

    async def answered_after() -> dict[UUID, dict[str, Any]]:
        assert after.answered_id is not None
        return await answers(bootstrap, answers_on, {after.answered_id})

    assert await wait_until(answered_after)
    await check_accounted(system, topic, answers_on, records, where, [service], before)


async def test_hostile_booking_events_are_dead_lettered_by_notify_which_keeps_mailing(
    system: System, client: BookingClient
) -> None:
    bootstrap = system.stack.kafka_bootstrap
    before = dead_letter_count(system, ["notify"], BOOKING_EVENTS.name)
    port = system.by_name["notify"].http_port
    skipped_before = metric(port, "messages_consumed_total", outcome="ignored")
    records = events_catalogue()
    where = await throw(bootstrap, BOOKING_EVENTS.name, records)

    command = register_command()
    outcome = await client.request(command, timeout=ANSWER_WITHIN_S)
    assert isinstance(outcome, OrganisationRegistered)
    mails = await system.wait_for_mails(str(command.contact_email), 1, timeout=ANSWER_WITHIN_S)
    assert len(mails) == 1  # the welcome e-mail: notify read past every hostile record

    await check_accounted(system, BOOKING_EVENTS, NOTIFY_EVENTS, records, where,
                          ["notify"], before)  # fmt: skip
    assert metric(port, "messages_consumed_total", outcome="ignored") > skipped_before


async def test_a_row_kafka_can_never_take_is_set_aside_and_the_rest_flows(
    system: System, client: BookingClient
) -> None:
    conn = await asyncpg.connect(system.dsn("booking"))
    try:
        row_id = await conn.fetchval(
            "INSERT INTO outbox (topic, key, value) VALUES ($1, 'big', $2) RETURNING id",
            BOOKING_EVENTS.name,
            b"x" * (5 * 1024 * 1024),
        )
        outcome = await client.request(register_command(), timeout=ANSWER_WITHIN_S)
        assert isinstance(outcome, OrganisationRegistered)  # the relay went on past it

        async def set_aside() -> str | None:
            reason: str | None = await conn.fetchval(
                "SELECT last_error FROM outbox WHERE id = $1 AND set_aside_at IS NOT NULL",
                row_id,
            )
            return reason

        reason = await wait_until(set_aside)
        assert reason is not None and "too large" in reason
    finally:
        await conn.execute("DELETE FROM outbox WHERE id = $1", row_id)
        await conn.close()
    ports = [system.by_name[n].http_port for n in ("booking-1", "booking-2")]
    assert sum(metric(p, "outbox_rows_set_aside_total") for p in ports) >= 1


async def test_a_header_key_that_is_not_text_is_dead_lettered_and_the_topic_flows(
    system: System, client: BookingClient
) -> None:
    """aiokafka cannot decode such a record at all: written with kcat, as an outsider would."""
    kcat = shutil.which("kcat")
    assert kcat is not None, "the stack installs kcat"
    marker = f"binary-header-key-{uuid4()}".encode()
    bootstrap = system.stack.kafka_bootstrap
    for args in ([b"-H", b"\xff\xfe=x"], [b"-H", b"\xc3(=\xff", b"-k", b"\xff\x01"]):
        written = await asyncio.to_thread(
            subprocess.run,
            [kcat.encode(), b"-P", b"-b", bootstrap.encode(), b"-t", b"booking.commands",
             *(a.encode() for a in kcat_login("kiosk")), b"-k", b"a", *args],
            input=marker, capture_output=True, timeout=30, check=False,
        )  # fmt: skip
        assert written.returncode == 0, written.stderr

    outcome = await client.request(register_command(), timeout=ANSWER_WITHIN_S)
    assert isinstance(outcome, OrganisationRegistered)

    async def copies() -> list[ConsumerRecord[bytes, bytes]]:
        found = await topic_records(bootstrap, BOOKING_COMMANDS.dlq)
        mine = [r for r in found if r.value == marker]
        return mine if len(mine) >= 2 else []

    found = await wait_until(copies)
    assert len(found) == 2  # both kept, value and key as they came, with why
    assert all(dict(r.headers).get("error", b"").startswith(b"a header key") for r in found)


@pytest.mark.parametrize("codec", ["snappy", "lz4", "zstd", "gzip"])
async def test_a_command_compressed_with_any_codec_kafka_has_is_answered(
    system: System, client: BookingClient, codec: str
) -> None:
    """Producers choose their compression; the services read every codec Kafka has."""
    kcat = shutil.which("kcat")
    assert kcat is not None, "the stack installs kcat"
    command = register_command()
    future = asyncio.get_running_loop().create_future()
    client.waiting[command.message_id] = future
    written = await asyncio.to_thread(
        subprocess.run,
        [kcat, "-P", "-b", system.stack.kafka_bootstrap, "-t", BOOKING_COMMANDS.name,
         *kcat_login("kiosk"), "-k", command.partition_key(), "-z", codec,
         "-H", f"authorization={proof(command)[-1][1].decode()}"],
        input=command.model_dump_json().encode(), capture_output=True, timeout=30, check=False,
    )  # fmt: skip
    assert written.returncode == 0, written.stderr
    assert isinstance(await asyncio.wait_for(future, ANSWER_WITHIN_S), OrganisationRegistered)


async def test_a_command_from_an_aborted_transaction_is_never_carried_out(
    system: System, client: BookingClient
) -> None:
    aborted, after = register_command(), register_command()
    key = b"same-partition"
    # admin: a transactional producer needs a transactional id grant no client principal has
    producer = AIOKafkaProducer(bootstrap_servers=system.stack.kafka_bootstrap,
                                transactional_id=f"hostile-{uuid4()}", **as_admin())  # fmt: skip
    await producer.start()
    try:
        await producer.begin_transaction()
        await producer.send_and_wait(BOOKING_COMMANDS.name, aborted.model_dump_json().encode(),
                                     key=key, headers=proof(aborted))  # fmt: skip
        await producer.abort_transaction()
        waiting = asyncio.get_running_loop().create_future()
        client.waiting[aborted.message_id] = waiting
        later = asyncio.get_running_loop().create_future()
        client.waiting[after.message_id] = later
        async with producer.transaction():
            await producer.send_and_wait(BOOKING_COMMANDS.name, after.model_dump_json().encode(),
                                         key=key, headers=proof(after))  # fmt: skip
    finally:
        await producer.stop()
    assert isinstance(await asyncio.wait_for(later, ANSWER_WITHIN_S), OrganisationRegistered)
    # the later record of the same partition is decided: the aborted one was read past
    assert not waiting.done()
