"""asyncpg queries of the events service; every function runs in the caller's transaction.

Every decision about a program's seats is taken under its program row's lock (`lock_program`):
registrations keyed by session and by program arrive on different partitions and may be handled
at the same moment, by one instance or several, and this lock decides them one at a time. The
`places` table's check (held <= capacity) is the last guard: no handler can oversell.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from contracts.notify import Language
from contracts.program import (
    CreateProgram,
    Frame,
    HeldSession,
    ProgramKind,
    Promotion,
    Registrant,
    Venue,
)
from services.events.domain import (
    Attendee,
    Place,
    PlaceKey,
    ProgramRules,
    ProgramStatus,
    SessionFacts,
    SessionState,
    Status,
    Waiting,
)

# --- programs and sessions ---------------------------------------------------------------------


async def insert_program(conn: asyncpg.Connection, cmd: CreateProgram) -> None:
    """The program in draft, its sessions numbered in the order given, and their places."""
    await conn.execute(
        "INSERT INTO programs (id, kind, title, title_en, description, description_en,"
        " registration_opens_at, registration_closes_at, priority_until, promotion, offer_hours,"
        " waitlist) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        cmd.message_id, cmd.kind.value, cmd.title, cmd.title_en, cmd.description,
        cmd.description_en, cmd.registration_opens_at, cmd.registration_closes_at,
        cmd.priority_until, cmd.promotion.value, cmd.offer_hours, cmd.waitlist,
    )  # fmt: skip
    await conn.executemany(
        "INSERT INTO sessions (id, program_id, number, starts_at, ends_at, venue, venue_name,"
        " online_url) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        [(s.session_id, cmd.message_id, n, s.starts_at, s.ends_at, s.venue.value, s.venue_name,
          s.online_url) for n, s in enumerate(cmd.sessions, start=1)],
    )  # fmt: skip
    await conn.executemany(
        "INSERT INTO places (session_id, frame, capacity) VALUES ($1, $2, $3)",
        [(s.session_id, f.frame.value, f.capacity) for s in cmd.sessions for f in s.frames],
    )


async def program_exists(conn: asyncpg.Connection, program_id: UUID) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM programs WHERE id = $1", program_id))


@dataclass(frozen=True)
class ProgramRow:
    id: UUID
    kind: ProgramKind
    title: str
    rules: ProgramRules


async def lock_program(conn: asyncpg.Connection, program_id: UUID) -> ProgramRow | None:
    """The program, locked until the transaction ends: its seats are decided one at a time."""
    row = await conn.fetchrow(
        "SELECT id, kind, title, status, registration_opens_at, registration_closes_at,"
        " priority_until, promotion, offer_hours, waitlist FROM programs WHERE id = $1"
        " FOR UPDATE",
        program_id,
    )
    if row is None:
        return None
    rules = ProgramRules(
        status=ProgramStatus(row["status"]),
        registration_opens_at=row["registration_opens_at"],
        registration_closes_at=row["registration_closes_at"],
        priority_until=row["priority_until"],
        promotion=Promotion(row["promotion"]),
        offer_hours=row["offer_hours"],
        waitlist=row["waitlist"],
    )
    return ProgramRow(row["id"], ProgramKind(row["kind"]), row["title"], rules)


@dataclass(frozen=True)
class SessionRow:
    facts: SessionFacts
    program_id: UUID
    venue: Venue
    venue_name: str | None
    online_url: str | None
    venue_request_id: UUID | None
    reservation_id: UUID | None

    @property
    def id(self) -> UUID:
        return self.facts.session_id

    def held(self, frame: Frame) -> HeldSession:
        """As a registrant in `frame` is told of it: the join link for online seats only."""
        f = self.facts
        return HeldSession(
            session_id=f.session_id, number=f.number, starts_at=f.starts_at, ends_at=f.ends_at,
            venue=self.venue, venue_name=self.venue_name,
            join_url=self.online_url if frame is Frame.ONLINE else None,
        )  # fmt: skip


SESSION_COLUMNS = (
    "s.id, s.program_id, s.number, s.starts_at, s.ends_at, s.venue, s.venue_name, s.online_url,"
    " s.state, s.venue_request_id, s.reservation_id,"
    " coalesce((SELECT array_agg(p.frame) FROM places p WHERE p.session_id = s.id), '{}')"
    " AS frames"
)


def _session(row: Any) -> SessionRow:
    facts = SessionFacts(
        row["id"], row["number"], row["starts_at"], row["ends_at"], SessionState(row["state"]),
        frozenset(Frame(f) for f in row["frames"]),
    )  # fmt: skip
    return SessionRow(
        facts, row["program_id"], Venue(row["venue"]), row["venue_name"], row["online_url"],
        row["venue_request_id"], row["reservation_id"],
    )  # fmt: skip


async def sessions_of(conn: asyncpg.Connection, program_id: UUID) -> dict[UUID, SessionRow]:
    rows = await conn.fetch(
        f"SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.program_id = $1 ORDER BY s.number",
        program_id,
    )
    return {row["id"]: _session(row) for row in rows}


async def program_of_session(conn: asyncpg.Connection, session_id: UUID) -> UUID | None:
    found: UUID | None = await conn.fetchval(
        "SELECT program_id FROM sessions WHERE id = $1", session_id
    )
    return found


async def session_by_venue_request(conn: asyncpg.Connection, request_id: UUID) -> SessionRow | None:
    row = await conn.fetchrow(
        f"SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.venue_request_id = $1", request_id
    )
    return None if row is None else _session(row)


async def session_by_reservation(
    conn: asyncpg.Connection, reservation_id: UUID
) -> SessionRow | None:
    row = await conn.fetchrow(
        f"SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.reservation_id = $1", reservation_id
    )
    return None if row is None else _session(row)


async def set_program_status(
    conn: asyncpg.Connection, program_id: UUID, status: ProgramStatus, now: datetime
) -> None:
    column = "published_at" if status is ProgramStatus.PUBLISHED else "cancelled_at"
    await conn.execute(
        f"UPDATE programs SET status = $2, {column} = $3 WHERE id = $1",
        program_id, status.value, now,
    )  # fmt: skip


async def change_program(
    conn: asyncpg.Connection, program_id: UUID, fields: Mapping[str, object]
) -> None:
    """Set the given columns (names chosen by the handler, never by a message)."""
    if not fields:
        return
    names = list(fields)
    assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(names, start=2))
    await conn.execute(f"UPDATE programs SET {assignments} WHERE id = $1", program_id,
                       *fields.values())  # fmt: skip


async def set_session_state(
    conn: asyncpg.Connection,
    session_id: UUID,
    state: SessionState,
    *,
    venue_request_id: UUID | None = None,
    reservation_id: UUID | None = None,
    reason: str | None = None,
    detail: str | None = None,
) -> None:
    """The session's state and what its venue stands on: a new request (pending), the
    reservation (open), booking's reason (rejected). What is not given is kept."""
    await conn.execute(
        "UPDATE sessions SET state = $2,"
        " venue_request_id = coalesce($3, venue_request_id),"
        " reservation_id = CASE WHEN $3::uuid IS NOT NULL THEN NULL"
        "                  ELSE coalesce($4, reservation_id) END,"
        " venue_reason = $5, venue_detail = $6 WHERE id = $1",
        session_id, state.value, venue_request_id, reservation_id, reason, detail,
    )  # fmt: skip


