"""What the public may read of the programs: those published, with their sessions whose venue
is confirmed and the seats left per frame. Titles, times, venues and seat counts only: never a
registrant, a check-in code or an online session's join link (that goes by mail to online
registrants alone)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from services.events.domain import TOKYO

MAX_PROGRAMS = 200

# One row per visible session: its program's public fields and the seats left in each frame
# (NULL for a frame the session does not offer).
SESSIONS_SQL = (
    "SELECT p.id AS program_id, p.kind, p.title, p.title_en, p.description, p.description_en,"
    " p.registration_opens_at, p.registration_closes_at,"
    " s.id AS session_id, s.number, s.starts_at, s.ends_at, s.venue, s.venue_name,"
    " max(pl.capacity - pl.held) FILTER (WHERE pl.frame = 'onsite') AS onsite_left,"
    " max(pl.capacity - pl.held) FILTER (WHERE pl.frame = 'online') AS online_left"
    " FROM programs p JOIN sessions s ON s.program_id = p.id"
    " LEFT JOIN places pl ON pl.session_id = s.id"
    " WHERE p.status = 'published' AND s.state = 'open' AND {where}"
    " GROUP BY p.id, s.id ORDER BY s.starts_at, p.title, s.number"
)


def session_view(row: Any) -> dict[str, Any]:
    return {
        "session_id": row["session_id"],
        "program_id": row["program_id"],
        "title": row["title"],
        "title_en": row["title_en"],
        "number": row["number"],
        "starts_at": row["starts_at"],
        "ends_at": row["ends_at"],
        "venue": row["venue"],
        "venue_name": row["venue_name"],
        "seats_left": {"onsite": row["onsite_left"], "online": row["online_left"]},
    }


def programs_of(rows: list[Any]) -> list[dict[str, Any]]:
    """Sessions grouped under their programs, programs in the order of their next session."""
    programs: dict[UUID, dict[str, Any]] = {}
    for row in rows:
        found = programs.get(row["program_id"])
        if found is None:
            found = programs[row["program_id"]] = {
                "program_id": row["program_id"],
                "kind": row["kind"],
                "title": row["title"],
                "title_en": row["title_en"],
                "description": row["description"],
                "description_en": row["description_en"],
                "registration_opens_at": row["registration_opens_at"],
                "registration_closes_at": row["registration_closes_at"],
                "sessions": [],
            }
        found["sessions"].append(session_view(row))
    return list(programs.values())


async def upcoming_programs(
    conn: asyncpg.Connection | asyncpg.Pool, now: datetime, program_id: UUID | None = None
) -> list[dict[str, Any]]:
    """Published programs with a session not yet over (or the one asked for, with all its
    visible sessions), at most MAX_PROGRAMS."""
    if program_id is not None:
        rows = await conn.fetch(SESSIONS_SQL.format(where="p.id = $1"), program_id)
        return programs_of(rows)
    rows = await conn.fetch(
        SESSIONS_SQL.format(
            where="p.id IN (SELECT program_id FROM sessions WHERE state = 'open' AND ends_at > $1)"
        ),
        now,
    )
    return programs_of(rows)[:MAX_PROGRAMS]


async def sessions_on(conn: asyncpg.Connection | asyncpg.Pool, day: date) -> list[dict[str, Any]]:
    """The visible sessions starting on a day in Tokyo, in order of their start."""
    start = datetime(day.year, day.month, day.day, tzinfo=TOKYO)
    rows = await conn.fetch(
        SESSIONS_SQL.format(where="s.starts_at >= $1 AND s.starts_at < $2"),
        start,
        start + timedelta(days=1),
    )
    return [session_view(r) for r in rows]
