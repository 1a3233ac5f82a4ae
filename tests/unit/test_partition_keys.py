"""Each command knows its Kafka key, the id of the aggregate it concerns (ARCHITECTURE.md:
"Key = the aggregate id"), so every client and service keys it the same way."""

from __future__ import annotations

import json
import typing
from collections.abc import Callable
from pathlib import Path

import pytest

from contracts.booking import BookingCommandT, booking_command_adapter
from contracts.notify import NotifyCommandT, notify_command_adapter
from contracts.program import ProgramCommandT, program_command_adapter

FIXTURES = Path(__file__).parents[1] / "contract" / "fixtures"


def fixture(name: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((FIXTURES / f"{name}.v1.json").read_text("utf-8"))
    return data


EXPECTED: dict[str, Callable[[dict[str, object]], object]] = {
    "organisation.register": lambda d: d["contact_email"],
    "organisation.request_registration": lambda d: d["contact_email"],
    "organisation.close_request": lambda d: d["registration_request_id"],
    "reservation.requested": lambda d: d["space"],
    "reservation.cancel": lambda d: d["reservation_id"],
    "organisation.update": lambda d: d["organisation_id"],
    "organisation.renew": lambda d: d["organisation_id"],
    "organisation.suspend": lambda d: d["organisation_id"],
    "organisation.reinstate": lambda d: d["organisation_id"],
    "day.blackout": lambda d: d["day"],
    "day.blackout_lift": lambda d: d["day"],
    "lab.check_in": lambda d: "lab",
    "lab.check_out": lambda d: "lab",
    "newsletter.publish": lambda d: d["message_id"],
    "subscription.requested": lambda d: str(d["email"]).lower(),
    "acknowledgement.requested": lambda d: d["reference"],
    "expert_reminder.requested": lambda d: d["reference"],
    # the program's id is the command's message_id; a full series is keyed by the program
    "program.create": lambda d: d["message_id"],
    "program.publish": lambda d: d["program_id"],
    "program.change": lambda d: d["program_id"],
    "program.cancel": lambda d: d["program_id"],
    "session.change": lambda d: d["session_id"],
    "session.cancel": lambda d: d["session_id"],
    "registration.requested": lambda d: d["program_id"],
    "registration.cancel": lambda d: d["registration_id"],
    "registration.accept_offer": lambda d: d["registration_id"],
    "registration.decline_offer": lambda d: d["registration_id"],
    "attendance.check_in": lambda d: d["session_id"],
}
PROGRAM_COMMANDS = {str(m.model_fields["type"].default) for m in typing.get_args(ProgramCommandT)}
NOTIFY_COMMANDS = {str(m.model_fields["type"].default) for m in typing.get_args(NotifyCommandT)}


def command_types() -> list[str]:
    union = (typing.get_args(BookingCommandT) + typing.get_args(NotifyCommandT)
             + typing.get_args(ProgramCommandT))  # fmt: skip
    return [str(member.model_fields["type"].default) for member in union]


def test_every_command_type_has_its_key_rule() -> None:
    assert set(command_types()) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_command_is_keyed_by_its_aggregate(name: str) -> None:
    data = fixture(name)
    adapter: typing.Any = booking_command_adapter
    if name in NOTIFY_COMMANDS:
        adapter = notify_command_adapter
    elif name in PROGRAM_COMMANDS:
        adapter = program_command_adapter
    assert adapter.validate_python(data).partition_key() == EXPECTED[name](data)
