"""The notify contract: kept fixtures of every command on `notify.commands` and every event on
`notify.events` still parse, and older readers accept newer, compatible messages."""

from __future__ import annotations

import json
import typing
from pathlib import Path

import pytest
from pydantic import ValidationError

from contracts.notify import (
    FailureKind,
    NotificationFailed,
    NotifyCommandT,
    NotifyEventT,
    notify_command_adapter,
    notify_event_adapter,
)

FIXTURES = Path(__file__).parent / "fixtures"
COMMANDS = [
    "newsletter.publish",
    "subscription.requested",
    "acknowledgement.requested",
    "expert_reminder.requested",
]
EVENTS = [
    "newsletter.scheduled",
    "newsletter.rejected",
    "subscription.rejected",
    "acknowledgement.rejected",
    "newsletter.started",
    "newsletter.finished",
    "notification.sent",
    "notification.failed",
]


def fixture(name: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((FIXTURES / f"{name}.v1.json").read_text("utf-8"))
    return data


def message_types(union: object) -> set[str]:
    return {member.model_fields["type"].default for member in typing.get_args(union)}


def test_every_notify_message_type_has_a_kept_fixture() -> None:
    assert message_types(NotifyCommandT) == set(COMMANDS)
    assert message_types(NotifyEventT) == set(EVENTS)


@pytest.mark.parametrize("name", COMMANDS)
def test_kept_command_fixtures_still_parse(name: str) -> None:
    assert notify_command_adapter.validate_python(fixture(name)).type == name


@pytest.mark.parametrize("name", EVENTS)
def test_kept_event_fixtures_still_parse(name: str) -> None:
    assert notify_event_adapter.validate_python(fixture(name)).type == name


def test_commands_are_not_read_as_events_nor_events_as_commands() -> None:
    with pytest.raises(ValidationError):
        notify_event_adapter.validate_python(fixture("newsletter.publish"))
    with pytest.raises(ValidationError):
        notify_command_adapter.validate_python(fixture("notification.sent"))


def test_a_newer_command_with_an_extra_field_still_parses() -> None:
    data = {**fixture("newsletter.publish"), "schema_version": 2, "audience": "organisations"}
    assert notify_command_adapter.validate_python(data).type == "newsletter.publish"


def test_a_newer_event_with_an_extra_field_still_parses() -> None:
    data = {**fixture("notification.failed"), "schema_version": 2, "smtp_code": 550}
    event = notify_event_adapter.validate_python(data)
    assert isinstance(event, NotificationFailed) and event.failure is FailureKind.PERMANENT


def test_a_notify_message_without_an_id_is_refused() -> None:
    data = fixture("notification.sent")
    del data["message_id"]
    with pytest.raises(ValidationError):
        notify_event_adapter.validate_python(data)


def test_a_publication_time_without_a_timezone_is_refused() -> None:
    data = {**fixture("newsletter.publish"), "send_at": "2026-12-01T10:00:00"}
    with pytest.raises(ValidationError):
        notify_command_adapter.validate_python(data)
