"""The booking service's commands and answers, through the generic command client."""

from __future__ import annotations

from clients.commands import CommandClient, Proof, no_proof
from contracts.booking import BookingEventT, booking_event_adapter
from contracts.topics import BOOKING_COMMANDS, BOOKING_EVENTS
from services.runtime.kafka_auth import KafkaCredentials

Outcome = BookingEventT


class BookingClient(CommandClient[BookingEventT]):
    """Publishes on `booking.commands`; awaits answers on `booking.events` (as `reader`), or over
    HTTP from the booking service at `answers_url`."""

    def __init__(
        self,
        bootstrap: str,
        *,
        sender: KafkaCredentials,
        reader: KafkaCredentials | None = None,
        proof: Proof = no_proof,
        answers_url: str | None = None,
    ) -> None:
        super().__init__(
            bootstrap,
            BOOKING_COMMANDS,
            BOOKING_EVENTS,
            booking_event_adapter,
            sender=sender,
            reader=reader,
            proof=proof,
            answers_url=answers_url,
        )
