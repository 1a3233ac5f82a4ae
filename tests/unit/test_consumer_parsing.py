"""How a consumer sorts what arrives: a handled type, a record that cannot be read (dead letter),
a command to answer as invalid, or a type to skip. Whatever a record holds, sorting it never
raises and never echoes the record's values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from contracts.booking import (
    COMMAND_REJECTIONS,
    OrganisationRegistered,
    RequestReservation,
    ReservationRejected,
)
from contracts.topics import BOOKING_COMMANDS, BOOKING_EVENTS
from services.runtime.consumer import BatchHandler, Parsed, Routes, Subscription, text_key
from services.runtime.identity import anyone
from services.runtime.kafka_records import UNREADABLE
from services.runtime.metrics import Metrics
from tests import identity_support

FIXTURES = Path(__file__).parents[1] / "contract" / "fixtures"


async def nothing(conn: Any, message: Any, caller: Any) -> list[Any]:
    return []


def handler(ignore_unknown: bool = False) -> BatchHandler:
    topic = BOOKING_EVENTS if ignore_unknown else BOOKING_COMMANDS
    routes = (
        Routes()
        .on(RequestReservation, nothing, allow=anyone)
        .on(OrganisationRegistered, nothing, allow=anyone)
    )
    subscription = Subscription(
        topic, routes, ignore_unknown, rejections=COMMAND_REJECTIONS, answers_on=BOOKING_EVENTS
    )
    return BatchHandler(
        subscription, pool=None, metrics=Metrics(), keyring=identity_support.keyring()
    )


class FakeRecord:
    def __init__(self, value: bytes | None, key: bytes | None = b"a") -> None:
        self.topic, self.partition, self.offset = BOOKING_COMMANDS.name, 0, 7
        self.key, self.value = key, value
        self.headers: list[tuple[str, bytes | None]] = []
        self.timestamp, self.timestamp_type = 0, 0


def classify(value: bytes, ignore_unknown: bool = False) -> Parsed:
    return handler(ignore_unknown).classify(FakeRecord(value))


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.v1.json").read_text("utf-8"))
    return data


def request(**changes: object) -> bytes:
    return json.dumps({**fixture("reservation.requested"), **changes}).encode()


def test_a_known_type_is_parsed_into_its_model() -> None:
    parsed = classify(request())
    assert isinstance(parsed.message, RequestReservation) and parsed.handler is nothing
    assert parsed.poison is None and parsed.invalid is None and parsed.digest


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"", "empty message"),
        (b"{oops", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"no_type": 1}', "not a JSON object"),
        (b"[" * 20_000, "not JSON"),
        (b'{"type": "reservation.requested", "purpose": "\\ud800"}', "invalid message"),
        (b"\xff\xfe\x00garbage", "not JSON"),
    ],
)
def test_unreadable_bytes_are_dead_lettered(value: bytes, reason: str) -> None:
    parsed = classify(value)
    assert parsed.poison is not None and parsed.poison.startswith(reason)
    assert parsed.message is None and parsed.invalid is None


def test_an_unknown_command_type_is_dead_lettered_with_a_bounded_reason() -> None:
    parsed = classify(json.dumps({"type": "x" * 600_000}).encode())
    assert parsed.poison is not None and "unknown message type" in parsed.poison
    assert len(parsed.poison) < 200


@pytest.mark.parametrize(
    "spelling",
    [
        "\u0000",  # json.dumps writes it as \u0000
        "\\u0000",  # a backslash and "u0000" in the text: no NUL, and still accepted
    ],
)
def test_nul_deep_inside_a_message_is_refused_whatever_the_record_looks_like(
    spelling: str,
) -> None:
    event = fixture("organisation.registered")
    event["contact"]["name"] = f"Hanako{spelling}Yamada"
    parsed = classify(json.dumps(event).encode(), ignore_unknown=True)
    if spelling == "\u0000":
        assert parsed.poison is not None and parsed.message is None
    else:
        assert isinstance(parsed.message, OrganisationRegistered), parsed.poison
        assert parsed.message.contact.name == f"Hanako{spelling}Yamada"


def test_a_message_built_in_code_refuses_nul_as_one_read_from_a_record_does() -> None:
    data = {**fixture("reservation.requested"), "purpose": "before\u0000after"}
    with pytest.raises(ValueError, match="NUL"):
        RequestReservation.model_validate(data)
    with pytest.raises(ValueError, match="NUL"):
        RequestReservation.model_validate(data, context={"nul_checked": False})


def test_an_unknown_event_type_is_skipped_so_contracts_can_grow() -> None:
    parsed = classify(b'{"type": "organisation.suspended"}', ignore_unknown=True)
    assert parsed.message is None and parsed.poison is None and parsed.invalid is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"attendees": True}, "attendees"),
        ({"attendees": "5"}, "attendees"),
        ({"starts_at": 1_700_000_000}, "starts_at"),
        ({"starts_at": "2027-01-08T10:00:00"}, "starts_at"),  # no offset
        ({"starts_at": "0001-01-01T00:00:00+09:00"}, "starts_at"),  # overflows in UTC
        ({"ends_at": "9999-12-31T23:59:59-09:00"}, "ends_at"),
        ({"organisation_id": "not-a-uuid"}, "organisation_id"),
        ({"purpose": "before\u0000after"}, "NUL"),
        ({"space": None}, "space"),
    ],
)
def test_a_command_that_names_itself_but_fails_validation_is_answered_invalid(
    change: dict[str, object], field: str
) -> None:
    parsed = classify(request(**change))
    assert parsed.invalid is not None, parsed.poison
    assert parsed.invalid.rejection is ReservationRejected
    assert (
        parsed.invalid.message_id
        == RequestReservation.model_validate(fixture("reservation.requested")).message_id
    )
    assert field in parsed.invalid.reason
    for value in change.values():
        if isinstance(value, str) and len(value) > 3:
            assert value not in parsed.invalid.reason  # the value itself is never echoed


def test_a_missing_field_is_named() -> None:
    data = fixture("reservation.requested")
    del data["starts_at"]
    parsed = classify(json.dumps(data).encode())
    assert parsed.invalid is not None and "starts_at" in parsed.invalid.reason


def test_a_command_without_a_readable_id_cannot_be_answered_and_is_dead_lettered() -> None:
    parsed = classify(request(message_id="nope", attendees=True))
    assert parsed.invalid is None and parsed.poison is not None


def test_a_reason_is_cleaned_of_control_characters() -> None:
    parsed = classify(json.dumps({"type": "evil\u0000\r\nX-Injected: 1"}).encode())
    assert parsed.poison is not None
    assert "\x00" not in parsed.poison and "\r" not in parsed.poison and "\n" not in parsed.poison


def test_the_same_request_restamped_has_the_same_digest_and_another_request_another() -> None:
    first = classify(request())
    restamped = classify(request(occurred_at="2027-01-01T00:00:00Z"))
    other = classify(request(attendees=6))
    assert first.digest == restamped.digest != other.digest


@pytest.mark.parametrize(
    ("key", "text"),
    [(b"a", "a"), (b"a\x00b", None), (b"\xff", None), (None, None), (b"k" * 500, None)],
)
def test_only_a_clean_text_key_is_reused_for_an_answer(key: bytes | None, text: str | None) -> None:
    assert text_key(key) == text


def test_any_message_id_in_the_answer_is_a_new_one() -> None:
    parsed = classify(request(attendees=True))
    assert parsed.invalid is not None
    answer = handler().rejection(
        parsed.invalid.rejection, parsed.invalid.message_id, None, "invalid", "x", FakeRecord(b"")
    )
    assert answer.message.message_id != parsed.invalid.message_id
    assert answer.message.model_dump()["request_id"] == parsed.invalid.message_id
    assert answer.key == "a" and answer.topic == BOOKING_EVENTS


def test_a_record_the_kafka_client_could_not_decode_is_dead_lettered() -> None:
    record = FakeRecord(request())
    record.headers = [(UNREADABLE, b"a header key is not UTF-8")]
    parsed = handler().classify(record)
    assert parsed.poison == "a header key is not UTF-8"


def test_a_type_gets_one_handler() -> None:
    with pytest.raises(ValueError, match="has a handler already"):
        Routes().on(RequestReservation, nothing, allow=anyone).on(
            RequestReservation, nothing, allow=anyone
        )


def test_an_unknown_type_is_not_quoted_in_the_reason_it_may_be_personal_data() -> None:
    parsed = classify(json.dumps({"type": "hanako.yamada@example.org 山田花子"}).encode())
    assert parsed.poison is not None and "unknown message type" in parsed.poison
    assert "hanako" not in parsed.poison and "山田" not in parsed.poison


def test_a_command_with_a_number_too_long_for_the_fast_parser_is_still_answered() -> None:
    value = request().replace(b'"attendees": 30', b'"attendees": ' + b"9" * 5_000)
    assert b"9" * 5_000 in value
    parsed = classify(value)
    assert parsed.invalid is not None, parsed.poison


def test_the_nil_uuid_is_no_message_id() -> None:
    parsed = classify(request(message_id="00000000-0000-0000-0000-000000000000"))
    assert parsed.invalid is None and parsed.poison is not None  # nobody to answer: DLQ


@pytest.mark.parametrize("mark", ["\u202e", "\u2066", "\u200f", "\u200b", "\ufeff"])
def test_a_name_with_a_bidirectional_override_or_invisible_mark_is_invalid(mark: str) -> None:
    from pydantic import ValidationError

    from contracts.booking import booking_command_adapter

    data = {**fixture("organisation.register"), "name": f"photo {mark}gpj.exe"}
    with pytest.raises(ValidationError, match="name"):
        booking_command_adapter.validate_python(data)


async def test_a_partitions_transaction_goes_on_while_another_partitions_records_are_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Reading (parsing, proving the sender) is the CPU of a batch: one partition's records
    are read a few at a time, so that another partition's transaction, waiting on PostgreSQL,
    goes on in between instead of after every record of the batch is read."""
    batch = handler()
    seen: list[tuple[str, int]] = []
    classify_one = batch.classify

    def reading(record: Any) -> Parsed:
        seen.append(("read", record.partition))
        return classify_one(record)

    async def transaction(parsed: Any, safe: bool) -> list[tuple[str, str]]:
        seen.append(("transaction", parsed[0].record.partition))
        return []

    monkeypatch.setattr(batch, "classify", reading)
    monkeypatch.setattr(batch, "run", transaction)
    records = []
    for partition, count in ((0, 20), (1, 500)):
        for _ in range(count):
            record = FakeRecord(request(message_id=str(uuid4())))
            record.partition = partition
            records.append(record)

    await batch.handle(records)

    first_transaction = seen.index(("transaction", 0))
    assert ("read", 1) in seen[first_transaction:], "partition 1 was read before any transaction"
    assert sum(1 for event in seen if event[0] == "read") == 520
