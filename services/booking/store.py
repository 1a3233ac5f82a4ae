"""asyncpg queries of the booking service; every function runs in the caller's transaction.

Each function is one round trip to PostgreSQL: the booking path is hot (ARCHITECTURE.md targets
1,000 decisions/s), so reads are combined and rooms and reservation are written by one statement.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from contracts.booking import Contact, RegisterOrganisation, RequestReservation, SpaceId


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


@dataclass(frozen=True)
class RequestContext:
    """What the rules need to know about a request's surroundings."""

    contact: Contact | None  # None: the organisation is not registered
    lab_attendees: int  # people already booked into the Lab during the time (Lab requests only)


async def request_context(conn: asyncpg.Connection, cmd: RequestReservation) -> RequestContext:
    row = await conn.fetchrow(
        "SELECT o.contact_name, o.contact_email,"
        " CASE WHEN $2 THEN (SELECT coalesce(sum(r.attendees), 0) FROM reservations r"
        "   WHERE r.space = 'lab' AND tstzrange(r.starts_at, r.ends_at) && tstzrange($3, $4))"
        " ELSE 0 END AS lab_attendees"
        " FROM (SELECT 1) AS one LEFT JOIN organisations o ON o.id = $1",
        cmd.organisation_id,
        cmd.space is SpaceId.LAB,
        cmd.starts_at,
        cmd.ends_at,
    )
    contact = (
        Contact(name=row["contact_name"], email=row["contact_email"])
        if row["contact_email"] is not None
        else None
    )
    return RequestContext(contact, int(row["lab_attendees"]))


async def insert_reservation(
    conn: asyncpg.Connection,
    reservation_id: UUID,
    cmd: RequestReservation,
    rooms: Collection[str],
) -> bool:
    """Claim the rooms and store the reservation; False (and nothing stored) when a room is
    taken for part of the time. The exclusion constraint decides, so concurrent requests by
    other instances cannot both win."""
    stored = await conn.fetchval(
        "WITH claimed AS ("
        "  INSERT INTO reservation_rooms (reservation_id, room, during)"
        "  SELECT $1, room, tstzrange($5, $6) FROM unnest($12::text[]) AS room"
        "  ON CONFLICT DO NOTHING RETURNING room),"
        " stored AS ("
        "  INSERT INTO reservations (id, request_id, organisation_id, space, starts_at, ends_at,"
        "   attendees, purpose, atrium, channel, session_id)"
        "  SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11"
        "  WHERE (SELECT count(*) FROM claimed) = cardinality($12::text[]) RETURNING id)"
        " SELECT count(*) FROM stored",
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
        sorted(rooms),
    )
    if stored:
        return True
    # some rooms were free and claimed: give them back (rare: a partial overlap of A+B)
    await conn.execute("DELETE FROM reservation_rooms WHERE reservation_id = $1", reservation_id)
    return False
