"""asyncpg queries of the booking service; every function runs in the caller's transaction.

Each function is one round trip to PostgreSQL: the booking path is hot (ARCHITECTURE.md targets
1,000 decisions/s), so reads are combined and rooms and reservation are written by one statement.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from contracts.booking import (
    Contact,
    RegisterOrganisation,
    RequestOrganisationRegistration,
    RequestReservation,
    SpaceId,
)
from services.booking.domain import Booked, Facts, Standing


async def insert_organisation(
    conn: asyncpg.Connection, organisation_id: UUID, cmd: RegisterOrganisation,
    registered_at: datetime, valid_until: datetime,
) -> None:  # fmt: skip
    await conn.execute(
        "INSERT INTO organisations (id, request_id, name, kind, contact_name, contact_email,"
        " newsletter_consent, registered_at, valid_until)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        organisation_id,
        cmd.message_id,
        cmd.name,
        cmd.kind.value,
        cmd.contact_name,
        str(cmd.contact_email),
        cmd.newsletter_consent,
        registered_at,
        valid_until,
    )


def _standing(row: Any) -> Standing | None:
    if row["valid_until"] is None:
        return None
    return Standing(valid_until=row["valid_until"], suspended=row["suspended"])


def _contact(row: Any) -> Contact | None:
    """The contact as stored: validated when it was written (registration, update), so it is
    not validated again on every read (e-mail validation cost 4% of booking's decisions)."""
    if row["contact_email"] is None:
        return None
    return Contact.model_construct(name=row["contact_name"], email=row["contact_email"])


@dataclass(frozen=True)
class RequestContext:
    """What the rules need to know about a request's surroundings."""

    contact: Contact | None  # None: the organisation is not registered
    standing: Standing | None
    lab_attendees: int  # people already booked into the Lab during the time (Lab requests only)
    blacked_out: bool  # staff closed the day
    active_reservations: int  # the organisation's reservations not yet ended (up to the quota)


CONTEXT_SQL = (
    "SELECT o.contact_name, o.contact_email, o.valid_until,"
    " o.suspended_at IS NOT NULL AS suspended,"
    " CASE WHEN $2 THEN (SELECT coalesce(sum(r.attendees), 0) FROM reservations r"
    "   WHERE r.space = 'lab' AND r.cancelled_at IS NULL"
    "   AND tstzrange(r.starts_at, r.ends_at) && tstzrange($3, $4))"
    " ELSE 0 END AS lab_attendees,"
    " EXISTS (SELECT 1 FROM blackouts b WHERE b.day = $5) AS blacked_out,"
    " (SELECT count(*) FROM (SELECT 1 FROM reservations r WHERE r.organisation_id = $1"
    "   AND r.starts_at > $6::timestamptz - interval '1 day' AND r.ends_at > $6"
    "   AND r.cancelled_at IS NULL LIMIT $7) AS q) AS active"
    " FROM (SELECT 1) AS one LEFT JOIN organisations o ON o.id = $1"
)


def _context_of(row: Any) -> RequestContext:
    return RequestContext(
        contact=_contact(row),
        standing=_standing(row),
        lab_attendees=int(row["lab_attendees"]),
        blacked_out=row["blacked_out"],
        active_reservations=int(row["active"]),
    )


def _context_args(
    cmd: RequestReservation, day: date, now: datetime, quota: int
) -> tuple[object, ...]:
    return (cmd.organisation_id, cmd.space is SpaceId.LAB, cmd.starts_at, cmd.ends_at, day, now,
            quota)  # fmt: skip


async def claim_with_context(
    conn: asyncpg.Connection,
    reservation_id: UUID,
    cmd: RequestReservation,
    rooms: Collection[str],
    day: date,
    now: datetime,
    quota: int,
) -> tuple[RequestContext, bool]:
    """The hot path in one round trip: what the rules ask, read as it was before this
    statement (a statement sees none of its own writes), and the rooms claimed with the
    reservation stored. (context, stored). The caller judges the rules and, when they refuse,
    gives the claim back (`release`) before anything else runs in its transaction."""
    row = await conn.fetchrow(
        "WITH ctx AS (" + CONTEXT_SQL + "),"
        " claimed AS ("
        "  INSERT INTO reservation_rooms (reservation_id, room, during)"
        "  SELECT $8, room, tstzrange($3, $4) FROM unnest($9::room[]) AS room WHERE $3 < $4"
        "  ON CONFLICT DO NOTHING RETURNING room),"
        " stored AS ("
        "  INSERT INTO reservations (id, request_id, organisation_id, space, starts_at, ends_at,"
        "   attendees, purpose, atrium, channel, session_id)"
        "  SELECT $8, $10, $1, $11, $3, $4, $12, $13, $14, $15, $16"
        "  WHERE $3 < $4 AND (SELECT count(*) FROM claimed) = cardinality($9::room[])"
        "  RETURNING id)"
        " SELECT ctx.*, (SELECT count(*) FROM stored) AS stored FROM ctx",
        *_context_args(cmd, day, now, quota),
        reservation_id,
        sorted(rooms),
        cmd.message_id,
        cmd.space.value,
        cmd.attendees,
        cmd.purpose,
        cmd.atrium,
        cmd.channel.value,
        cmd.session_id,
    )
    return _context_of(row), bool(row["stored"])


async def release(conn: asyncpg.Connection, reservation_id: UUID) -> None:
    """Give back what `claim_with_context` took: the reservation and every room it claimed."""
    await conn.execute(
        "WITH rooms AS (DELETE FROM reservation_rooms WHERE reservation_id = $1)"
        " DELETE FROM reservations WHERE id = $1",
        reservation_id,
    )


# --- a batch of reservation requests ------------------------------------------------------------


# Held rooms are looked up by time, which the rooms' GiST index answers, and then by room. Joined
# to the request's rooms unnested, they were read by PostgreSQL scanning every held room for each
# request, in its generic plan and in most custom ones: over a second for a batch of a thousand
# once 30,000 rooms were held, 17 ms this way (tests/middle/test_booking_query_plans.py).
BATCH_CONTEXT_SQL = (
    "SELECT o.contact_name, o.contact_email, o.valid_until,"
    " o.suspended_at IS NOT NULL AS suspended,"
    " CASE WHEN q.lab THEN (SELECT coalesce(sum(r.attendees), 0) FROM reservations r"
    "   WHERE r.space = 'lab' AND r.cancelled_at IS NULL"
    "   AND tstzrange(r.starts_at, r.ends_at) && tstzrange(q.starts_at, q.ends_at))"
    " ELSE 0 END AS lab_attendees,"
    " EXISTS (SELECT 1 FROM blackouts b WHERE b.day = q.day) AS blacked_out,"
    " (SELECT count(*) FROM (SELECT 1 FROM reservations r WHERE r.organisation_id = q.org"
    "   AND r.starts_at > $6::timestamptz - interval '1 day' AND r.ends_at > $6"
    "   AND r.cancelled_at IS NULL LIMIT $7) AS n) AS active,"
    " EXISTS (SELECT 1 FROM reservation_rooms h"
    "   WHERE h.during && tstzrange(q.starts_at, q.ends_at)"
    "   AND h.room = ANY (string_to_array(q.rooms, ',')::room[])) AS rooms_taken"
    " FROM unnest($1::uuid[], $2::bool[], $3::timestamptz[], $4::timestamptz[], $5::date[],"
    "  $8::text[]) WITH ORDINALITY AS q(org, lab, starts_at, ends_at, day, rooms, i)"
    " LEFT JOIN organisations o ON o.id = q.org ORDER BY q.i"
)


@dataclass(frozen=True)
class Wanted:
    """A reservation request of a batch with what the store needs besides the command."""

    cmd: RequestReservation
    rooms: Collection[str]  # the rooms it holds exclusively (none for the Lab)
    day: date  # the day it starts, in Tokyo


async def contexts_of(
    conn: asyncpg.Connection, batch: Sequence[Wanted], now: datetime, quota: int
) -> list[tuple[Contact | None, Facts]]:
    """What the rules ask about each request of a batch, in one round trip: standing, Lab seats,
    blackout, quota and whether a stored reservation holds one of its rooms meanwhile; and the
    organisation's contact for the answer (one object per organisation of the batch). A request
    whose end is not after its start (refused as invalid) is read over an empty time."""
    rows = await conn.fetch(
        BATCH_CONTEXT_SQL,
        [w.cmd.organisation_id for w in batch],
        [w.cmd.space is SpaceId.LAB for w in batch],
        [w.cmd.starts_at for w in batch],
        [max(w.cmd.starts_at, w.cmd.ends_at) for w in batch],
        [w.day for w in batch],
        now,
        quota,
        [",".join(sorted(w.rooms)) for w in batch],
    )
    contacts: dict[UUID, Contact | None] = {}
    found = []
    for w, row in zip(batch, rows, strict=True):
        org = w.cmd.organisation_id
        if org not in contacts:
            contacts[org] = _contact(row)
        facts = Facts(_standing(row), row["blacked_out"], row["active"], row["lab_attendees"],
                      row["rooms_taken"])  # fmt: skip
        found.append((contacts[org], facts))
    return found


# A run's reservations and their rooms in one statement. Stored plainly, each room is checked by
# the exclusion constraint once; with ON CONFLICT DO NOTHING it is checked before and again after
# its insertion: 54 ms instead of 72 ms for a run of 1,000 among 32,448 held rooms (PostgreSQL
# 15, `python -m tests.bench.booking --case storing`), on the path of every batch. The plain
# insert fails on a room taken meanwhile; the race-safe one returns the rooms it got, and is
# used once the plain one has failed.
STORE_MANY_SQL = (
    "WITH stored AS ("
    "  INSERT INTO reservations (id, request_id, organisation_id, space, starts_at, ends_at,"
    "   attendees, purpose, atrium, channel, session_id)"
    "  SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::timestamptz[],"
    "   $6::timestamptz[], $7::int[], $8::text[], $9::bool[], $10::text[], $11::uuid[]))"
    " INSERT INTO reservation_rooms (reservation_id, room, during)"
    " SELECT r, room, tstzrange(s, e)"
    " FROM unnest($12::uuid[], $13::room[], $14::timestamptz[], $15::timestamptz[])"
    "  AS c(r, room, s, e)"
)
RACE_SAFE_STORE_MANY_SQL = STORE_MANY_SQL + " ON CONFLICT DO NOTHING RETURNING reservation_id"


async def store_many(
    conn: asyncpg.Connection, accepted: Sequence[tuple[UUID, Wanted]], *, race_safe: bool
) -> set[UUID]:
    """Store the accepted reservations of a batch and claim their rooms, in one statement; the
    ids of those that did not get every room (another instance took one meanwhile).

    Not `race_safe`, a room taken meanwhile raises ExclusionViolationError, and the caller's
    transaction is then of no further use (a savepoint of the caller's undoes it). Race-safe,
    such a room is skipped (ON CONFLICT DO NOTHING) and its reservation is among those
    returned: a shortfall is a fact to decide again with, never an error."""
    cmds = [w.cmd for _, w in accepted]
    claims = [(rid, room, w.cmd) for rid, w in accepted for room in sorted(w.rooms)]
    rows = await conn.fetch(
        RACE_SAFE_STORE_MANY_SQL if race_safe else STORE_MANY_SQL,
        [rid for rid, _ in accepted],
        [c.message_id for c in cmds],
        [c.organisation_id for c in cmds],
        [c.space.value for c in cmds],
        [c.starts_at for c in cmds],
        [c.ends_at for c in cmds],
        [c.attendees for c in cmds],
        [c.purpose for c in cmds],
        [c.atrium for c in cmds],
        [c.channel.value for c in cmds],
        [c.session_id for c in cmds],
        [rid for rid, _, _ in claims],
        [room for _, room, _ in claims],
        [c.starts_at for _, _, c in claims],
        [c.ends_at for _, _, c in claims],
    )
    if not race_safe:
        return set()
    got = Counter(row["reservation_id"] for row in rows)
    return {rid for rid, w in accepted if got[rid] < len(w.rooms)}


async def release_many(conn: asyncpg.Connection, reservation_ids: Collection[UUID]) -> None:
    """Give back what `store_many` stored: the reservations and every room they claimed."""
    await conn.execute(
        "WITH rooms AS (DELETE FROM reservation_rooms WHERE reservation_id = ANY($1::uuid[]))"
        " DELETE FROM reservations WHERE id = ANY($1::uuid[])",
        list(reservation_ids),
    )


# --- organisations -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Organisation:
    id: UUID
    name: str
    contact: Contact
    newsletter_consent: bool
    standing: Standing


async def load_organisation(conn: asyncpg.Connection, organisation_id: UUID) -> Organisation | None:
    """The organisation, locked for the rest of the transaction (commands on it queue up)."""
    row = await conn.fetchrow(
        "SELECT id, name, contact_name, contact_email, newsletter_consent, valid_until,"
        " suspended_at IS NOT NULL AS suspended FROM organisations WHERE id = $1 FOR UPDATE",
        organisation_id,
    )
    if row is None:
        return None
    contact = _contact(row)
    standing = _standing(row)
    assert contact is not None and standing is not None
    return Organisation(row["id"], row["name"], contact, row["newsletter_consent"], standing)


async def update_organisation(conn: asyncpg.Connection, org: Organisation) -> None:
    await conn.execute(
        "UPDATE organisations SET name = $2, contact_name = $3, contact_email = $4,"
        " newsletter_consent = $5 WHERE id = $1",
        org.id,
        org.name,
        org.contact.name,
        str(org.contact.email),
        org.newsletter_consent,
    )


async def set_valid_until(conn: asyncpg.Connection, organisation_id: UUID, until: datetime) -> None:
    await conn.execute(
        "UPDATE organisations SET valid_until = $2 WHERE id = $1", organisation_id, until
    )


async def set_suspended(
    conn: asyncpg.Connection, organisation_id: UUID, at: datetime | None, reason: str
) -> None:
    await conn.execute(
        "UPDATE organisations SET suspended_at = $2, suspension_reason = $3 WHERE id = $1",
        organisation_id,
        at,
        reason,
    )


# --- cancellation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredReservation:
    id: UUID
    organisation_id: UUID
    space: SpaceId
    starts_at: datetime
    ends_at: datetime
    attendees: int
    purpose: str
    atrium: bool
    channel: str
    session_id: UUID | None
    cancelled: bool
    contact: Contact | None


RESERVATION_COLUMNS = (
    "r.id, r.organisation_id, r.space, r.starts_at, r.ends_at, r.attendees, r.purpose, r.atrium,"
    " r.channel, r.session_id, r.cancelled_at IS NOT NULL AS cancelled,"
    " o.contact_name, o.contact_email"
)


def _reservation(row: Any) -> StoredReservation:
    return StoredReservation(
        id=row["id"],
        organisation_id=row["organisation_id"],
        space=SpaceId(row["space"]),
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        attendees=row["attendees"],
        purpose=row["purpose"],
        atrium=row["atrium"],
        channel=row["channel"],
        session_id=row["session_id"],
        cancelled=row["cancelled"],
        contact=_contact(row),
    )


async def load_reservation(
    conn: asyncpg.Connection, reservation_id: UUID, lock: bool = False
) -> StoredReservation | None:
    row = await conn.fetchrow(
        f"SELECT {RESERVATION_COLUMNS} FROM reservations r"
        " LEFT JOIN organisations o ON o.id = r.organisation_id WHERE r.id = $1"
        + (" FOR UPDATE OF r" if lock else ""),
        reservation_id,
    )
    return _reservation(row) if row else None


async def cancel_reservation(
    conn: asyncpg.Connection, reservation_id: UUID, at: datetime, by: str
) -> None:
    """Mark it cancelled and give its rooms back, in one statement: the slot is free at once."""
    await conn.execute(
        "WITH freed AS (DELETE FROM reservation_rooms WHERE reservation_id = $1)"
        " UPDATE reservations SET cancelled_at = $2, cancelled_by = $3 WHERE id = $1",
        reservation_id,
        at,
        by,
    )


async def reservations_of(
    conn: asyncpg.Connection | asyncpg.Pool, organisation_id: UUID, limit: int
) -> list[StoredReservation]:
    rows = await conn.fetch(
        f"SELECT {RESERVATION_COLUMNS} FROM reservations r"
        " LEFT JOIN organisations o ON o.id = r.organisation_id"
        " WHERE r.organisation_id = $1 ORDER BY r.starts_at LIMIT $2",
        organisation_id,
        limit,
    )
    return [_reservation(r) for r in rows]


async def reservations_between(
    conn: asyncpg.Connection | asyncpg.Pool, start: datetime, end: datetime, limit: int
) -> list[tuple[StoredReservation, str | None]]:
    """The reservations starting in [start, end), cancelled ones included, in order of their
    start, each with its organisation's name: the staff's day and week."""
    rows = await conn.fetch(
        f"SELECT {RESERVATION_COLUMNS}, o.name AS organisation_name FROM reservations r"
        " LEFT JOIN organisations o ON o.id = r.organisation_id"
        " WHERE r.starts_at >= $1 AND r.starts_at < $2 ORDER BY r.starts_at, r.space LIMIT $3",
        start,
        end,
        limit,
    )
    return [(_reservation(r), r["organisation_name"]) for r in rows]


# --- days: blackouts, the evening rule ---------------------------------------------------------


async def set_blackout(conn: asyncpg.Connection, day: date, reason: str, request_id: UUID) -> None:
    await conn.execute(
        "INSERT INTO blackouts (day, reason, request_id) VALUES ($1, $2, $3)"
        " ON CONFLICT (day) DO UPDATE SET reason = excluded.reason",
        day,
        reason,
        request_id,
    )


async def lift_blackout(conn: asyncpg.Connection, day: date) -> None:
    await conn.execute("DELETE FROM blackouts WHERE day = $1", day)


async def booked_during(conn: asyncpg.Connection, start: datetime, end: datetime) -> list[Booked]:
    """The confirmed reservations of any space during the time, through the indexes the hot path
    keeps anyway: the rooms held (the exclusion index) and the Lab's own index."""
    rows = await conn.fetch(
        "SELECT id, starts_at, ends_at FROM reservations WHERE cancelled_at IS NULL AND id IN"
        " (SELECT reservation_id FROM reservation_rooms WHERE during && tstzrange($1, $2))"
        " UNION ALL SELECT id, starts_at, ends_at FROM reservations WHERE space = 'lab'"
        " AND cancelled_at IS NULL AND tstzrange(starts_at, ends_at) && tstzrange($1, $2)",
        start,
        end,
    )
    return [Booked(r["id"], r["starts_at"], r["ends_at"]) for r in rows]


async def is_blacked_out(conn: asyncpg.Connection, day: date) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM blackouts WHERE day = $1)", day))


