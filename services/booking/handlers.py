"""One function per booking command: load, decide with the domain, store, answer.

Each runs inside the consumer's batch transaction; what it returns is written to the outbox in
the same transaction, and recorded in the inbox as the command's answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from uuid import UUID, uuid4

import asyncpg

from contracts.booking import (
    Contact,
    OrganisationRegistered,
    RegisterOrganisation,
    RequestReservation,
    Reservation,
    ReservationConfirmed,
    ReservationRejected,
    SpaceId,
)
from contracts.envelope import new_message_id
from contracts.topics import BOOKING_EVENTS
from services.booking import domain, store
from services.runtime.outbox import Outgoing


async def register_organisation(
    conn: asyncpg.Connection, cmd: RegisterOrganisation
) -> Sequence[Outgoing]:
    organisation_id = uuid4()
    await store.insert_organisation(conn, organisation_id, cmd)
    event = OrganisationRegistered(
        message_id=new_message_id(),
        correlation_id=cmd.correlation(),
        request_id=cmd.message_id,
        organisation_id=organisation_id,
        name=cmd.name,
        kind=cmd.kind,
        contact=Contact(name=cmd.contact_name, email=cmd.contact_email),
        newsletter_consent=cmd.newsletter_consent,
    )
    return [Outgoing(BOOKING_EVENTS, str(organisation_id), event)]


ReservationHandler = Callable[
    [asyncpg.Connection, RequestReservation], Awaitable[Sequence[Outgoing]]
]


def make_request_reservation(spaces: Mapping[SpaceId, domain.Space]) -> ReservationHandler:
    """The reservation handler for a given space configuration."""

    async def request_reservation(
        conn: asyncpg.Connection, cmd: RequestReservation
    ) -> Sequence[Outgoing]:
        context = await store.request_context(conn, cmd)
        request = domain.Request(
            cmd.space, cmd.starts_at, cmd.ends_at, cmd.attendees, cmd.atrium, cmd.purpose
        )
        rejection = domain.check_request(request, context.contact is not None, spaces)
        if rejection is None and cmd.space is SpaceId.LAB:
            seats = spaces[SpaceId.LAB].seats
            rejection = domain.check_lab_room(context.lab_attendees, cmd.attendees, seats)
        if rejection is None:
            reservation_id = uuid4()
            rooms = domain.units_of(cmd.space, cmd.atrium, spaces)
            if await store.insert_reservation(conn, reservation_id, cmd, rooms):
                return [confirmed(cmd, reservation_id, context.contact)]
            rejection = domain.conflict()
        return [rejected(cmd, rejection, context.contact)]

    return request_reservation


def confirmed(cmd: RequestReservation, reservation_id: UUID, contact: Contact | None) -> Outgoing:
    event = ReservationConfirmed(
        message_id=new_message_id(),
        correlation_id=cmd.correlation(),
        request_id=cmd.message_id,
        reservation_id=reservation_id,
        reservation=Reservation(
            organisation_id=cmd.organisation_id,
            space=cmd.space,
            starts_at=cmd.starts_at,
            ends_at=cmd.ends_at,
            attendees=cmd.attendees,
            purpose=cmd.purpose,
            atrium=cmd.atrium,
            channel=cmd.channel,
            session_id=cmd.session_id,
        ),
        contact=contact,
    )
    return Outgoing(BOOKING_EVENTS, cmd.space.value, event)


def rejected(
    cmd: RequestReservation, rejection: domain.Rejection, contact: Contact | None
) -> Outgoing:
    event = ReservationRejected(
        message_id=new_message_id(),
        correlation_id=cmd.correlation(),
        request_id=cmd.message_id,
        reason=rejection.reason,
        detail=rejection.detail,
        organisation_id=cmd.organisation_id,
        space=cmd.space,
        starts_at=cmd.starts_at,
        ends_at=cmd.ends_at,
        contact=contact,
    )
    return Outgoing(BOOKING_EVENTS, cmd.space.value, event)