async def move_session(
    conn: asyncpg.Connection, session_id: UUID, starts_at: datetime, ends_at: datetime,
    venue: Venue, venue_name: str | None,
) -> None:  # fmt: skip
    await conn.execute(
        "UPDATE sessions SET starts_at = $2, ends_at = $3, venue = $4, venue_name = $5"
        " WHERE id = $1",
        session_id, starts_at, ends_at, venue.value, venue_name,
    )  # fmt: skip


# --- places ------------------------------------------------------------------------------------


async def places_of(conn: asyncpg.Connection, program_id: UUID) -> dict[PlaceKey, Place]:
    rows = await conn.fetch(
        "SELECT p.session_id, p.frame, p.capacity, p.held, p.waiting FROM places p"
        " JOIN sessions s ON s.id = p.session_id WHERE s.program_id = $1",
        program_id,
    )
    return {
        (r["session_id"], Frame(r["frame"])): Place(r["capacity"], r["held"], r["waiting"])
        for r in rows
    }


async def save_places(conn: asyncpg.Connection, places: Mapping[PlaceKey, Place]) -> None:
    """Write the places' counters and capacities (new places are added)."""
    if not places:
        return
    keys = list(places)
    await conn.execute(
        "INSERT INTO places (session_id, frame, capacity, held, waiting)"
        " SELECT * FROM unnest($1::uuid[], $2::text[], $3::int[], $4::int[], $5::int[])"
        " ON CONFLICT (session_id, frame) DO UPDATE SET capacity = excluded.capacity,"
        " held = excluded.held, waiting = excluded.waiting",
        [k[0] for k in keys], [k[1].value for k in keys],
        [places[k].capacity for k in keys], [places[k].held for k in keys],
        [places[k].waiting for k in keys],
    )  # fmt: skip