async def any_reservation_during(conn: asyncpg.Connection, start: datetime, end: datetime) -> bool:
    """Whether any space is reserved for part of the time (the evening rule asks about 18-20):
    a room held (the exclusion index) or a Lab reservation (its own index)."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM reservation_rooms WHERE during && tstzrange($1, $2))"
            " OR EXISTS (SELECT 1 FROM reservations WHERE space = 'lab' AND cancelled_at IS NULL"
            "  AND tstzrange(starts_at, ends_at) && tstzrange($1, $2))",
            start,
            end,
        )
    )


async def set_closing(conn: asyncpg.Connection, day: date, closes_at: datetime) -> None:
    await conn.execute(
        "INSERT INTO day_closings (day, closes_at) VALUES ($1, $2)"
        " ON CONFLICT (day) DO UPDATE SET closes_at = excluded.closes_at, decided_at = now()",
        day,
        closes_at,
    )


# --- the Lab at the kiosk ----------------------------------------------------------------------


@dataclass(frozen=True)
class LabContext:
    standing: Standing | None
    blacked_out: bool
    present: int  # people checked in and not out today, plus Lab reservations running now
    a_booked: bool
    b_booked: bool


async def lab_context(
    conn: asyncpg.Connection | asyncpg.Pool, organisation_id: UUID | None, now: datetime, day: date
) -> LabContext:
    row = await conn.fetchrow(
        "SELECT o.valid_until, o.suspended_at IS NOT NULL AS suspended,"
        " EXISTS (SELECT 1 FROM blackouts b WHERE b.day = $3) AS blacked_out,"
        " (SELECT coalesce(sum(v.people), 0) FROM lab_visits v"
        "   WHERE v.day = $3 AND v.checked_out_at IS NULL)"
        " + (SELECT coalesce(sum(r.attendees), 0) FROM reservations r WHERE r.space = 'lab'"
        "   AND r.cancelled_at IS NULL AND tstzrange(r.starts_at, r.ends_at) @> $2::timestamptz)"
        "   AS present,"
        " EXISTS (SELECT 1 FROM reservation_rooms WHERE room = 'a' AND during @> $2::timestamptz)"
        "   AS a_booked,"
        " EXISTS (SELECT 1 FROM reservation_rooms WHERE room = 'b' AND during @> $2::timestamptz)"
        "   AS b_booked"
        " FROM (SELECT 1) AS one LEFT JOIN organisations o ON o.id = $1",
        organisation_id,
        now,
        day,
    )
    return LabContext(
        _standing(row), row["blacked_out"], int(row["present"]), row["a_booked"], row["b_booked"]
    )


async def next_slip_sequence(conn: asyncpg.Connection, day: date) -> int:
    value: int = await conn.fetchval(
        "INSERT INTO lab_slip_counters (day, last) VALUES ($1, 1)"
        " ON CONFLICT (day) DO UPDATE SET last = lab_slip_counters.last + 1 RETURNING last",
        day,
    )
    return value


async def insert_visit(
    conn: asyncpg.Connection, slip: str, request_id: UUID, organisation_id: UUID, people: int,
    day: date, at: datetime,
) -> None:  # fmt: skip
    await conn.execute(
        "INSERT INTO lab_visits (slip_number, request_id, organisation_id, people, day,"
        " checked_in_at) VALUES ($1, $2, $3, $4, $5, $6)",
        slip,
        request_id,
        organisation_id,
        people,
        day,
        at,
    )


async def check_out(conn: asyncpg.Connection, slip: str, at: datetime) -> tuple[UUID, int] | None:
    """End a visit; None when there is no open visit with that slip."""
    row = await conn.fetchrow(
        "UPDATE lab_visits SET checked_out_at = $2 WHERE slip_number = $1"
        " AND checked_out_at IS NULL RETURNING organisation_id, people",
        slip,
        at,
    )
    return (row["organisation_id"], row["people"]) if row else None


async def organisations_in_standing(
    conn: asyncpg.Connection | asyncpg.Pool, now: datetime, limit: int
) -> list[asyncpg.Record]:
    """Organisations that may book and check in now (registered, not suspended, not expired),
    by name: what the kiosk offers to choose from. Names and kinds only, never a contact."""
    return list(
        await conn.fetch(
            "SELECT id, name, kind FROM organisations WHERE suspended_at IS NULL"
            " AND valid_until > $1 ORDER BY name, id LIMIT $2",
            now,
            limit,
        )
    )


async def insert_registration_request(
    conn: asyncpg.Connection, cmd: RequestOrganisationRegistration, at: datetime
) -> bool:
    """Keep a request for its interview; False when the address has one waiting already."""
    inserted = await conn.fetchval(
        "INSERT INTO registration_requests (id, name, kind, contact_name, contact_email,"
        " newsletter_consent, note, requested_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT DO NOTHING RETURNING true",
        cmd.message_id,
        cmd.name,
        cmd.kind.value,
        cmd.contact_name,
        str(cmd.contact_email),
        cmd.newsletter_consent,
        cmd.note,
        at,
    )
    return bool(inserted)


async def close_registration_request(
    conn: asyncpg.Connection, request_id: UUID, at: datetime, outcome: str,
    organisation_id: UUID | None = None, reason: str = "",
) -> bool:  # fmt: skip
    """Close a waiting request; False when there is none such waiting."""
    closed = await conn.fetchval(
        "UPDATE registration_requests SET closed_at = $2, outcome = $3, organisation_id = $4,"
        " close_reason = $5 WHERE id = $1 AND closed_at IS NULL RETURNING true",
        request_id,
        at,
        outcome,
        organisation_id,
        reason,
    )
    return bool(closed)


async def open_registration_requests(
    conn: asyncpg.Connection | asyncpg.Pool, limit: int
) -> list[asyncpg.Record]:
    """The requests waiting for their interview, oldest first."""
    return list(
        await conn.fetch(
            "SELECT id AS registration_request_id, name, kind, contact_name, contact_email,"
            " newsletter_consent, note, requested_at FROM registration_requests"
            " WHERE closed_at IS NULL ORDER BY requested_at, id LIMIT $1",
            limit,
        )
    )


async def directory(conn: asyncpg.Connection | asyncpg.Pool, limit: int) -> list[asyncpg.Record]:
    """Every organisation with its registration term, suspension and contact, by name: the
    staff's directory."""
    return list(
        await conn.fetch(
            "SELECT id, name, kind, contact_name, contact_email, registered_at, valid_until,"
            " suspended_at, suspension_reason FROM organisations ORDER BY name, id LIMIT $1",
            limit,
        )
    )


