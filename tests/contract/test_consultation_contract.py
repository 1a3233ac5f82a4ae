"""The consultation contract: kept fixtures of every message still parse, each command names its
case as its key and its rejection event, and no consultation event can carry free text
(ARCHITECTURE.md: consultation content never travels on Kafka)."""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from pydantic import ValidationError

from contracts import consultation
from contracts.consultation import (
    CASE_REFERENCE_PATTERN,
    COMMAND_REJECTIONS,
    STAFF_ID_PATTERN,
    CaseRejected,
    ConsultationCommandT,
    ConsultationEventT,
    consultation_command_adapter,
    consultation_event_adapter,
)
from contracts.envelope import Message

FIXTURES = Path(__file__).parent / "fixtures"
COMMANDS = [m.model_fields["type"].default for m in typing.get_args(ConsultationCommandT)]
EVENTS = [m.model_fields["type"].default for m in typing.get_args(ConsultationEventT)]

CODE_PATTERNS = {STAFF_ID_PATTERN, CASE_REFERENCE_PATTERN}
"""The only string patterns an event may carry: a staff username and a case reference."""
MACHINE_FORMATS = {"uuid", "date-time", "date"}
LONGEST_CODE = 64
CANARIES = [
    "山田 花子",
    "hanako.yamada@example.org",
    "+81 90-1234-5678",
    "起立性調節障害の子の親の会を作りたい",
    "Staff dispute over unpaid wages",
    "sato.k\nnotes",
    "a" * 65,
]


def fixture(name: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((FIXTURES / f"{name}.v1.json").read_text("utf-8"))
    return data


@pytest.mark.parametrize("name", COMMANDS)
def test_kept_command_fixtures_still_parse(name: str) -> None:
    assert consultation_command_adapter.validate_python(fixture(name)).type == name


@pytest.mark.parametrize("name", EVENTS)
def test_kept_event_fixtures_still_parse(name: str) -> None:
    assert consultation_event_adapter.validate_python(fixture(name)).type == name


@pytest.mark.parametrize("name", [c for c in COMMANDS if c.startswith("case.")])
def test_a_case_command_is_keyed_by_its_case(name: str) -> None:
    data = fixture(name)
    assert consultation_command_adapter.validate_python(data).partition_key() == data["case_id"]


def test_an_inquiry_is_keyed_by_its_own_id_and_so_is_its_answer() -> None:
    command = consultation_command_adapter.validate_python(fixture("inquiry.log"))
    logged = consultation_event_adapter.validate_python(fixture("inquiry.logged"))
    assert command.partition_key() == str(command.message_id) == logged.partition_key()


@pytest.mark.parametrize("name", [e for e in EVENTS if e.startswith("case.")])
def test_a_case_event_is_keyed_by_its_case(name: str) -> None:
    data = fixture(name)
    assert consultation_event_adapter.validate_python(data).partition_key() == data["case_id"]


def test_every_command_names_its_rejection_event() -> None:
    assert set(COMMAND_REJECTIONS) == set(typing.get_args(ConsultationCommandT))
    assert set(COMMAND_REJECTIONS.values()) <= set(typing.get_args(ConsultationEventT))


def test_a_rejection_built_with_words_keeps_only_its_code() -> None:
    """The runtime answers an unreadable or unauthorised command with `detail=<words>`: a
    consultation rejection keeps the reason code and drops the words."""
    rejection = CaseRejected(message_id=uuid4(), request_id=uuid4(), reason="invalid",
                             detail="The request could not be read: topics: too long")  # fmt: skip
    assert "detail" not in rejection.model_dump()
    assert "could not be read" not in rejection.model_dump_json()


@pytest.mark.parametrize("reason", ["invalid", "unauthorized", "forbidden", "id_reused"])
def test_the_runtimes_reasons_are_consultation_reasons(reason: str) -> None:
    assert consultation.RejectionReason(reason).value == reason


def test_a_newer_message_with_an_extra_field_still_parses() -> None:
    data = {**fixture("case.assign"), "schema_version": 2, "priority": "high"}
    assert consultation_command_adapter.validate_python(data).type == "case.assign"


@pytest.mark.parametrize(
    "change",
    [
        {"topics": []},
        {"topics": ["tax", "tax"]},
        {"topics": ["housing"]},
    ],
)
def test_classification_needs_distinct_known_topic_codes(change: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        consultation_command_adapter.validate_python({**fixture("case.classify"), **change})


@pytest.mark.parametrize("assignee", ["Sato K", "sato.k\n", "", "s", "佐藤", "a" * 65])
def test_an_assignee_is_a_username_never_a_name(assignee: str) -> None:
    with pytest.raises(ValidationError):
        consultation_command_adapter.validate_python({**fixture("case.assign"),
                                                      "assignee": assignee})  # fmt: skip


# --- no free text on consultation.events ------------------------------------------------------


def leaves(schema: dict[str, Any], defs: dict[str, Any], where: str) -> list[tuple[str, Any]]:
    """Every leaf schema of a JSON schema, with where it is, references followed."""
    if "$ref" in schema:
        return leaves(defs[schema["$ref"].rsplit("/", 1)[1]], defs, where)
    found: list[tuple[str, Any]] = []
    for key in ("anyOf", "oneOf", "allOf"):
        for i, option in enumerate(schema.get(key, ())):
            found += leaves(option, defs, f"{where}|{i}")
    if schema.get("type") == "object":
        assert "additionalProperties" not in schema, f"{where}: a mapping could hold text"
        for name, sub in schema.get("properties", {}).items():
            found += leaves(sub, defs, f"{where}.{name}")
    elif schema.get("type") == "array":
        found += leaves(schema["items"], defs, f"{where}[]")
    elif "type" in schema or "enum" in schema or "const" in schema:
        found.append((where, schema))
    return found


def text_capable(leaf: dict[str, Any]) -> bool:
    """A string leaf that could hold a line of free text: not an enum or constant, not a
    machine format, not one of the short code patterns."""
    if leaf.get("type") != "string" or "enum" in leaf or "const" in leaf:
        return False
    if leaf.get("format") in MACHINE_FORMATS:
        return False
    coded = leaf.get("pattern") in CODE_PATTERNS
    return not (coded and leaf.get("maxLength", LONGEST_CODE + 1) <= LONGEST_CODE)


@pytest.mark.parametrize("event", typing.get_args(ConsultationEventT), ids=lambda e: e.__name__)
def test_no_event_field_can_carry_free_text(event: type[Message]) -> None:
    schema = event.model_json_schema()
    found = leaves(schema, schema.get("$defs", {}), event.__name__)
    assert found
    assert [where for where, leaf in found if text_capable(leaf)] == []
    kinds = {leaf.get("type") for _, leaf in found}
    assert kinds <= {"string", "integer", "boolean", "null"}


@pytest.mark.parametrize("canary", CANARIES)
def test_the_code_patterns_refuse_names_contacts_and_narrative(canary: str) -> None:
    """No space, no Japanese, no `@`, no line break, at most 64 characters. (A bare string of
    digits and hyphens does fit a username: who may be named an assignee is the service's
    check against its staff, not the contract's.)"""
    for pattern in CODE_PATTERNS:
        assert not re.fullmatch(pattern.strip("^$"), canary)


def test_no_event_field_is_named_for_content() -> None:
    """Belt and braces: a field named for content would be a contract mistake even if typed."""
    banned = re.compile(r"name|contact|email|phone|narrative|note|detail|summary|text|comment")
    for event in typing.get_args(ConsultationEventT):
        assert [f for f in event.model_fields if banned.search(f)] == [], event.__name__
