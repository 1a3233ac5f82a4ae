"""The program contract: kept fixtures of every command on `program.commands` and every event on
`program.events` still parse, each command declares its rejection, messages are keyed by the
aggregate they concern, and older readers accept newer, compatible messages."""

from __future__ import annotations

import json
import typing
from pathlib import Path
from uuid import uuid4

import pytest
from pydantic import ValidationError

from contracts.program import (
    COMMAND_REJECTIONS,
    ProgramCommandT,
    ProgramEventT,
    ProgramRejectionReason,
    RequestRegistration,
    program_command_adapter,
    program_event_adapter,
)

FIXTURES = Path(__file__).parent / "fixtures"


def message_types(union: object) -> set[str]:
    return {member.model_fields["type"].default for member in typing.get_args(union)}


COMMANDS = sorted(message_types(ProgramCommandT))
EVENTS = sorted(message_types(ProgramEventT))


def fixture(name: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((FIXTURES / f"{name}.v1.json").read_text("utf-8"))
    return data


def test_the_registration_names_of_the_issue_are_the_contract() -> None:
    assert {"registration.requested", "registration.cancel", "attendance.check_in"} <= set(COMMANDS)
    assert {"registration.confirmed", "registration.waitlisted", "registration.rejected",
            "registration.offered", "registration.offer_expired", "registration.cancelled",
            "attendance.recorded", "session.venue_rejected"} <= set(EVENTS)  # fmt: skip
    stable = {"full", "closed", "invalid", "duplicate", "not_open"}
    assert stable <= {r.value for r in ProgramRejectionReason}


@pytest.mark.parametrize("name", COMMANDS)
def test_kept_command_fixtures_still_parse(name: str) -> None:
    assert program_command_adapter.validate_python(fixture(name)).type == name


@pytest.mark.parametrize("name", EVENTS)
def test_kept_event_fixtures_still_parse(name: str) -> None:
    assert program_event_adapter.validate_python(fixture(name)).type == name


def test_every_command_declares_its_rejection_answered_with_a_reason_and_detail() -> None:
    assert set(COMMAND_REJECTIONS) == set(typing.get_args(ProgramCommandT))
    for rejection in COMMAND_REJECTIONS.values():
        assert {"request_id", "reason", "detail"} <= set(rejection.model_fields)
        for reason in ("invalid", "id_reused", "unauthorized", "forbidden"):
            rejection(message_id=uuid4(), request_id=uuid4(), reason=reason, detail="x")


def test_a_registration_is_keyed_by_its_session_or_by_its_program() -> None:
    data = fixture("registration.requested")
    series = program_command_adapter.validate_python(data)
    assert series.partition_key() == data["program_id"]
    one = RequestRegistration.model_validate({**data, "series": False,
                                              "session_ids": [str(uuid4())]})  # fmt: skip
    assert one.partition_key() == str(one.session_ids[0])
    two = one.model_copy(update={"session_ids": [uuid4(), uuid4()]})
    assert two.partition_key() == data["program_id"]


def test_a_newer_message_with_an_extra_field_still_parses() -> None:
    data = {**fixture("registration.requested"), "schema_version": 2, "referrer": "newsletter"}
    assert program_command_adapter.validate_python(data).type == "registration.requested"


@pytest.mark.parametrize("party", [0, 5])
def test_a_party_is_one_to_four_people(party: int) -> None:
    with pytest.raises(ValidationError):
        program_command_adapter.validate_python({**fixture("registration.requested"),
                                                 "party_size": party})  # fmt: skip


def test_times_without_a_timezone_are_refused() -> None:
    data = fixture("program.create")
    sessions = typing.cast(list[dict[str, object]], data["sessions"])
    data["sessions"] = [{**sessions[0], "starts_at": "2027-02-03T18:30:00"}]
    with pytest.raises(ValidationError):
        program_command_adapter.validate_python(data)
