"""Wiring of the events service: what it consumes, which handler takes each message and who may
send it, what it publishes, its scheduled jobs and read routes. The one place to read to know
what the service does on Kafka."""

from __future__ import annotations

from pathlib import Path

from contracts.booking import ReservationCancelled, ReservationConfirmed, ReservationRejected
from contracts.program import (
    COMMAND_REJECTIONS,
    AcceptOffer,
    CancelProgram,
    CancelRegistration,
    CancelSession,
    ChangeProgram,
    ChangeSession,
    CheckIn,
    CreateProgram,
    DeclineOffer,
    PublishProgram,
    RequestRegistration,
)
from contracts.topics import BOOKING_COMMANDS, BOOKING_EVENTS, PROGRAM_COMMANDS, PROGRAM_EVENTS
from services.events import access
from services.events.api import build_routers
from services.events.handlers import OFFER_JOB, SERVICE_NAME, EventsHandlers
from services.events.settings import EventsSettings
from services.registry import service
from services.runtime.consumer import Routes, Subscription
from services.runtime.identity import Signer
from services.runtime.service import ServiceSpec

HTTP_PORT = service("events").http_port


def build_spec(settings: EventsSettings | None = None, signer: Signer | None = None) -> ServiceSpec:
    """The service; outside DEVELOPMENT=1 its secrets (EVENTS_SIGNING_KEY, its token signing
    key) must be set, or it refuses to start."""
    settings = settings or EventsSettings.from_env()
    h = EventsHandlers(settings, signer or Signer.load(SERVICE_NAME))
    return ServiceSpec(
        name="events",
        default_http_port=HTTP_PORT,
        migrations=Path(__file__).parent / "migrations",
        subscriptions=[
            Subscription(
                PROGRAM_COMMANDS,
                Routes()
                .on(CreateProgram, h.create_program, allow=access.PLAN)
                .on(PublishProgram, h.publish_program, allow=access.PLAN)
                .on(ChangeProgram, h.change_program, allow=access.PLAN)
                .on(CancelProgram, h.cancel_program, allow=access.PLAN)
                .on(ChangeSession, h.change_session, allow=access.PLAN)
                .on(CancelSession, h.cancel_session, allow=access.PLAN)
                .on(
                    RequestRegistration,
                    h.request_registration,
                    allow=access.REGISTER,
                    bulk=h.request_registrations,
                )
                .on(CancelRegistration, h.cancel_registration, allow=access.REGISTRANT)
                .on(AcceptOffer, h.accept_offer, allow=access.REGISTRANT)
                .on(DeclineOffer, h.decline_offer, allow=access.REGISTRANT)
                .on(CheckIn, h.check_in, allow=access.CHECK_IN),
                rejections=COMMAND_REJECTIONS,
                answers_on=PROGRAM_EVENTS,
            ),
            Subscription(
                BOOKING_EVENTS,
                # only booking may write booking.events (the broker's ACLs): believed as they come
                Routes()
                .on(ReservationConfirmed, h.on_reservation_confirmed, allow=access.BOOKING_FACTS)
                .on(ReservationRejected, h.on_reservation_rejected, allow=access.BOOKING_FACTS)
                .on(ReservationCancelled, h.on_reservation_cancelled, allow=access.BOOKING_FACTS),
                ignore_unknown_types=True,
            ),
        ],
        produces=[PROGRAM_EVENTS],
        sends=[BOOKING_COMMANDS],
        routers=lambda ctx: build_routers(ctx, settings),
        jobs=lambda ctx: {OFFER_JOB: h.expire_offer},
    )