# --- registrations -----------------------------------------------------------------------------


async def holdings(
    conn: asyncpg.Connection, program_id: UUID, email_keys: Iterable[str]
) -> set[tuple[str, UUID, Frame]]:
    """(address, session, frame) of every registration of these addresses holding or waiting
    for seats in the program: what makes another request of theirs a duplicate."""
    rows = await conn.fetch(
        "SELECT r.email_key, rs.session_id, r.frame FROM registrations r"
        " JOIN registration_sessions rs ON rs.registration_id = r.id"
        " WHERE r.program_id = $1 AND r.email_key = ANY($2::text[])"
        " AND r.status IN ('confirmed', 'waitlisted', 'offered')",
        program_id, list(email_keys),
    )  # fmt: skip
    return {(r["email_key"], r["session_id"], Frame(r["frame"])) for r in rows}


@dataclass(frozen=True)
class NewRegistration:
    id: UUID
    request_id: UUID
    program_id: UUID
    series: bool
    frame: Frame
    party: int
    registrant: Registrant
    note: str
    status: Status
    check_in_code: str
    session_ids: tuple[UUID, ...]


async def insert_registrations(
    conn: asyncpg.Connection, news: Sequence[NewRegistration], now: datetime
) -> None:
    """Registrations and their sessions, in two statements whatever their number, in order (so
    their `seq`, the order of arrival, is the order they were decided in)."""
    if not news:
        return
    await conn.execute(
        "INSERT INTO registrations (id, request_id, program_id, series, frame, party, name,"
        " email, email_key, language, note, status, check_in_code, created_at, confirmed_at)"
        " SELECT id, request_id, program_id, series, frame, party, name, email, lower(email),"
        "  language, note, status, code, $13::timestamptz,"
        "  CASE WHEN status = 'confirmed' THEN $13::timestamptz END"
        " FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::bool[], $5::text[], $6::int[],"
        "  $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])"
        "  WITH ORDINALITY AS n(id, request_id, program_id, series, frame, party, name, email,"
        "  language, note, status, code, i) ORDER BY i",
        [n.id for n in news], [n.request_id for n in news], [n.program_id for n in news],
        [n.series for n in news], [n.frame.value for n in news], [n.party for n in news],
        [n.registrant.name for n in news], [str(n.registrant.email) for n in news],
        [n.registrant.language.value for n in news], [n.note for n in news],
        [n.status.value for n in news], [n.check_in_code for n in news], now,
    )  # fmt: skip
    pairs = [(n.id, sid) for n in news for sid in n.session_ids]
    await conn.execute(
        "INSERT INTO registration_sessions (registration_id, session_id)"
        " SELECT * FROM unnest($1::uuid[], $2::uuid[])",
        [p[0] for p in pairs], [p[1] for p in pairs],
    )  # fmt: skip


@dataclass(frozen=True)
class StoredRegistration:
    id: UUID
    seq: int
    program_id: UUID
    frame: Frame
    party: int
    status: Status
    registrant: Registrant
    check_in_code: str
    session_ids: tuple[UUID, ...]
    offer_expires_at: datetime | None

    def waiting(self) -> Waiting:
        return Waiting(self.id, self.seq, self.session_ids, self.frame, self.party)

    def listed(self, cancel_token: str) -> Registrant:
        """The registrant as a notice's list names them: with the registration, its frame
        and its cancel token (every e-mail to a registrant carries the cancel link)."""
        return self.registrant.model_copy(update={"registration_id": self.id, "frame": self.frame,
                                                  "cancel_token": cancel_token})  # fmt: skip


REGISTRATION_COLUMNS = (
    "r.id, r.seq, r.program_id, r.frame, r.party, r.status, r.name, r.email, r.language,"
    " r.check_in_code, r.offer_expires_at,"
    " ARRAY(SELECT rs.session_id FROM registration_sessions rs JOIN sessions s"
    "       ON s.id = rs.session_id WHERE rs.registration_id = r.id ORDER BY s.number)"
    " AS session_ids"
)


