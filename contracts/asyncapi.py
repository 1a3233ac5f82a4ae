"""The AsyncAPI 3 document of the public contract, generated from the models in this package.

`python -m contracts.asyncapi [--yaml]` prints it. Each topic is a channel listing every message
type it carries; each message has its payload schema (from the pydantic model, `type` as the
discriminator), the Kafka headers every producer sets and what the record is keyed by. Each
party (a service, or the clients) has a `receive` operation for every topic it consumes and a
`send` operation for every topic it produces, its dead-letter topics included: a dead letter
holds the original record's bytes, with why and where it came from in its headers.

Who consumes and produces what is declared here, beside the topics; the contract tests hold it
to the services' own wiring, so the document cannot drift from what runs.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any, get_args

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from contracts.booking import (
    BookingCommandT,
    BookingEventT,
    OrganisationRegistered,
    OrganisationUpdated,
    ReservationCancelled,
    ReservationConfirmed,
    ReservationRejected,
)
from contracts.consultation import ConsultationCommandT, ConsultationEventT
from contracts.envelope import Message
from contracts.notify import NotifyCommandT, NotifyEventT
from contracts.program import (
    ProgramCancelled,
    ProgramCommandT,
    ProgramEventT,
    RegistrationCancelled,
    RegistrationConfirmed,
    RegistrationOffered,
    RegistrationOfferExpired,
    RegistrationPromoted,
    RegistrationRejected,
    RegistrationWaitlisted,
    SessionCancelled,
    SessionChanged,
)
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

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING = "0.5.0"
SCHEMAS = "#/components/schemas/"


@dataclass(frozen=True)
class Flow:
    """A topic, the message types it carries, and what its records are keyed by."""

    topic: Topic
    union: Any
    key: str
    description: str

    def types(self) -> list[type[Message]]:
        return list(get_args(self.union))


@dataclass(frozen=True)
class Party:
    """Who takes part: a service, or the clients (web, kiosk, staff tools). `receives` maps a
    topic to the message types handled (None: all of them)."""

    name: str
    description: str
    receives: dict[str, tuple[type[Message], ...] | None]
    sends: tuple[Topic, ...]


FLOWS = [
    Flow(
        BOOKING_COMMANDS,
        BookingCommandT,
        "the aggregate the command acts on, so its commands stay in order: the space id of a "
        "reservation request, the reservation id of a cancellation, the contact e-mail of a "
        "registration, the organisation id of other organisation commands, `lab` for Lab "
        "check-in and check-out, the day (YYYY-MM-DD) of a blackout",
        "Commands to the booking service. A command's message_id is its idempotency key: a "
        "retried command is answered again, never decided twice.",
    ),
    Flow(
        BOOKING_EVENTS,
        BookingEventT,
        "like the command answered (space id for a reservation's outcome, reservation id for a "
        "cancellation's, `lab`, the day); organisation facts by organisation id, a decided "
        "closing time by its day",
        "Outcomes and facts of the booking service; an answer's request_id repeats the "
        "command's message_id, its correlation_id the command's flow.",
    ),
    Flow(
        NOTIFY_COMMANDS,
        NotifyCommandT,
        "the issue id of newsletter.publish (its message_id), the e-mail address of "
        "subscription.requested, the case's reference number of acknowledgement.requested and "
        "expert_reminder.requested",
        "Commands to the notify service: newsletter.publish (staff), subscription.requested "
        "(double opt-in), acknowledgement.requested (the consultation desk's receipt: a "
        "reference number and an address, nothing of the case) and expert_reminder.requested "
        "(the day before an expert consultation: its time and kind of expert, a reference "
        "number and an address).",
    ),
    Flow(
        NOTIFY_EVENTS,
        NotifyEventT,
        "the id of what the e-mail was about: the reservation id (or the organisation id, for "
        "mail about an organisation), the issue id for a newsletter and its facts; answers to "
        "a notify command like the command",
        "Facts of the notify service: issues scheduled, started and finished (with their "
        "counts), and one notification.sent or notification.failed per e-mail (a newsletter's "
        "e-mails: notification.failed only), carrying the correlation id of the message that "
        "caused the e-mail.",
    ),
    Flow(
        CONSULTATION_COMMANDS,
        ConsultationCommandT,
        "the case id (the parent's for case.open_follow_up), so a case's steps stay in order; "
        "the command's own id for inquiry.log",
        "Steps on a consultation case, each sent with the staff member's token. No content "
        "travels here: the case's content enters over the consultation service's HTTP API.",
    ),
    Flow(
        CONSULTATION_EVENTS,
        ConsultationEventT,
        "the case id; an inquiry's by its request id",
        "Facts of the consultation desk: ids, states, topic codes, channel, kind, outcome "
        "codes, staff usernames and times, never a case's content; refusals as reason codes.",
    ),
    Flow(
        PROGRAM_COMMANDS,
        ProgramCommandT,
        "the session id for what concerns one session (a registration for one session, a "
        "session's change or cancellation, a check-in), the program id for the program or "
        "several of its sessions (program commands, a full-series registration), the "
        "registration id for a cancellation or an answer to an offer",
        "Commands to the events service: staff plan, publish, change and cancel programs; "
        "citizens register, cancel and answer offers; the kiosk checks registrants in. A "
        "command's message_id is its idempotency key.",
    ),
    Flow(
        PROGRAM_EVENTS,
        ProgramEventT,
        "like the command answered; facts of a session by its session id, of a registration "
        "(promoted, offered, expired) by its program id",
        "Outcomes and facts of the events service: programs, sessions and their venues, "
        "registrations and waitlists, attendance. Registrants' names and addresses travel "
        "here for notify.",
    ),
]

PARTIES = [
    Party(
        "booking",
        "The booking service: organisations, reservations, the Lab, days.",
        receives={BOOKING_COMMANDS.name: None},
        sends=(BOOKING_EVENTS, BOOKING_COMMANDS.dlq),
    ),
    Party(
        "notify",
        "The notify service: e-mail about bookings and program registrations, subscribers, "
        "newsletters.",
        receives={
            BOOKING_EVENTS.name: (
                OrganisationRegistered,
                OrganisationUpdated,
                ReservationConfirmed,
                ReservationRejected,
                ReservationCancelled,
            ),
            NOTIFY_COMMANDS.name: None,
            PROGRAM_EVENTS.name: (
                RegistrationConfirmed,
                RegistrationPromoted,
                RegistrationWaitlisted,
                RegistrationRejected,
                RegistrationOffered,
                RegistrationOfferExpired,
                RegistrationCancelled,
                SessionChanged,
                SessionCancelled,
                ProgramCancelled,
            ),
        },
        sends=(NOTIFY_EVENTS, BOOKING_EVENTS.dlq, NOTIFY_COMMANDS.dlq, PROGRAM_EVENTS.dlq),
    ),
    Party(
        "events",
        "The events service: programs, sessions, seat frames, registrations, waitlists, "
        "attendance; it books its sessions' venues through booking.",
        receives={
            PROGRAM_COMMANDS.name: None,
            BOOKING_EVENTS.name: (ReservationConfirmed, ReservationRejected, ReservationCancelled),
        },
        sends=(PROGRAM_EVENTS, BOOKING_COMMANDS, PROGRAM_COMMANDS.dlq, BOOKING_EVENTS.dlq),
    ),
    Party(
        "consultation",
        "The consultation service: the one-stop desk's cases, from intake to closing.",
        receives={CONSULTATION_COMMANDS.name: None},
        sends=(CONSULTATION_EVENTS, CONSULTATION_COMMANDS.dlq, NOTIFY_COMMANDS),
    ),
    Party(
        "clients",
        "The web site, the kiosk and staff tools: they send commands and await the answers.",
        receives={BOOKING_EVENTS.name: None, PROGRAM_EVENTS.name: None},
        sends=(BOOKING_COMMANDS, NOTIFY_COMMANDS, PROGRAM_COMMANDS, CONSULTATION_COMMANDS),
    ),
]

ENVELOPE_HEADERS = {
    "type": "object",
    "description": "Kafka headers every producer sets (UTF-8 values), so tools can route and "
    "trace a record without parsing it. The body is authoritative: consumers read the body.",
    "properties": {
        "type": {"type": "string", "description": "the message type, as in the body"},
        "message_id": {"type": "string", "format": "uuid"},
        "correlation_id": {
            "type": "string",
            "format": "uuid",
            "description": "the flow the message belongs to",
        },
        "content-type": {"type": "string", "const": "application/json"},
    },
    "required": ["type", "message_id", "correlation_id", "content-type"],
}

DEAD_LETTER_HEADERS = {
    "type": "object",
    "description": "Why and where from. A dead letter carries no envelope headers of its own.",
    "properties": {
        "error": {
            "type": "string",
            "maxLength": 300,
            "description": "why the record could not be handled, cut and cleaned of "
            "control characters (never the record's content)",
        },
        "original_topic": {"type": "string"},
        "original_partition": {"type": "string", "pattern": "^[0-9]+$"},
        "original_offset": {"type": "string", "pattern": "^[0-9]+$"},
        "consumer_group": {
            "type": "string",
            "description": "the consumer group that could not handle it: several services "
            "read one events topic and dead-letter to its one DLQ",
        },
    },
    "required": ["error", "original_topic", "original_partition", "original_offset"],
}

DEAD_LETTER = {
    "name": "dead_letter",
    "title": "DeadLetter",
    "summary": "A record that could not be parsed, validated or handled, set aside as it came.",
    "contentType": "application/octet-stream",
    "headers": {"$ref": SCHEMAS + "DeadLetterHeaders"},
    "payload": {
        "type": "string",
        "format": "binary",
        "description": "the original record's value, byte for byte",
    },
    "bindings": {
        "kafka": {
            "key": {
                "type": "string",
                "format": "binary",
                "description": "the original record's key, byte for byte",
            },
            "bindingVersion": KAFKA_BINDING,
        }
    },
}


def type_of(model: type[Message]) -> str:
    return str(model.model_fields["type"].default)


def summary(model: type[BaseModel]) -> str:
    return (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")


def message(model: type[Message], flow: Flow) -> dict[str, Any]:
    found = {
        "name": type_of(model),
        "title": model.__name__,
        "contentType": "application/json",
        "headers": {"$ref": SCHEMAS + "MessageHeaders"},
        "payload": {"$ref": SCHEMAS + model.__name__},
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": flow.key},
                "bindingVersion": KAFKA_BINDING,
            }
        },
    }
    if text := summary(model):
        found["summary"] = text
    return found


def channel(flow: Flow) -> dict[str, Any]:
    return {
        "address": flow.topic.name,
        "title": flow.topic.name,
        "description": f"{flow.description} Keyed by {flow.key}.",
        "messages": {
            m.__name__: {"$ref": f"#/components/messages/{m.__name__}"} for m in flow.types()
        },
        "bindings": {
            "kafka": {
                "topic": flow.topic.name,
                "partitions": flow.topic.partitions,
                "bindingVersion": KAFKA_BINDING,
            }
        },
    }


def dead_letter_channel(topic: Topic) -> dict[str, Any]:
    return {
        "address": topic.dlq.name,
        "title": topic.dlq.name,
        "description": f"Dead letters of {topic.name}: records that could not be parsed, "
        "validated or handled, written by the consuming service with the original key and "
        "value as they came, so the partition moves on and nothing is lost.",
        "messages": {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}},
        "bindings": {
            "kafka": {
                "topic": topic.dlq.name,
                "partitions": topic.dlq.partitions,
                "bindingVersion": KAFKA_BINDING,
            }
        },
    }


def operation(party: Party, action: str, address: str, names: list[str]) -> dict[str, Any]:
    verb = "receives" if action == "receive" else "sends"
    return {
        "action": action,
        "title": f"{party.name} {verb} {address}",
        "x-service": party.name,
        "channel": {"$ref": f"#/channels/{address}"},
        "messages": [{"$ref": f"#/channels/{address}/messages/{n}"} for n in names],
    }


def operations(by_address: dict[str, Flow]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for party in PARTIES:
        for address, handled in party.receives.items():
            models = handled if handled is not None else by_address[address].types()
            found[f"{party.name}.receive.{address}"] = operation(
                party, "receive", address, [m.__name__ for m in models]
            )
        for topic in party.sends:
            flow = by_address.get(topic.name)
            names = [m.__name__ for m in flow.types()] if flow else ["DeadLetter"]
            found[f"{party.name}.send.{topic.name}"] = operation(party, "send", topic.name, names)
    return found


def schemas() -> dict[str, Any]:
    models = [m for flow in FLOWS for m in flow.types()]
    _, top = models_json_schema(
        [(m, "validation") for m in models], ref_template=SCHEMAS + "{model}"
    )
    found: dict[str, Any] = top.get("$defs", {})
    found["MessageHeaders"] = ENVELOPE_HEADERS
    found["DeadLetterHeaders"] = DEAD_LETTER_HEADERS
    return found


def build_document() -> dict[str, Any]:
    by_address = {flow.topic.name: flow for flow in FLOWS}
    channels = {flow.topic.name: channel(flow) for flow in FLOWS}
    consumed = {
        address for party in PARTIES if party.name != "clients" for address in party.receives
    }
    for address in sorted(consumed):
        topic = by_address[address].topic
        channels[topic.dlq.name] = dead_letter_channel(topic)
    messages = {m.__name__: message(m, flow) for flow in FLOWS for m in flow.types()}
    messages["DeadLetter"] = DEAD_LETTER
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Yokohama Civic Collaboration Promotion Center",
            "version": "1.0.0",
            "description": "Messages between the center's services and its web, kiosk and "
            "staff clients. Values are JSON (dead letters: the original bytes).",
        },
        "defaultContentType": "application/json",
        "servers": {
            "development": {
                "host": "127.0.0.1:19092",
                "protocol": "kafka",
                "description": "the local stack (`make up`)",
            }
        },
        "channels": channels,
        "operations": operations(by_address),
        "components": {"schemas": schemas(), "messages": messages},
    }


def to_yaml(document: dict[str, Any]) -> str:
    """YAML without a YAML library: JSON is YAML, but a reader wants block style."""
    lines: list[str] = []

    def emit(value: Any, indent: int, key: str | None) -> None:
        pad = "  " * indent
        head = f"{pad}{json.dumps(key)}:" if key is not None else f"{pad}-"
        if isinstance(value, dict) and value:
            lines.append(head)
            for k, v in value.items():
                emit(v, indent + 1, k)
        elif isinstance(value, list) and value:
            lines.append(head)
            for item in value:
                emit(item, indent + 1, None)
        else:
            lines.append(f"{head} {json.dumps(value, ensure_ascii=False)}")

    for k, v in document.items():
        emit(v, 0, k)
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    document = build_document()
    if "--yaml" in argv:
        print(to_yaml(document))
    else:
        print(json.dumps(document, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
