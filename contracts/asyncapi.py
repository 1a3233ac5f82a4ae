"""The AsyncAPI document of the public contract, generated from the models in this package.

`python -m contracts.asyncapi [--yaml]` prints it. Every topic is declared with the union of the
message types it carries, so the document lists each type's schema and its `type` discriminator.
Declaring is all this module does: the broker object is never connected.
"""

from __future__ import annotations

import sys
from typing import Any

from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI

from contracts.booking import BookingCommand, BookingEvent
from contracts.notify import NotifyCommand, NotifyEvent
from contracts.topics import BOOKING_COMMANDS, BOOKING_EVENTS, NOTIFY_COMMANDS, NOTIFY_EVENTS, Topic

TOPICS: list[tuple[Topic, Any, str]] = [
    (
        BOOKING_COMMANDS,
        BookingCommand,
        "Commands to the booking service, keyed by space id (organisation.register: by contact"
        " e-mail). A command's message_id is its idempotency key.",
    ),
    (
        BOOKING_EVENTS,
        BookingEvent,
        "Outcomes and facts of the booking service; request_id repeats the command's message_id.",
    ),
    (
        NOTIFY_COMMANDS,
        NotifyCommand,
        "Commands to the notify service: newsletter.publish (staff; the message_id becomes the"
        " issue id) and subscription.requested (double opt-in). Keyed by issue id or e-mail.",
    ),
    (
        NOTIFY_EVENTS,
        NotifyEvent,
        "Facts of the notify service: issues scheduled and started, and one notification.sent or"
        " notification.failed per e-mail, keyed by what the e-mail was about (issue, reservation).",
    ),
]


def build_specification() -> AsyncAPI:
    broker = KafkaBroker("127.0.0.1:19092")
    for topic, schema, description in TOPICS:
        broker.publisher(topic.name, title=topic.name, description=description, schema=schema)
    return AsyncAPI(
        broker,
        title="Yokohama Civic Collaboration Promotion Center",
        version="1.0.0",
        description="Messages between the center's services and its web, kiosk and staff clients.",
    )


def main(argv: list[str]) -> None:
    spec = build_specification().to_specification()
    print(spec.to_yaml() if "--yaml" in argv else spec.to_json())


if __name__ == "__main__":
    main(sys.argv[1:])