def _registration(row: Any) -> StoredRegistration:
    registrant = Registrant.model_construct(name=row["name"], email=row["email"],
                                            language=Language(row["language"]))  # fmt: skip
    return StoredRegistration(
        row["id"], row["seq"], row["program_id"], Frame(row["frame"]), row["party"],
        Status(row["status"]), registrant, row["check_in_code"], tuple(row["session_ids"]),
        row["offer_expires_at"],
    )  # fmt: skip


async def load_registration(
    conn: asyncpg.Connection, registration_id: UUID
) -> StoredRegistration | None:
    row = await conn.fetchrow(
        f"SELECT {REGISTRATION_COLUMNS} FROM registrations r WHERE r.id = $1", registration_id
    )
    return None if row is None else _registration(row)


async def waiting_on(
    conn: asyncpg.Connection, program_id: UUID, keys: Iterable[PlaceKey]
) -> list[StoredRegistration]:
    """The registrations waiting in any of these places, in order of arrival."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return []
    rows = await conn.fetch(
        f"SELECT {REGISTRATION_COLUMNS} FROM registrations r"
        " WHERE r.program_id = $1 AND r.status = 'waitlisted' AND EXISTS ("
        "  SELECT 1 FROM registration_sessions rs JOIN unnest($2::uuid[], $3::text[]) AS k(s, f)"
        "  ON rs.session_id = k.s WHERE rs.registration_id = r.id AND r.frame = k.f)"
        " ORDER BY r.seq",
        program_id, [k[0] for k in wanted], [k[1].value for k in wanted],
    )  # fmt: skip
    return [_registration(row) for row in rows]


async def set_status(
    conn: asyncpg.Connection, registration_id: UUID, status: Status, now: datetime,
    offer_expires_at: datetime | None = None,
) -> None:  # fmt: skip
    await conn.execute(
        "UPDATE registrations SET status = $2, offer_expires_at = $4,"
        " confirmed_at = CASE WHEN $2 = 'confirmed' THEN $3 ELSE confirmed_at END,"
        " ended_at = CASE WHEN $2 IN ('cancelled', 'expired', 'declined') THEN $3"
        "            ELSE ended_at END WHERE id = $1",
        registration_id, status.value, now, offer_expires_at,
    )  # fmt: skip


async def active_in(
    conn: asyncpg.Connection, program_id: UUID, session_id: UUID | None = None
) -> list[StoredRegistration]:
    """The registrations holding or waiting for seats in the program (or one session)."""
    rows = await conn.fetch(
        f"SELECT {REGISTRATION_COLUMNS} FROM registrations r WHERE r.program_id = $1"
        " AND r.status IN ('confirmed', 'waitlisted', 'offered')"
        " AND ($2::uuid IS NULL OR EXISTS (SELECT 1 FROM registration_sessions rs"
        "      WHERE rs.registration_id = r.id AND rs.session_id = $2)) ORDER BY r.seq",
        program_id, session_id,
    )  # fmt: skip
    return [_registration(row) for row in rows]


# --- attendance --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    registration_id: UUID
    frame: Frame
    party: int
    attendee: Attendee


async def attendee_by_code(conn: asyncpg.Connection, code: str, session_id: UUID) -> Found | None:
    row = await conn.fetchrow(
        "SELECT r.id, r.status, r.frame, r.party,"
        " ARRAY(SELECT session_id FROM registration_sessions WHERE registration_id = r.id)"
        "  AS session_ids,"
        " EXISTS (SELECT 1 FROM attendance a WHERE a.registration_id = r.id"
        "         AND a.session_id = $2) AS recorded,"
        " s.starts_at, s.ends_at"
        " FROM registrations r LEFT JOIN sessions s ON s.id = $2"
        " WHERE r.check_in_code = $1",
        code, session_id,
    )  # fmt: skip
    if row is None:
        return None
    attendee = Attendee(Status(row["status"]), tuple(row["session_ids"]), row["recorded"],
                        row["starts_at"], row["ends_at"])  # fmt: skip
    return Found(row["id"], Frame(row["frame"]), row["party"], attendee)


async def record_attendance(
    conn: asyncpg.Connection, registration_id: UUID, session_id: UUID, now: datetime, by: str
) -> bool:
    status: str = await conn.execute(
        "INSERT INTO attendance (registration_id, session_id, recorded_at, recorded_by)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        registration_id, session_id, now, by,
    )  # fmt: skip
    return status.endswith(" 1")
