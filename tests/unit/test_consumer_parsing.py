"""How a consumer sorts what arrives: a handled type, a poison message, or a type to skip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from contracts.booking import OrganisationRegistered, RequestReservation
from contracts.topics import BOOKING_COMMANDS, BOOKING_EVENTS
from services.runtime.consumer import BatchHandler, PoisonMessage, Subscription
from services.runtime.metrics import Metrics

FIXTURES = Path(__file__).parents[1] / "contract" / "fixtures"


async def nothing(conn: Any, message: Any) -> list[Any]:
    return []


def handler(ignore_unknown: bool) -> BatchHandler:
    topic = BOOKING_EVENTS if ignore_unknown else BOOKING_COMMANDS
    routes = {RequestReservation: nothing, OrganisationRegistered: nothing}
    return BatchHandler(Subscription(topic, routes, ignore_unknown), pool=None, metrics=Metrics())  # type: ignore[arg-type]


def raw(name: str) -> bytes:
    return (FIXTURES / f"{name}.v1.json").read_bytes()


def test_a_known_type_is_parsed_into_its_model() -> None:
    parsed = handler(False).parse(raw("reservation.requested"))
    assert parsed is not None and isinstance(parsed[0], RequestReservation)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"", "empty message"),
        (b"{oops", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"no_type": 1}', "not a JSON object"),
    ],
)
def test_unreadable_bytes_are_poison(value: bytes, reason: str) -> None:
    with pytest.raises(PoisonMessage, match=reason):
        handler(False).parse(value)


def test_a_failing_validation_is_poison_and_names_the_field_without_its_value() -> None:
    data = json.loads(raw("reservation.requested"))
    data["attendees"] = "secret-looking-value"
    with pytest.raises(PoisonMessage) as caught:
        handler(False).parse(json.dumps(data).encode())
    assert "attendees" in str(caught.value)
    assert "secret-looking-value" not in str(caught.value)


def test_an_unknown_command_type_is_poison() -> None:
    with pytest.raises(PoisonMessage, match="unknown message type"):
        handler(False).parse(b'{"type": "reservation.teleport"}')


def test_an_unknown_event_type_is_skipped_so_contracts_can_grow() -> None:
    assert handler(True).parse(b'{"type": "organisation.suspended"}') is None
