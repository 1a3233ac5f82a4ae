"""The AsyncAPI document (`python -m contracts.asyncapi`) against the code: keys a validator
accepts, a receive operation for every topic a service consumes and a send operation for every
topic it produces (taken from the services' own wiring), headers and keys described, and every
dead-letter topic documented with what its records hold."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any, get_args

import pytest
import yaml

from contracts.asyncapi import build_document
from contracts.topics import Topic
from deploy.kafka_acls import TRAFFIC
from services.runtime.service import ServiceSpec

KEY = re.compile(r"^[a-zA-Z0-9.\-_]+$")
ENVELOPE_HEADERS = {"type", "message_id", "correlation_id", "content-type"}
DLQ_HEADERS = {"error", "original_topic", "original_partition", "original_offset"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build_document()


@pytest.fixture(scope="module")
def services() -> list[ServiceSpec]:
    """The services as they wire themselves (development mode: no production secrets here)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DEVELOPMENT", "1")
        from services.booking.app import build_spec as booking
        from services.consultation.app import build_spec as consultation
        from services.events.app import build_spec as events
        from services.notify.app import build_spec as notify

        return [booking(), notify(), events(), consultation()]


def keys(document: dict[str, Any]) -> Iterator[str]:
    for kind in document["components"].values():
        yield from kind
    yield from document["channels"]
    yield from document["operations"]
    for channel in document["channels"].values():
        yield from channel["messages"]


def resolve(document: dict[str, Any], ref: str) -> Any:
    """What a local reference points to, following references to references."""
    assert ref.startswith("#/"), ref
    found: Any = document
    for part in ref[2:].split("/"):
        found = found[part]
    return resolve(document, found["$ref"]) if "$ref" in found else found


def operations(document: dict[str, Any], service: str, action: str) -> dict[str, list[str]]:
    """Topic -> message names of the operations of one service with one action."""
    found: dict[str, list[str]] = {}
    for op in document["operations"].values():
        if op["x-service"] == service and op["action"] == action:
            channel = resolve(document, op["channel"]["$ref"])
            names = [resolve(document, m["$ref"])["name"] for m in op["messages"]]
            found[channel["address"]] = names
    return found


def test_every_key_is_one_a_validator_accepts(document: dict[str, Any]) -> None:
    bad = [k for k in keys(document) if not KEY.match(k)]
    assert not bad, bad


def test_the_command_line_prints_the_document_as_json_or_yaml(document: dict[str, Any]) -> None:
    def printed(*args: str) -> str:
        command = [sys.executable, "-m", "contracts.asyncapi", *args]
        return subprocess.run(command, check=True, capture_output=True, text=True).stdout

    assert json.loads(printed()) == document
    assert yaml.safe_load(printed("--yaml")) == document


def test_every_consumed_topic_has_a_receive_operation_for_each_handled_type(
    document: dict[str, Any], services: list[ServiceSpec]
) -> None:
    for spec in services:
        received = operations(document, spec.name, "receive")
        for subscription in spec.subscriptions:
            topic = subscription.topic.name
            assert topic in received, f"{spec.name} consumes {topic}: no receive operation"
            handled = {model.model_fields["type"].default for model in subscription.handlers}
            assert handled <= set(received[topic]), (spec.name, topic)
        assert not set(received) - {s.topic.name for s in spec.subscriptions}, spec.name


def test_every_produced_topic_has_a_send_operation(
    document: dict[str, Any], services: list[ServiceSpec]
) -> None:
    for spec in services:
        sent = operations(document, spec.name, "send")
        produced: list[Topic] = [*spec.produces, *(s.topic.dlq for s in spec.subscriptions),
                                 *TRAFFIC[spec.name].sends]  # fmt: skip
        assert {t.name for t in produced} == set(sent), spec.name


def test_every_dead_letter_topic_is_documented_with_its_headers_and_original_bytes(
    document: dict[str, Any], services: list[ServiceSpec]
) -> None:
    for spec in services:
        for subscription in spec.subscriptions:
            channel = document["channels"][subscription.topic.dlq.name]
            assert channel["address"] == subscription.topic.dlq.name
            (ref,) = channel["messages"].values()
            message = resolve(document, ref["$ref"])
            assert message["contentType"] == "application/octet-stream"
            assert message["payload"]["format"] == "binary"
            assert "original" in message["payload"]["description"]
            headers = resolve(document, message["headers"]["$ref"])
            assert DLQ_HEADERS <= set(headers["properties"]), headers
            assert "key" in message["bindings"]["kafka"]


def test_every_message_describes_its_headers_key_and_payload(document: dict[str, Any]) -> None:
    messages = document["components"]["messages"]
    for name, message in messages.items():
        if name == "DeadLetter":
            continue
        headers = resolve(document, message["headers"]["$ref"])
        assert ENVELOPE_HEADERS <= set(headers["properties"]), name
        assert message["bindings"]["kafka"]["key"]["description"], name
        payload = resolve(document, message["payload"]["$ref"])
        assert payload["properties"]["type"]["const"] == message["name"], name


def test_every_message_type_of_the_contract_is_on_its_topic(document: dict[str, Any]) -> None:
    from contracts.booking import BookingCommandT, BookingEventT
    from contracts.consultation import ConsultationCommandT, ConsultationEventT
    from contracts.notify import NotifyCommandT, NotifyEventT
    from contracts.program import ProgramCommandT, ProgramEventT

    unions = {"booking.commands": BookingCommandT, "booking.events": BookingEventT,
              "notify.commands": NotifyCommandT, "notify.events": NotifyEventT,
              "consultation.commands": ConsultationCommandT,
              "consultation.events": ConsultationEventT,
              "program.commands": ProgramCommandT, "program.events": ProgramEventT}  # fmt: skip
    for topic, union in unions.items():
        channel = document["channels"][topic]
        names = {resolve(document, m["$ref"])["name"] for m in channel["messages"].values()}
        assert names == {m.model_fields["type"].default for m in get_args(union)}, topic


def test_notify_events_are_keyed_by_what_the_email_was_about(document: dict[str, Any]) -> None:
    channel = document["channels"]["notify.events"]
    (first, *_) = channel["messages"].values()
    key = resolve(document, first["$ref"])["bindings"]["kafka"]["key"]["description"]
    assert "reservation id" in key and "issue id" in key
