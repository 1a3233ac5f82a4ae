"""The runtime's consumer path as booking runs it (tests/harness.py): whatever a record holds, it
is handled, answered or dead-lettered, and the rest of its batch goes on; a retried command is
answered again and acted on once; an id reused for another request is told so. The same rules
hold on the real stack for every consumed topic (tests/reliability/test_hostile_input.py); here
each takes milliseconds, so the cases can be many."""

from __future__ import annotations

import json

import pytest

from contracts.booking import (
    OrganisationCommandRejected,
    OrganisationRegistered,
    RejectionReason,
    SpaceId,
)
from contracts.topics import BOOKING_COMMANDS
from tests.harness import RawRecord, ServiceHarness, proven_headers
from tests.support import DAYS, at, register_command, reservation

pytestmark = pytest.mark.middle


def raw(value: bytes, key: bytes | None = b"a") -> RawRecord:
    return RawRecord(value, key, [("content-type", b"application/json")])


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (b"not json", "not JSON"),
        (b"[" * 20_000, "not JSON"),  # deeper than any parser's recursion
        (b'{"message_id": "x"}', "not a JSON object with a string field 'type'"),
        (b'{"type": "reservation.teleported"}', "unknown message type"),
        (b"", "empty message"),
    ],
)
async def test_a_record_nobody_can_read_is_dead_lettered_as_it_came(
    booking: ServiceHarness, value: bytes, why: str
) -> None:
    key = b"\xff\x00 not text"
    rows = await booking.deliver(BOOKING_COMMANDS, raw(value, key))
    (letter,) = rows
    assert letter.topic == "booking.commands.dlq"
    assert letter.key == key and letter.value == value
    assert why in letter.headers["error"] and letter.headers["original_topic"] == "booking.commands"
    assert letter.headers["consumer_group"] == "booking"  # who could not read it


async def test_header_values_of_any_bytes_do_not_stop_the_batch(booking: ServiceHarness) -> None:
    command = register_command()
    headers = [(k, v.encode()) for k, v in proven_headers(command).items()]
    headers += [("trace", b"\xff\xfe"), ("empty", None), ("nul", b"\x00")]
    record = RawRecord(command.model_dump_json().encode(), b"k", headers)
    (row,) = await booking.deliver(BOOKING_COMMANDS, record)
    assert isinstance(row.message(), OrganisationRegistered)


async def test_an_invalid_command_is_answered_invalid_and_a_copy_dead_lettered(
    booking: ServiceHarness,
) -> None:
    command = json.loads(register_command().model_dump_json())
    command["contact_email"] = "no address"
    command["name"] = "line\nbreak"
    value = json.dumps(command).encode()
    rows = await booking.deliver(BOOKING_COMMANDS, raw(value))
    answer, letter = rows
    rejection = answer.message()
    assert isinstance(rejection, OrganisationCommandRejected)
    assert str(rejection.request_id) == command["message_id"] and rejection.reason == "invalid"
    assert "contact_email" in rejection.detail and "no address" not in rejection.detail
    assert letter.dead_letter and letter.value == value
    again = await booking.deliver(BOOKING_COMMANDS, raw(value))  # its retry: the same answer
    assert [r.message() for r in again if not r.dead_letter] == [rejection]


async def test_a_poison_record_amid_a_batch_leaves_the_others_handled(
    booking: ServiceHarness,
) -> None:
    first, last = register_command(), register_command()
    records = [
        RawRecord(first.model_dump_json().encode(), b"k"),
        raw(b"{broken"),
        RawRecord(last.model_dump_json().encode(), b"k"),
    ]
    rows = await booking.deliver(BOOKING_COMMANDS, *records)
    assert sorted(r.dead_letter for r in rows) == [False, False, True]  # topics differ: no order
    answered = {r.message().request_id for r in rows if not r.dead_letter}  # type: ignore[attr-defined]
    assert answered == {first.message_id, last.message_id}


async def test_a_retried_command_is_answered_again_and_acts_once(booking: ServiceHarness) -> None:
    org = await booking.request(register_command())
    assert isinstance(org, OrganisationRegistered)
    day = DAYS.next()
    command = reservation(org.organisation_id, SpaceId.A, at(day, 10), at(day, 11))
    first = await booking.request(command)
    again = await booking.request(command)  # the client timed out and sent it again
    batch = await booking.send_batch([command, command])  # redelivered twice in one fetch
    assert again == first and batch == [first, first]  # the very same answer, same message_id
    held = await booking.pool.fetchval(
        "SELECT count(*) FROM reservations WHERE request_id = $1", command.message_id
    )
    assert held == 1


async def test_an_id_reused_for_another_request_is_told_so(booking: ServiceHarness) -> None:
    org = await booking.request(register_command())
    assert isinstance(org, OrganisationRegistered)
    day = DAYS.next()
    command = reservation(org.organisation_id, SpaceId.A, at(day, 10), at(day, 11))
    await booking.request(command)
    other = command.model_copy(update={"space": SpaceId.B})
    refused = await booking.request(other)
    assert getattr(refused, "reason", None) == RejectionReason.ID_REUSED
    assert await booking.pool.fetchval("SELECT count(*) FROM reservations") == 1


async def test_every_commit_wakes_the_relay(booking: ServiceHarness) -> None:
    """Answers leave at once, not at the relay's next poll."""
    await booking.send(register_command())
    await booking.deliver(BOOKING_COMMANDS, raw(b"junk"))
    assert booking.relay.wakes == 2