async def days_between(
    conn: asyncpg.Connection | asyncpg.Pool, first: date, last: date
) -> tuple[list[asyncpg.Record], list[asyncpg.Record]]:
    """(blackouts, decided closing times) of the days from first to last."""
    blackouts = await conn.fetch(
        "SELECT day, reason FROM blackouts WHERE day BETWEEN $1 AND $2 ORDER BY day", first, last
    )
    closings = await conn.fetch(
        "SELECT day, closes_at FROM day_closings WHERE day BETWEEN $1 AND $2 ORDER BY day",
        first,
        last,
    )
    return list(blackouts), list(closings)


async def open_visits(conn: asyncpg.Connection | asyncpg.Pool, day: date) -> list[asyncpg.Record]:
    """The usage slips of the day not yet checked out, in the order they were issued."""
    return list(
        await conn.fetch(
            "SELECT v.slip_number, v.organisation_id, o.name AS organisation_name, v.people,"
            " v.checked_in_at FROM lab_visits v"
            " LEFT JOIN organisations o ON o.id = v.organisation_id"
            " WHERE v.day = $1 AND v.checked_out_at IS NULL"
            " ORDER BY v.checked_in_at, v.slip_number",
            day,
        )
    )


async def visitors_by_day(
    conn: asyncpg.Connection | asyncpg.Pool, first: date, after: date
) -> dict[date, int]:
    rows = await conn.fetch(
        "SELECT day, sum(people) AS people FROM lab_visits WHERE day >= $1 AND day < $2"
        " GROUP BY day",
        first,
        after,
    )
    return {r["day"]: int(r["people"]) for r in rows}
