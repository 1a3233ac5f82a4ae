"""Wiring of the booking service: what it consumes, which handler takes each command, what it
publishes. The one place to read to know what the service does on Kafka."""

from __future__ import annotations

from pathlib import Path

from contracts.booking import RegisterOrganisation, RequestReservation
from contracts.topics import BOOKING_COMMANDS, BOOKING_EVENTS
from services.booking import handlers
from services.booking.domain import DEFAULT_SPACES
from services.runtime.consumer import Subscription
from services.runtime.service import ServiceSpec

HTTP_PORT = 8081


def build_spec() -> ServiceSpec:
    return ServiceSpec(
        name="booking",
        default_http_port=HTTP_PORT,
        migrations=Path(__file__).parent / "migrations",
        subscriptions=[
            Subscription(
                BOOKING_COMMANDS,
                {
                    RegisterOrganisation: handlers.register_organisation,
                    RequestReservation: handlers.make_request_reservation(DEFAULT_SPACES),
                },
            )
        ],
        produces=[BOOKING_EVENTS],
    )
