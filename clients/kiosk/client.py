"""The booking service's commands and answers, through the generic command client."""

from __future__ import annotations

from clients.commands import CommandClient, Credentials, no_credentials
from contracts.booking import BookingEventT, booking_event_adapter
from contracts.topics import BOOKING_COMMANDS, BOOKING_EVENTS

Outcome = BookingEventT


class BookingClient(CommandClient[BookingEventT]):
    """Publishes on `booking.commands`, awaits answers on `booking.events`."""

    def __init__(
        self,
        bootstrap: str,
        *,
        credentials: Credentials = no_credentials,
        answers_url: str | None = None,
    ) -> None:
        super().__init__(bootstrap, BOOKING_COMMANDS, BOOKING_EVENTS, booking_event_adapter,
                         credentials=credentials, answers_url=answers_url)  # fmt: skip
