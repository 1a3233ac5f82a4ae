"""asyncpg queries of the booking service; every function runs in the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

import asyncpg
from asyncpg import Range

from contracts.booking import Contact, RegisterOrganisation, RequestReservation


async def insert_organisation(
    conn: asyncpg.Connection, organisation_id: UUID, cmd: RegisterOrganisation
) -> None:
    await conn.execute(
        "INSERT INTO organisations (id, request_id, name, kind, contact_name, contact_email,"
        " newsletter_consent) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        organisation_id,
        cmd.message_id,
        cmd.name,
        cmd.kind.value,
        cmd.contact_name,
        str(cmd.contact_email),
        cmd.newsletter_consent,
    )


async def organisation_contact(conn: asyncpg.Connection, organisation_id: UUID) -> Contact | None:
    row = await conn.fetchrow(
        "SELECT contact_name, contact_email FROM organisations WHERE id = $1", organisation_id
    )
    if row is None:
        return None
    return Contact(name=row["contact_name"], email=row["contact_email"])


async def lab_attendees(conn: asyncpg.Connection, cmd: RequestReservation) -> int:
    """People already booked into the Lab at any moment of the requested time (upper bound)."""
    total: int = await conn.fetchval(
        "SELECT coalesce(sum(attendees), 0) FROM reservations"
        " WHERE space = 'lab' AND tstzrange(starts_at, ends_at) && tstzrange($1, $2)",
        cmd.starts_at,
        cmd.ends_at,
    )
    return total


async def insert_reservation(
    conn: asyncpg.Connection,
    reservation_id: UUID,
    cmd: RequestReservation,
    rooms: Iterable[str],
) -> None:
    """Raises asyncpg.ExclusionViolationError when a room is taken for part of the time."""
    await conn.execute(
        "INSERT INTO reservations (id, request_id, organisation_id, space, starts_at, ends_at,"
        " attendees, purpose, atrium, channel, session_id)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        reservation_id,
        cmd.message_id,
        cmd.organisation_id,
        cmd.space.value,
        cmd.starts_at,
        cmd.ends_at,
        cmd.attendees,
        cmd.purpose,
        cmd.atrium,
        cmd.channel.value,
        cmd.session_id,
    )
    during = Range(cmd.starts_at, cmd.ends_at)
    await conn.executemany(
        "INSERT INTO reservation_rooms (reservation_id, room, during) VALUES ($1, $2, $3)",
        [(reservation_id, room, during) for room in sorted(rooms)],
    )
